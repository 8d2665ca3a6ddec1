"""The ingest transaction: skip what was seen, measure the rest, store each chunk atomically.

A batch is measured file by file (:mod:`pipeline.measure`, in worker processes when given
an executor), validated with one Pandera call per table, matched for duplicates against the
store, and written in chunks, each in one transaction. These are the bodies of the nightly
flow's tasks; ``flows/`` decides batches, parallelism (the process pool is the flow's),
retries and how the night is reported. An ``InputFileError`` quarantines the file and the
night goes on; anything else is a bug and propagates.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from pipeline.athletes import Athlete
from pipeline.dedup import find_duplicates
from pipeline.errors import UnsupportedFileError
from pipeline.inbox import InboxItem, read_zip_members
from pipeline.measure import Job, Measured, concat_columns, measure_all
from pipeline.parse import detect_format
from pipeline.session import sessions_frame
from pipeline.store import ActivityWrite, Store, copy_reason, file_key
from schemas import Segments, Sessions

__all__ = ["FileOutcome", "ingest_files", "ingest_item", "ingest_items",
           "reprocess_store", "unseen_items"]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file (or archive member): the night's ledger line."""

    path: str
    athlete_id: str
    status: str  # ingested | duplicate | quarantined
    reason: str | None
    activity_ids: tuple[str, ...] = ()


def _stacked(good: list[Measured]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The files' sessions (with ``file_key``) and segments, each validated in one call."""
    sessions = Sessions.validate(sessions_frame([row for m in good for row in m.sessions]))
    segments = Segments.validate(pd.DataFrame(concat_columns([m.segments for m in good
                                                       if m.segments is not None])))
    keys = [m.key for m in good for _ in m.sessions]
    return sessions.assign(file_key=keys), segments


def _activity_write(m: Measured, status: str, reason: str | None) -> ActivityWrite:
    assert m.provenance is not None
    return ActivityWrite(m.key, m.name, m.athlete_id, len(m.sessions), m.records,
                         status=status, reason=reason, sha256=m.provenance.sha256,
                         fmt=m.provenance.format, truncated=m.provenance.truncated,
                         warnings=m.provenance.warnings)


def _quarantined(m: Measured) -> ActivityWrite:
    assert m.error is not None
    return ActivityWrite.quarantined(m.key, m.name, m.athlete_id, m.error.kind, m.error.reason)


def _dedupe_against_store(store: Store, new: pd.DataFrame,
                          ) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """``duplicate_of`` for the batch's sessions, and for stored sessions where it changes."""
    if new.empty:
        return {}, {}
    window = pd.Timedelta(hours=15)  # the matcher's ±14 h whole-hour shifts, and a margin
    pools = [new]
    for athlete_id, mine in new.groupby("athlete_id"):
        near = store.sessions_near(str(athlete_id), mine["start_utc"].min() - window,
                                   mine["start_utc"].max() + window)
        pools.append(near[~near["activity_id"].isin(new["activity_id"])])
    pool = pd.concat(pools, ignore_index=True)
    found = dict(zip(pool["activity_id"], find_duplicates(pool), strict=True))
    batch = {a: found[a] for a in new["activity_id"]}
    stored = pool.iloc[len(new):]
    changed = {a: found[a] for a, before in zip(stored["activity_id"], stored["duplicate_of"],
                                                  strict=True)
               if found[a] != (before if isinstance(before, str) else None)}
    return batch, changed


def _store_chunk(store: Store, chunk: list[tuple[int, Measured]],
                 ) -> tuple[dict[int, FileOutcome], dict[str, str | None]]:
    """Validate, match duplicates and write measured files in one transaction.

    Returns the files' outcomes, and ``duplicate_of`` as now set on sessions stored before.
    """
    measured = [m for _, m in chunk]
    good = [m for m in measured if m.error is None and m.readings is None]
    wellness = [m.readings for m in measured if m.readings is not None]
    sessions = segments = None
    dups: dict[str, str | None] = {}
    outranked: dict[str, str | None] = {}
    if good:
        sessions, segments = _stacked(good)
        dups, outranked = _dedupe_against_store(store, sessions)
        sessions = sessions.assign(
            duplicate_of=sessions["activity_id"].map(dups).astype("object"))
    names = {row["activity_id"]: m.name for m in good for row in m.sessions}
    kept = {t for t in dups.values() if t is not None} - set(names)
    if kept:
        names.update(store.source_names(kept))
    outcomes: dict[int, FileOutcome] = {}
    writes = []
    for (i, _), m in zip(chunk, measured, strict=True):
        if m.error is not None:
            outcomes[i] = FileOutcome(m.name, m.athlete_id, "quarantined",
                                      f"{m.error.kind}: {m.error.reason}")
            writes.append(_quarantined(m))
            continue
        if m.readings is not None:
            read = f"wellness file: readiness for {len(m.readings)} day(s)"
            outcomes[i] = FileOutcome(m.name, m.athlete_id, "ingested", read)
            writes.append(ActivityWrite(m.key, m.name, m.athlete_id, 0, {}, status="ingested",
                                        reason=read, fmt="fit"))
            continue
        assert m.provenance is not None
        ids = tuple(row["activity_id"] for row in m.sessions)
        copies = [dups.get(a) for a in ids]
        status = "duplicate" if all(c is not None for c in copies) else "ingested"
        reason = (copy_reason(str(copies[0]), names) if status == "duplicate" else
                  "; ".join(m.provenance.warnings) or None)
        outcomes[i] = FileOutcome(m.name, m.athlete_id, status, reason, ids)
        writes.append(_activity_write(m, status, reason))
    store.write_batch(writes, duplicates=outranked, sessions=sessions, segments=segments,
                      readings=pd.concat(wellness, ignore_index=True) if wellness else None)
    return outcomes, outranked


def _chunk_sizes(n: int, write_every: int) -> list[int]:
    """At most ``write_every`` files per chunk, in as few chunks as that allows; the last
    chunk holds about a quarter of a full one (at least 1 file)."""
    if n <= write_every:
        return [n] if n else []
    last = min(max(1, write_every // 4), n - 1)
    rest = n - last
    k = -(-rest // write_every)
    return [len(p) for p in np.array_split(np.arange(rest), k)] + [last]


def _restate(outcome: FileOutcome, copies: dict[str, str | None],
             names: Mapping[str, str]) -> FileOutcome:
    """An outcome of this run whose sessions a later chunk outranked is a duplicate."""
    targets = [copies.get(a) for a in outcome.activity_ids]
    if outcome.status == "ingested" and targets and all(t is not None for t in targets):
        return replace(outcome, status="duplicate", reason=copy_reason(str(targets[0]), names))
    return outcome


def ingest_files(store: Store, files: Iterable[tuple[bytes, str, str]],
                 roster: Mapping[str, Athlete], *,
                 executor: Executor | None = None, write_every: int = 96,
                 keys: Sequence[str] | None = None) -> list[FileOutcome]:
    """Ingest a batch of files' bytes: skip what was seen, measure the rest, store it.

    Args:
        store: Where to write.
        files: ``(bytes, name, athlete_id)`` per file (or archive member).
        roster: Athletes by id (timezone, heart-rate values).
        executor: Measures files in parallel (e.g. a process pool); None measures here.
        write_every: Files per transaction. Each chunk is validated with one Pandera call
            per table and written atomically while the executor measures the next files.
        keys: The files' :func:`file_key`, when the caller hashed them already.

    Returns:
        One outcome per file, in the order given. Input errors are quarantined.
    """
    files = list(files)
    keys = list(keys) if keys is not None else [file_key(data) for data, _, _ in files]
    seen = store.ledger_entries(keys)
    outcomes: dict[int, FileOutcome] = {}
    todo: list[int] = []
    first_of: dict[str, int] = {}
    for i, ((_, name, athlete_id), key) in enumerate(zip(files, keys, strict=True)):
        if key in seen:
            outcomes[i] = FileOutcome(name, athlete_id, "duplicate",
                                      f"same bytes already seen as {seen[key]['name']} "
                                      f"({seen[key]['status']})")
        elif key in first_of:
            outcomes[i] = FileOutcome(name, athlete_id, "duplicate",
                                      f"same bytes as {files[first_of[key]][1]}")
        else:
            first_of[key] = i
            todo.append(i)
    if executor is not None:
        # Largest files first, so no worker is left with a long file at the end.
        todo.sort(key=lambda i: -len(files[i][0]))
    jobs: list[Job] = [(*files[i], roster.get(files[i][2]), keys[i]) for i in todo]
    results = measure_all(jobs, store.root, executor)
    # Store in chunks as results arrive, so writing overlaps the workers' measuring. A chunk
    # costs about 45 ms whatever its size (Pandera, duplicates, one transaction): chunks are
    # large, and the last is a quarter of the others, since it is written after all is measured.
    ends = set(itertools.accumulate(_chunk_sizes(len(todo), write_every)))
    chunk: list[tuple[int, Measured]] = []
    copies: dict[str, str | None] = {}
    for n, (i, m) in enumerate(zip(todo, results, strict=True), start=1):
        chunk.append((i, m))
        if n in ends:
            stored, outranked = _store_chunk(store, chunk)
            outcomes.update(stored)
            copies.update(outranked)
            chunk = []
    kept = {t for t in copies.values() if t is not None}
    names = store.source_names(kept) if kept else {}
    return [_restate(outcomes[i], copies, names) for i in range(len(files))]


def _inbox_stat(item: InboxItem) -> tuple[str, int, int]:
    """Where an inbox file lies, its size and its modification time (ns)."""
    st = item.path.stat()
    return str(item.path.absolute()), st.st_size, st.st_mtime_ns


def unseen_items(store: Store, items: Iterable[InboxItem]) -> list[InboxItem]:
    """The inbox files the store has not handled as they are now (new, or changed since).

    Judged by path, size and modification time, so a night reads and hashes only what is
    new instead of the whole inbox; a file that is read again is still matched by its bytes.
    """
    seen = store.inbox_stats()
    unseen = []
    for item in items:
        path, size, mtime = _inbox_stat(item)
        if seen.get(path) != (size, mtime):
            unseen.append(item)
    return unseen


def ingest_items(store: Store, items: Iterable[InboxItem], roster: Mapping[str, Athlete], *,
                 executor: Executor | None = None) -> list[FileOutcome]:
    """Ingest inbox files as one batch; a zip export yields one outcome per member.

    Every file handled (ingested, duplicate or quarantined) is then remembered with its size
    and modification time, for :func:`unseen_items`.
    """
    files: list[tuple[bytes, str, str]] = []
    keys: list[str] = []
    archives: list[tuple[str, InboxItem, int]] = []  # (key, item, members) fully read
    early: list[FileOutcome] = []
    handled: list[tuple[str, int, int, str]] = []  # (path, size, mtime_ns, key)
    for item in items:
        try:
            stat = _inbox_stat(item)  # before reading: a change while we read shows next night
            data = item.path.read_bytes()
        except OSError as exc:
            # Transient I/O is the flow's business (it retries); re-raise as OSError.
            raise OSError(f"{item.name}: {exc.strerror}") from exc
        key = file_key(data)
        handled.append((*stat, key))
        if detect_format(data) != "zip":
            files.append((data, item.name, item.athlete_id))
            keys.append(key)
            continue
        if store.ledger_entry(key) is not None:
            early.append(FileOutcome(item.name, item.athlete_id, "duplicate",
                                     "same archive already seen"))
            continue
        store.archive_raw(data, key)
        members = 0
        try:
            for member, member_data in read_zip_members(item.path):
                files.append((member_data, f"{item.name}!{member}", item.athlete_id))
                keys.append(file_key(member_data))
                members += 1
        except UnsupportedFileError as exc:
            store.quarantine(key, item.name, item.athlete_id, exc.kind, exc.reason)
            early.append(FileOutcome(exc.path, item.athlete_id, "quarantined",
                                     f"{exc.kind}: {exc.reason}"))
            continue
        archives.append((key, item, members))
    outcomes = ingest_files(store, files, roster, executor=executor, keys=keys)
    for key, item, members in archives:
        store.record_archive(key, item.name, item.athlete_id, members)
    store.record_inbox_files(handled)
    return outcomes + early


def ingest_item(store: Store, item: InboxItem, roster: Mapping[str, Athlete]) -> list[FileOutcome]:
    """Ingest one inbox file; a zip export yields one outcome per member."""
    return ingest_items(store, [item], roster)


def reprocess_store(store: Store, roster: Mapping[str, Athlete], *,
                    executor: Executor | None = None, batch_size: int = 200) -> int:
    """Re-measure every stored activity from its archived bytes; returns how many files.

    Files keep their ledger status and their sessions keep ``duplicate_of``; each batch of
    ``batch_size`` files is measured (in parallel with ``executor``) and written atomically.
    """
    ledger = store.table("files")
    files: list[dict[str, Any]] = ledger[ledger["n_sessions"].fillna(0) > 0].to_dict(  # type: ignore[assignment]
        "records")
    old = store.table("sessions").set_index("activity_id")["duplicate_of"]
    for start in range(0, len(files), batch_size):
        batch = files[start:start + batch_size]
        jobs: list[Job] = [(store.raw_path(r["file_key"]).read_bytes(), r["name"],
                            r["athlete_id"], roster.get(r["athlete_id"]), r["file_key"])
                           for r in batch]
        measured = list(measure_all(jobs, store.root, executor))
        good = [m for m in measured if m.error is None]
        sessions = segments = None
        if good:
            sessions, segments = _stacked(good)
            sessions = sessions.assign(duplicate_of=sessions["activity_id"].map(old))
        # A file the decoder now refuses is quarantined; its error says why.
        writes = [_quarantined(m) if m.error is not None else
                  _activity_write(m, row["status"], row["reason"])
                  for row, m in zip(batch, measured, strict=True)]
        store.write_batch(writes, sessions=sessions, segments=segments)
    return len(files)
