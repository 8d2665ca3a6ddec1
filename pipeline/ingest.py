"""Ingest one inbox item into the store, and recompute what depends on it.

These are the bodies of the nightly flow's tasks; ``flows/`` only decides parallelism,
retries and how the night is reported. An ``InputFileError`` quarantines the file and the
night goes on; anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.athletes import Athlete
from pipeline.checkins import read_checkins
from pipeline.dedup import find_duplicates
from pipeline.errors import InputFileError, UnsupportedFileError
from pipeline.evaluate import Evaluation, evaluate
from pipeline.inbox import InboxItem, read_zip_members
from pipeline.parse import detect_format, read_activity
from pipeline.session import apply_checkin_rpe, measure_session
from pipeline.store import Store, file_key

__all__ = ["FileOutcome", "ingest_bytes", "ingest_item", "recompute", "refresh_checkins"]



@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file (or archive member): the night's ledger line."""

    path: str
    athlete_id: str
    status: str  # ingested | duplicate | quarantined
    reason: str | None
    activity_ids: tuple[str, ...] = ()


def _dedupe_against_store(store: Store, athlete_id: str, new: pd.DataFrame) -> dict[str, str | None]:
    """duplicate_of for the new sessions and any stored session they outrank."""
    if new.empty:
        return {}
    window = pd.Timedelta(hours=15)  # the matcher's ±14 h whole-hour shifts, and a margin
    near = store.table("sessions", athlete_id, start_utc_between=(
        new["start_utc"].min() - window, new["start_utc"].max() + window))
    near = near[~near["activity_id"].isin(new["activity_id"])]
    pool = pd.concat([near, new], ignore_index=True)
    dup = find_duplicates(pool)
    return {a: d for a, d in zip(pool["activity_id"], dup, strict=True)}


def ingest_bytes(store: Store, data: bytes, name: str, athlete_id: str,
                 roster: Mapping[str, Athlete]) -> FileOutcome:
    """Ingest one file's bytes: skip if seen, archive, decode, measure, store atomically."""
    key = file_key(data)
    seen = store.ledger_entry(key)
    if seen is not None:
        return FileOutcome(name, athlete_id, "duplicate",
                           f"same bytes already seen as {seen['name']} ({seen['status']})")
    store.archive_raw(data)
    try:
        activity = read_activity(data, name=name)
        athlete = roster.get(athlete_id)
        results = [measure_session(activity, i, athlete_id, athlete)
                   for i in range(len(activity.sessions))]
    except InputFileError as exc:
        store.quarantine(key, name, athlete_id, exc.kind, exc.reason)
        return FileOutcome(name, athlete_id, "quarantined", f"{exc.kind}: {exc.reason}")
    sessions = pd.concat([r.session for r in results], ignore_index=True)
    segments = pd.concat([r.segments for r in results], ignore_index=True)
    dups = _dedupe_against_store(store, athlete_id, sessions)
    sessions = sessions.assign(duplicate_of=sessions["activity_id"].map(dups))
    all_dup = bool(sessions["duplicate_of"].notna().all())
    status = "duplicate" if all_dup else "ingested"
    reason = (f"copy of session {sessions['duplicate_of'].iloc[0]}" if all_dup else
              "; ".join(activity.provenance.warnings) or None)
    store.write_activity(
        key, name, athlete_id, sessions, segments,
        {r.session["activity_id"].iloc[0]: r.records for r in results},
        status=status, reason=reason, sha256=activity.provenance.sha256,
        fmt=activity.provenance.format, truncated=activity.provenance.truncated,
        warnings=activity.provenance.warnings)
    store.set_duplicates({a: d for a, d in dups.items() if a not in set(sessions["activity_id"])})
    return FileOutcome(name, athlete_id, status, reason, tuple(sessions["activity_id"]))


def ingest_item(store: Store, item: InboxItem, roster: Mapping[str, Athlete]) -> list[FileOutcome]:
    """Ingest one inbox file; a zip export yields one outcome per member."""
    try:
        head = item.path.read_bytes()
    except OSError as exc:
        # Transient I/O is the flow's business (it retries); re-raise as OSError.
        raise OSError(f"{item.name}: {exc.strerror}") from exc
    if detect_format(head) != "zip":
        return [ingest_bytes(store, head, item.name, item.athlete_id, roster)]
    key = file_key(head)
    if store.ledger_entry(key) is not None:
        return [FileOutcome(item.name, item.athlete_id, "duplicate", "same archive already seen")]
    store.archive_raw(head)
    outcomes = []
    try:
        for member, data in read_zip_members(item.path):
            outcomes.append(ingest_bytes(store, data, f"{item.name}!{member}", item.athlete_id,
                                         roster))
    except UnsupportedFileError as exc:
        store.quarantine(key, item.name, item.athlete_id, exc.kind, exc.reason)
        return [*outcomes, FileOutcome(exc.path, item.athlete_id, "quarantined",
                                       f"{exc.kind}: {exc.reason}")]
    store.record_archive(key, item.name, item.athlete_id, len(outcomes))
    return outcomes


def refresh_checkins(store: Store, inbox: Path, athletes: Iterable[str]) -> pd.DataFrame:
    """Re-read each athlete's checkins.csv; returns the problems found (line, column, reason)."""
    problems = []
    for aid in athletes:
        path = inbox / aid / "checkins.csv"
        if not path.exists():
            continue
        result = read_checkins(path, aid)
        rel = result.problems.assign(athlete_id=aid, source=f"{aid}/checkins.csv")
        store.replace_for_athletes("checkins", [aid], result.checkins)
        store.replace_for_athletes("checkin_problems", [aid], rel.astype({"value": str}))
        problems.append(rel)
    return pd.concat(problems, ignore_index=True) if problems else pd.DataFrame()


def recompute(store: Store, athletes: Iterable[str], roster: Mapping[str, Athlete],
              program_dir: Path | None = None) -> Evaluation:
    """Recompute daily load, decisions, flags and next sessions for these athletes only."""
    ids = sorted(set(athletes))
    checkins = store.table("checkins", ids)
    sessions = apply_checkin_rpe(store.table("sessions", ids), checkins)
    store.update_sessions(sessions, ["rpe_cr10", "rpe_source", "srpe_au"])
    segments = store.table("segments", ids)
    result = evaluate(sessions, segments, checkins, {a: roster[a] for a in ids if a in roster},
                      program_dir=program_dir)
    for table, frame in (("daily_load", result.daily_load), ("decisions", result.decisions),
                         ("flags", result.flags), ("next_sessions", result.next_sessions)):
        store.replace_for_athletes(table, ids, frame)
    return result




def reprocess_store(store: Store, roster: Mapping[str, Athlete]) -> int:
    """Re-measure every stored activity from its archived bytes; returns how many files."""
    files = store.table("files")
    files = files[files["n_sessions"].fillna(0) > 0]
    count = 0
    for row in files.to_dict("records"):
        data = store.raw_path(row["file_key"]).read_bytes()
        activity = read_activity(data, name=row["name"])
        athlete = roster.get(row["athlete_id"])
        results = [measure_session(activity, i, row["athlete_id"], athlete)
                   for i in range(len(activity.sessions))]
        sessions = pd.concat([r.session for r in results], ignore_index=True)
        old = store.table("sessions", row["athlete_id"]).set_index("activity_id")["duplicate_of"]
        sessions = sessions.assign(duplicate_of=sessions["activity_id"].map(old))
        store.write_activity(
            row["file_key"], row["name"], row["athlete_id"], sessions,
            pd.concat([r.segments for r in results], ignore_index=True),
            {r.session["activity_id"].iloc[0]: r.records for r in results},
            status=row["status"], reason=row["reason"], sha256=activity.provenance.sha256,
            fmt=activity.provenance.format, truncated=activity.provenance.truncated,
            warnings=activity.provenance.warnings)
        count += 1
    return count
