"""The per-athlete recompute: after ingest, re-read changed check-ins and re-evaluate exactly
the athletes whose inputs changed (sessions, check-ins, roster row or program file)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.athletes import Athlete
from pipeline.checkins import CHECKIN_COLUMNS, file_row_times, merge_checkins, read_checkins
from pipeline.errors import ArgumentError, CheckInError
from pipeline.evaluate import Evaluation, evaluate
from pipeline.program import program_file
from pipeline.readiness import apply_day_resting_hr, daily_readiness, read_wellness_csv
from pipeline.session import apply_checkin_rpe
from pipeline.store import Store, file_key
from schemas import CheckInProblems

__all__ = ["AthleteUpdate", "acknowledge_review", "athletes_to_recompute", "profile_fingerprint",
           "recompute", "refresh_checkins", "refresh_wellness", "update_athletes"]


def _no_checkins() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in CHECKIN_COLUMNS})


def _no_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in CheckInProblems.to_schema().columns})


def refresh_checkins(store: Store, inbox: Path, athletes: Iterable[str]) -> pd.DataFrame:
    """Re-read the athletes' checkins.csv files that changed since they were last read, and
    merge in the check-ins sent from their page (:func:`pipeline.checkins.merge_checkins`).

    A file is read again only when its bytes differ from the ones the store holds rows of,
    or a check-in arrived from the page; its athlete then waits for a recompute. Returns the rejected rows (line, column, reason)
    the store now holds for these athletes, whether found tonight or on an earlier night.
    """
    ids = sorted(set(athletes))
    states = store.athlete_states()
    for aid in ids:
        path = inbox / aid / "checkins.csv"
        data = path.read_bytes() if path.exists() else None
        sha = file_key(data) if data is not None else "no checkins.csv"
        if states.get(aid, {}).get("checkins_sha256") == sha:
            continue
        source = f"{aid}/checkins.csv"
        submissions = store.table("checkin_submissions", aid)
        if data is None:
            if len(submissions):
                store.replace_checkins(aid, merge_checkins(_no_checkins(), None, submissions),
                                       CheckInProblems.validate(_no_problems()), sha)
            continue
        try:
            result = read_checkins(path, aid)
        except CheckInError as exc:
            # The whole file is unreadable: the athlete keeps the check-ins read before, the
            # problem is recorded like a bad row, and every other athlete goes on.
            problem = pd.DataFrame([{"athlete_id": aid, "source": source, "line": exc.line,
                                     "column": None, "value": None, "reason": exc.reason}])
            store.record_checkin_problems(aid, CheckInProblems.validate(problem), sha)
            continue
        problems = result.problems.assign(athlete_id=aid, source=source)
        stamp = pd.Timestamp(path.stat().st_mtime_ns, unit="ns", tz="UTC")
        rows = file_row_times(aid, result.checkins, stamp, store.table("checkin_file_rows", aid))
        store.replace_checkins(aid, merge_checkins(result.checkins, rows, submissions),
                               CheckInProblems.validate(problems.astype({"value": str})), sha,
                               file_rows=rows)
    problems = store.table("checkin_problems", ids)
    return problems.sort_values(["source", "line"]).reset_index(drop=True)


def refresh_wellness(store: Store, inbox: Path, athletes: Iterable[str]) -> None:
    """Re-read the athletes' wellness.csv files whose bytes changed (like check-ins); a
    file that cannot be read keeps the readings read before and is recorded as a problem."""
    states = store.athlete_states()
    for aid in sorted(set(athletes)):
        path = inbox / aid / "wellness.csv"
        if not path.exists():
            continue
        data = path.read_bytes()
        sha = file_key(data)
        if states.get(aid, {}).get("wellness_sha256") == sha:
            continue
        source = f"{aid}/wellness.csv"
        try:
            readings, problems = read_wellness_csv(path, aid, sha)
        except CheckInError as exc:
            store.replace_problems(source, CheckInProblems.validate(pd.DataFrame([{
                "athlete_id": aid, "source": source, "line": exc.line, "column": None,
                "value": None, "reason": exc.reason}])))
            continue
        frame = pd.DataFrame(problems, columns=list(CheckInProblems.to_schema().columns))
        store.replace_readings(aid, source, readings,
                               CheckInProblems.validate(frame.astype({"value": str})), sha)


def profile_fingerprint(athlete: Athlete | None, program_dir: Path | None = None) -> str:
    """SHA-256 of what an athlete's evaluation depends on besides sessions and check-ins:
    the roster row and, for a program of their own, the program file's bytes."""
    parts = [repr(athlete).encode()]
    path = program_file(athlete, program_dir) if athlete is not None else None
    if path is not None:
        parts.append(path.read_bytes() if path.exists() else b"(missing)")
    return file_key(b"\0".join(parts))


def athletes_to_recompute(store: Store, roster: Mapping[str, Athlete],
                          program_dir: Path | None = None) -> list[str]:
    """Athletes whose derived tables are out of date: new sessions or check-ins were written
    since their last recompute, their roster row or program changed, or they have never
    been evaluated. Everyone else's daily load, decisions and flags stand as they are."""
    states = store.athlete_states()
    due = {a for a, st in states.items() if st["stale"]}
    due |= {a for a, athlete in roster.items()
            if states.get(a, {}).get("profile_sha256") != profile_fingerprint(athlete, program_dir)}
    return sorted(due)


def recompute(store: Store, athletes: Iterable[str], roster: Mapping[str, Athlete],
              program_dir: Path | None = None) -> Evaluation:
    """Recompute daily load, decisions, flags and next sessions for these athletes only.

    The four tables and the athletes' up-to-date mark are written in one transaction.
    """
    ids = sorted(set(athletes))
    checkins = store.table("checkins", ids)
    sessions = apply_checkin_rpe(store.table("sessions", ids), checkins)
    store.update_sessions(sessions, ["rpe_cr10", "rpe_source", "srpe_au"])
    readiness = daily_readiness(store.table("readiness_readings", ids))
    rested = apply_day_resting_hr(sessions, readiness, roster, store.records)
    if len(rested):
        store.update_sessions(rested, ["trimp_banister", "trimp_hr_rest_bpm"])
        sessions = sessions.set_index("activity_id")
        sessions.update(rested.set_index("activity_id")[["trimp_banister", "trimp_hr_rest_bpm"]])
        sessions = sessions.reset_index()
    segments = store.table("segments", ids)
    result = evaluate(sessions, segments, checkins, {a: roster[a] for a in ids if a in roster},
                      program_dir=program_dir, reviews=store.table("reviews", ids),
                      readiness=readiness)
    store.replace_derived(result.tables(),
                          {a: profile_fingerprint(roster.get(a), program_dir) for a in ids})
    return result


@dataclass(frozen=True)
class AthleteUpdate:
    """What a night did after ingesting: whom it recomputed, and the rejected check-in rows."""

    recomputed: tuple[str, ...]
    checkin_problems: pd.DataFrame


def acknowledge_review(store: Store, athlete_id: str, roster: Mapping[str, Athlete], *,
                       by: str | None = None, note: str | None = None,
                       program_dir: Path | None = None) -> Evaluation:
    """A person acknowledges the athlete's open clinician review: store who, when and the
    note, then recompute the athlete so the programme continues from its current level.

    Raises:
        ArgumentError: the athlete has no open review to acknowledge.
    """
    nxt = store.table("next_sessions", athlete_id)
    if not len(nxt) or nxt.iloc[0]["status"] != "review":
        raise ArgumentError(f"athlete {athlete_id!r} has no open clinician review to acknowledge")
    opened = store.table("decisions", athlete_id).dropna(subset=["review"]).sort_values("date")
    what = (f"{opened.iloc[-1]['date']:%Y-%m-%d}: {opened.iloc[-1]['review']}" if len(opened)
            else None)
    store.acknowledge_review(athlete_id, by=by, note=note, review=what)
    return recompute(store, [athlete_id], roster, program_dir)


def update_athletes(store: Store, inbox: Path, roster: Mapping[str, Athlete],
                    roster_problems: pd.DataFrame | None = None) -> AthleteUpdate:
    """Record the roster's refused settings, read changed check-ins, then recompute exactly
    the athletes whose inputs changed."""
    if roster_problems is not None:
        store.replace_problems(str(inbox / "athletes.csv"), roster_problems)
    problems = refresh_checkins(store, inbox, roster)
    refresh_wellness(store, inbox, roster)
    problems = store.table("checkin_problems", sorted(roster)).sort_values(
        ["source", "line"]).reset_index(drop=True)
    due = athletes_to_recompute(store, roster, program_dir=inbox)
    if due:
        recompute(store, due, roster, program_dir=inbox)
    return AthleteUpdate(tuple(due), problems)
