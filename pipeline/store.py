"""The store: the only code that writes (DESIGN "Store").

* SQL tables through SQLAlchemy Core: SQLite in WAL mode by default (a notebook can read while
  the nightly run writes), PostgreSQL when given a URL.
* Per-second records as Parquet, one file per activity.
* Every input file archived byte for byte under its SHA-256, so all can be recomputed.

Each batch of files is written atomically: Parquet and raw bytes go to temporary names and
are renamed into place, then all the batch's rows and ledger entries commit in one
transaction. A crash leaves either the whole batch or none of it (an orphan Parquet file is
overwritten with the same content on the next run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Engine

from pipeline.activity import Columns, sport_kind, to_columns
from pipeline.errors import StoreError
from schemas import (
    Alerts,
    CheckInFileRows,
    CheckInProblems,
    CheckIns,
    CheckInSubmissions,
    CrossTrainingDaily,
    DailyLoad,
    Decisions,
    FileLedger,
    Flags,
    NextSessions,
    Readiness,
    ReadinessReadings,
    Reviews,
    Segments,
    Sessions,
    WebTokens,
    WebUsers,
)

__all__ = ["DEFAULT_STORE", "TABLES", "ActivityWrite", "Store", "align_with_models", "archive_raw",
           "copy_reason", "file_key",
           "raw_path", "records_path",
           "write_records"]

DEFAULT_STORE = Path(".comeback")

_meta = sa.MetaData()


def _cols(model: Any, primary_key: str | None = None) -> list[sa.Column]:
    """A table's columns from its Pandera model: one per field, nullable (the model, not
    the database, holds the rules), so a field added later is a column any store can add."""
    cols = []
    for name, col in model.to_schema().columns.items():
        dtype = str(col.dtype).lower()
        kind: Any = (sa.Float if "float" in dtype else sa.Integer if "int" in dtype
                     else sa.Boolean if "bool" in dtype else sa.Text)
        cols.append(sa.Column(name, kind, primary_key=name == primary_key,
                              nullable=name != primary_key))
    return cols


FILES = sa.Table("files", _meta, *_cols(FileLedger, primary_key="file_key"))
_SESSIONS_BY_START = sa.Index("ix_sessions_athlete_start", "athlete_id", "start_utc")
_SESSIONS_BY_ID = sa.Index("ix_sessions_activity", "activity_id")
SESSIONS = sa.Table("sessions", _meta, *_cols(Sessions), sa.Column("file_key", sa.Text),
                    sa.Index("ix_sessions_athlete", "athlete_id"), _SESSIONS_BY_START,
                    _SESSIONS_BY_ID)
SEGMENTS = sa.Table("segments", _meta, *_cols(Segments),
                    sa.Index("ix_segments_activity", "activity_id"))
CHECKINS = sa.Table("checkins", _meta, *_cols(CheckIns), sa.Index("ix_checkins_athlete", "athlete_id"))
DAILY = sa.Table("daily_load", _meta, *_cols(DailyLoad), sa.Index("ix_daily_athlete", "athlete_id"))
CROSS_DAILY = sa.Table("cross_training_daily", _meta, *_cols(CrossTrainingDaily),
                       sa.Index("ix_cross_daily_athlete", "athlete_id"))
DECISIONS = sa.Table("decisions", _meta, *_cols(Decisions),
                     sa.Index("ix_decisions_athlete", "athlete_id"))
FLAGS = sa.Table("flags", _meta, *_cols(Flags), sa.Index("ix_flags_athlete", "athlete_id"))
NEXT = sa.Table("next_sessions", _meta, *_cols(NextSessions))
CHECKIN_PROBLEMS = sa.Table("checkin_problems", _meta, *_cols(CheckInProblems))
REVIEWS = sa.Table("reviews", _meta, *_cols(Reviews), sa.Index("ix_reviews_athlete", "athlete_id"))
# Readiness as each source gives it (written at ingest and when a wellness.csv changes), and
# the daily table derived from them at recompute.
READINGS = sa.Table("readiness_readings", _meta, *_cols(ReadinessReadings),
                    sa.Index("ix_readings_athlete", "athlete_id"))
READINESS = sa.Table("readiness", _meta, *_cols(Readiness),
                     sa.Index("ix_readiness_athlete", "athlete_id"))
# The athlete–coach loop: check-in links (hashed tokens), coach log-ins (argon2 hashes),
# every check-in sent from the page, and the alerts with when each was sent.
WEB_TOKENS = sa.Table("web_tokens", _meta, *_cols(WebTokens))
WEB_USERS = sa.Table("web_users", _meta, *_cols(WebUsers))
SUBMISSIONS = sa.Table("checkin_submissions", _meta, *_cols(CheckInSubmissions),
                       sa.Index("ix_submissions_athlete", "athlete_id"))
ALERTS = sa.Table("alerts", _meta, *_cols(Alerts))
FILE_ROWS = sa.Table("checkin_file_rows", _meta, *_cols(CheckInFileRows),
                     sa.Index("ix_file_rows_athlete", "athlete_id"))
# Per athlete: fingerprints of the inputs the derived tables were computed from, and whether
# rows written since (sessions, check-ins) still wait for a recompute. The nightly run
# recomputes only athletes that are stale or whose inputs changed.
ATHLETE_STATE = sa.Table("athlete_state", _meta,
                         sa.Column("athlete_id", sa.Text, primary_key=True),
                         sa.Column("checkins_sha256", sa.Text),
                         sa.Column("profile_sha256", sa.Text),
                         sa.Column("wellness_sha256", sa.Text),
                         sa.Column("stale", sa.Boolean, nullable=False))
# Inbox files already handled, by where they lie, with the size and modification time they
# had: a night reads and hashes only files that are new or changed, not the whole inbox.
INBOX_FILES = sa.Table("inbox_files", _meta,
                       sa.Column("path", sa.Text, primary_key=True),
                       sa.Column("size_bytes", sa.BigInteger, nullable=False),
                       sa.Column("mtime_ns", sa.BigInteger, nullable=False),
                       sa.Column("file_key", sa.Text, nullable=False))
VERSION = sa.Table("schema_version", _meta, sa.Column("version", sa.Integer, nullable=False),
                   sa.Column("applied_utc", sa.Text))

TABLES: dict[str, sa.Table] = {
    "files": FILES, "sessions": SESSIONS, "segments": SEGMENTS, "checkins": CHECKINS,
    "daily_load": DAILY, "cross_training_daily": CROSS_DAILY, "decisions": DECISIONS,
    "flags": FLAGS, "next_sessions": NEXT, "checkin_problems": CHECKIN_PROBLEMS,
    "reviews": REVIEWS, "athlete_state": ATHLETE_STATE, "readiness_readings": READINGS,
    "readiness": READINESS, "web_tokens": WEB_TOKENS, "web_users": WEB_USERS,
    "checkin_submissions": SUBMISSIONS, "alerts": ALERTS, "inbox_files": INBOX_FILES,
    "checkin_file_rows": FILE_ROWS,
}
_MODELS: dict[str, Any] = {
    "files": FileLedger, "sessions": Sessions, "segments": Segments, "checkins": CheckIns,
    "daily_load": DailyLoad, "cross_training_daily": CrossTrainingDaily,
    "decisions": Decisions, "flags": Flags,
    "next_sessions": NextSessions, "checkin_problems": CheckInProblems, "reviews": Reviews,
    "readiness_readings": ReadinessReadings, "readiness": Readiness, "web_tokens": WebTokens,
    "web_users": WebUsers, "checkin_submissions": CheckInSubmissions, "alerts": Alerts,
    "checkin_file_rows": CheckInFileRows}
_TIMESTAMP_COLUMNS = {"start_utc", "acknowledged_utc", "created_utc", "revoked_utc", "expires_utc",
                      "sent_utc", "submitted_utc", "first_seen_utc"}
_DATE_COLUMNS = {"local_date", "date", "rest_until"}


def _migrate_v1(conn: sa.Connection) -> None:
    later = (CHECKIN_PROBLEMS, ATHLETE_STATE, INBOX_FILES)
    _meta.create_all(conn, tables=[t for t in TABLES.values() if t not in later])


def _migrate_v2(conn: sa.Connection) -> None:
    CHECKIN_PROBLEMS.create(conn, checkfirst=True)


def _migrate_v3(conn: sa.Connection) -> None:
    # Duplicate matching asks for one athlete's sessions in a time window on every batch.
    _SESSIONS_BY_START.create(conn, checkfirst=True)


def _migrate_v4(conn: sa.Connection) -> None:
    # Athletes without a state row are recomputed once, so a store from before is caught up.
    ATHLETE_STATE.create(conn, checkfirst=True)


def _migrate_v5(conn: sa.Connection) -> None:
    # Empty at first: the next night reads the whole inbox once, as every night did before.
    INBOX_FILES.create(conn, checkfirst=True)


def _migrate_v6(conn: sa.Connection) -> None:
    # Ingest replaces and re-marks sessions by id, and a recompute updates its athletes'
    # sessions by id: without an index each of those scans the whole table.
    _SESSIONS_BY_ID.create(conn, checkfirst=True)


def _migrate_v7(conn: sa.Connection) -> None:
    # Sessions gained ``kind``: rows stored before get it from their sport, an unnamed sport
    # from the gait measured (running, else walking, else other), as ingest would decide.
    rows = conn.execute(sa.select(SESSIONS.c.activity_id, SESSIONS.c.sport, SESSIONS.c.run_s,
                                  SESSIONS.c.walk_s).where(SESSIONS.c.kind.is_(None))).all()
    updates = [{"_id": aid, "kind": sport_kind(sport or "unknown") or (
        "run" if (run_s or 0) > 0 else "walk" if (walk_s or 0) > 0 else "other")}
        for aid, sport, run_s, walk_s in rows]
    if updates:
        conn.execute(SESSIONS.update().where(SESSIONS.c.activity_id == sa.bindparam("_id"))
                     .values(kind=sa.bindparam("kind")), updates)


# Versioned migrations, applied in order and recorded in schema_version. Steps that only
# add what the models declare (a table, a nullable column, an index) need no version of
# their own: ``align_with_models`` adds them on every open.
MIGRATIONS = [(1, _migrate_v1), (2, _migrate_v2), (3, _migrate_v3), (4, _migrate_v4),
              (5, _migrate_v5), (6, _migrate_v6), (7, _migrate_v7)]


def align_with_models(conn: sa.Connection, metadata: sa.MetaData | None = None) -> list[str]:
    """Add to the database what the models declare and it lacks: tables, columns, indexes.

    Alembic's autogenerate compares the tables built from the Pandera models with the
    database's own, so a field added to a model becomes a nullable column of an existing
    store when it is next opened. Nothing is dropped or retyped: a column the models no
    longer name keeps its data (an older Comeback may still read it).

    Returns:
        One line per change made (``add_column sessions.kind``...).
    """
    context = MigrationContext.configure(conn)
    ops = Operations(context)
    done: list[str] = []
    for diff in compare_metadata(context, metadata if metadata is not None else _meta):
        if not isinstance(diff, tuple):  # modify_* diffs come as lists: never applied
            continue
        kind = diff[0]
        if kind == "add_table":
            diff[1].create(conn)
            done.append(f"add_table {diff[1].name}")
        elif kind == "add_column":
            _, schema, table, column = diff
            ops.add_column(table, column.copy(), schema=schema)
            done.append(f"add_column {table}.{column.name}")
        elif kind == "add_index":
            diff[1].create(conn)
            done.append(f"add_index {diff[1].name}")
    return done


def file_key(data: bytes) -> str:
    """Ledger key of an input file: SHA-256 of its bytes as received."""
    return hashlib.sha256(data).hexdigest()


def _plain(value: Any) -> Any:
    """A value the SQL driver accepts (timestamps as ISO text, NaN as NULL)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat() if value.tzinfo else value.date().isoformat()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _values(column: pd.Series) -> list[Any]:
    """One column as plain values, converted column-wise (``_plain`` per value is the slow path)."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return [None if v is pd.NaT else v.isoformat() for v in column]
    if pd.api.types.is_datetime64_dtype(column.dtype):
        return [None if v is pd.NaT else v.date().isoformat() for v in column]
    return [_plain(v) for v in column.tolist()]


def _rows(frame: pd.DataFrame, table: sa.Table) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns if c.name in frame.columns]
    columns = [_values(frame[n]) for n in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_DEDUP_COLUMNS = ("activity_id", "athlete_id", "sport", "kind", "start_utc", "elapsed_s", "distance_m",
                  "source_format", "duplicate_of")


@dataclass(frozen=True)
class ActivityWrite:
    """One file's ledger entry for :meth:`Store.write_batch`, and its records if unwritten."""

    key: str
    name: str
    athlete_id: str | None
    n_sessions: int | None
    records: Mapping[str, pd.DataFrame | Columns]
    status: str
    reason: str | None
    sha256: str | None = None
    fmt: str | None = None
    truncated: bool | None = None
    warnings: tuple[str, ...] = ()
    error_kind: str | None = None

    @classmethod
    def quarantined(cls, key: str, name: str, athlete_id: str | None, kind: str,
                    reason: str) -> ActivityWrite:
        return cls(key, name, athlete_id, None, {}, status="quarantined", reason=reason,
                   error_kind=kind)

    def ledger_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "file_key": self.key, "name": self.name, "athlete_id": self.athlete_id,
            "status": self.status, "reason": self.reason, "error_kind": self.error_kind,
            "sha256": self.sha256, "format": self.fmt,
            "n_sessions": self.n_sessions,
            "truncated": self.truncated, "warnings": "; ".join(self.warnings) or None}
        return {k: _plain(v) for k, v in row.items()}


def copy_reason(target: str, names: Mapping[str, str]) -> str:
    """The ledger's reason for a file whose sessions copy others: the kept session and the
    file it came from (the richer format is kept: FIT over GPX over TCX)."""
    source = names.get(target)
    return f"copy of session {target}" + (f" from {source}" if source else "")


def records_path(records_dir: Path, activity_id: str) -> Path:
    """Where an activity's per-second records live in a store's records folder."""
    return records_dir / f"{activity_id}.parquet"


def raw_path(raw_dir: Path, key: str) -> Path:
    """Where a store's raw archive keeps the bytes whose file key is ``key``."""
    return raw_dir / key[:2] / key


def archive_raw(raw_dir: Path, data: bytes, key: str) -> None:
    """Keep input bytes in a raw archive, atomically (also from measuring processes)."""
    path = raw_path(raw_dir, key)
    if not path.exists():
        _atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_records(records_dir: Path, activity_id: str, records: pd.DataFrame | Columns) -> None:
    """Write one activity's GaitRecords atomically (also from measuring processes).

    ``records`` is the frame or its columns (timestamps as int64 UTC nanoseconds). Records
    are written before the rows that name them commit; until then an orphan file is harmless
    and the next run overwrites it with the same content.
    """
    if isinstance(records, pd.DataFrame):
        records = to_columns(records)
    table = pa.table({name: _arrow_column(name, values) for name, values in records.items()})
    # Labels repeat, so they are dictionary-encoded; measurements rarely do (it costs time).
    _atomic_write(records_path(records_dir, activity_id),
                  lambda tmp: pq.write_table(table, tmp, use_dictionary=["gait"]))


def _arrow_column(name: str, values: np.ndarray) -> pa.Array:
    """One records column for Parquet: missing values are nulls (NaN too, as pandas writes)."""
    if name == "timestamp_utc":
        return pa.array(values, type=pa.timestamp("ns", tz="UTC"))
    if name == "gait":
        return pa.array(values, type=pa.string(), from_pandas=True)
    return pa.array(values, from_pandas=True)


class Store:
    """Open (and create or migrate) a store.

    Args:
        root: Folder for the embedded database, Parquet records and raw archive.
        url: A SQLAlchemy database URL (e.g. ``postgresql+psycopg://…``); default SQLite in root.
    """

    def __init__(self, root: str | Path = DEFAULT_STORE, url: str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "records").mkdir(exist_ok=True)
        (self.root / "raw").mkdir(exist_ok=True)
        self.url = url or f"sqlite:///{(self.root / 'comeback.db').resolve()}"
        self.engine: Engine = sa.create_engine(self.url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", self._sqlite_pragmas)
        sa.event.listen(self.engine, "handle_error", self._typed_error)
        self._lock = threading.Lock()
        self._migrate()

    def _typed_error(self, context: sa.engine.ExceptionContext) -> None:
        """Database errors leave the store as a StoreError naming it (raw driver errors
        never reach a user); the driver's error stays attached as the cause."""
        original = context.original_exception
        raise StoreError(f"store {self.root}: the database refused the operation "
                         f"({type(original).__name__}: {original})") from context.sqlalchemy_exception

    @staticmethod
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            VERSION.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(VERSION.c.version))).scalar() or 0
            # What the models declare first (tables, columns, indexes), then the versioned
            # steps, which may fill the columns just added.
            self.migrated = align_with_models(conn) if current else []
            for version, step in MIGRATIONS:
                if version > current:
                    step(conn)
                    conn.execute(VERSION.insert().values(
                        version=version, applied_utc=dt.datetime.now(dt.UTC).isoformat()))
            self.migrated += align_with_models(conn)

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(VERSION.c.version))).scalar() or 0)

    # -- raw archive and records ---------------------------------------------------------
    def raw_path(self, key: str) -> Path:
        return raw_path(self.root / "raw", key)

    def archive_raw(self, data: bytes, key: str | None = None) -> str:
        """Keep the input bytes under their SHA-256 (``key`` if the caller has it); returns it."""
        key = key or file_key(data)
        archive_raw(self.root / "raw", data, key)
        return key

    def records_path(self, activity_id: str) -> Path:
        return records_path(self.root / "records", activity_id)

    def records(self, activity_id: str) -> pd.DataFrame:
        """Per-second GaitRecords of one activity."""
        return pd.read_parquet(self.records_path(activity_id))

    # -- ledger ----------------------------------------------------------------------------
    def ledger_entry(self, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(FILES).where(FILES.c.file_key == key)).mappings().first()
        return dict(row) if row else None

    def ledger_entries(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Ledger rows of the given file keys that are known (one query)."""
        if not keys:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(FILES).where(FILES.c.file_key.in_(list(keys))))
            return {r["file_key"]: dict(r) for r in rows.mappings()}

    def inbox_stats(self) -> dict[str, tuple[int, int]]:
        """(size, modification time in ns) of every inbox file handled, by path."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(INBOX_FILES.c.path, INBOX_FILES.c.size_bytes,
                                          INBOX_FILES.c.mtime_ns))
            return {path: (size, mtime) for path, size, mtime in rows}

    def record_inbox_files(self, rows: Sequence[tuple[str, int, int, str]]) -> None:
        """Remember inbox files as handled: (path, size, mtime_ns, file_key) each.

        Called after their ledger entries committed: a crash in between only means the
        next night reads them again and finds them in the ledger.
        """
        if not rows:
            return
        with self._lock, self.engine.begin() as conn:
            for start in range(0, len(rows), 500):  # a bounded list of SQL parameters each
                paths = [r[0] for r in rows[start:start + 500]]
                conn.execute(INBOX_FILES.delete().where(INBOX_FILES.c.path.in_(paths)))
            conn.execute(INBOX_FILES.insert(), [
                {"path": p, "size_bytes": size, "mtime_ns": mtime, "file_key": key}
                for p, size, mtime, key in rows])

    def _ledger(self, conn: sa.Connection, key: str, **values: Any) -> None:
        values = {k: _plain(v) for k, v in values.items()}
        conn.execute(FILES.delete().where(FILES.c.file_key == key))
        conn.execute(FILES.insert().values(
            file_key=key, first_seen=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **values))

    def quarantine(self, key: str, name: str, athlete_id: str | None, kind: str,
                   reason: str) -> None:
        """Record a file that raised an input error (its bytes stay in the raw archive)."""
        with self._lock, self.engine.begin() as conn:
            self._ledger(conn, key, name=name, athlete_id=athlete_id, status="quarantined",
                         reason=reason, error_kind=kind)

    def record_archive(self, key: str, name: str, athlete_id: str, members: int) -> None:
        """Remember a zip export whose members were all handled (so a re-run skips it)."""
        with self._lock, self.engine.begin() as conn:
            self._ledger(conn, key, name=name, athlete_id=athlete_id, status="ingested",
                         reason=f"zip export of {members} files")

    def write_batch(self, writes: Sequence[ActivityWrite],
                    duplicates: dict[str, str | None] | None = None, *,
                    sessions: pd.DataFrame | None = None,
                    segments: pd.DataFrame | None = None,
                    readings: pd.DataFrame | None = None) -> None:
        """Write a batch of files atomically: records first, then every row in one transaction.

        A crash before the commit leaves only unreferenced Parquet files, which the re-run
        overwrites; the ledger never names a file whose rows are missing.

        Args:
            writes: One ledger entry per file (quarantined files carry no rows), with the
                records still to write (measuring processes may have written them already).
            duplicates: ``duplicate_of`` updates for sessions already stored.
            sessions, segments: The batch's rows, stacked (sessions with their ``file_key``).
            readings: The batch's wellness files' readiness readings.
        """
        for w in writes:
            for activity_id, frame in w.records.items():
                write_records(self.root / "records", activity_id, frame)
        ids = list(sessions["activity_id"]) if sessions is not None else []
        with self._lock, self.engine.begin() as conn:
            if ids:
                conn.execute(SESSIONS.delete().where(SESSIONS.c.activity_id.in_(ids)))
                conn.execute(SEGMENTS.delete().where(SEGMENTS.c.activity_id.in_(ids)))
                conn.execute(SESSIONS.insert(), _rows(sessions, SESSIONS))  # type: ignore[arg-type]
                if segments is not None and len(segments):
                    conn.execute(SEGMENTS.insert(), _rows(segments, SEGMENTS))
            if readings is not None and len(readings):
                conn.execute(READINGS.delete().where(READINGS.c.file_key.in_(
                    list(set(readings["file_key"])))))
                conn.execute(READINGS.insert(), _rows(readings, READINGS))
                self._set_state(conn, {str(a): {"stale": True}
                                       for a in set(readings["athlete_id"])})
            keys = [w.key for w in writes]
            if keys:
                conn.execute(FILES.delete().where(FILES.c.file_key.in_(keys)))
                now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                conn.execute(FILES.insert(), [{**w.ledger_row(), "first_seen": now}
                                              for w in writes])
            for activity_id, target in (duplicates or {}).items():
                conn.execute(SESSIONS.update().where(SESSIONS.c.activity_id == activity_id)
                             .values(duplicate_of=target))
            if duplicates:
                self._restate_files(conn, list(duplicates))
            if ids:
                athletes = set(sessions["athlete_id"]) if sessions is not None else set()
                if duplicates:
                    athletes |= set(conn.execute(
                        sa.select(SESSIONS.c.athlete_id).distinct()
                        .where(SESSIONS.c.activity_id.in_(list(duplicates)))).scalars())
                self._set_state(conn, {str(a): {"stale": True} for a in athletes})

    @staticmethod
    def _source_names(conn: sa.Connection, activity_ids: Iterable[str]) -> dict[str, str]:
        query = (sa.select(SESSIONS.c.activity_id, FILES.c.name)
                 .join(FILES, FILES.c.file_key == SESSIONS.c.file_key)
                 .where(SESSIONS.c.activity_id.in_(list(activity_ids))))
        return {a: n for a, n in conn.execute(query).all()}

    def source_names(self, activity_ids: Iterable[str]) -> dict[str, str]:
        """The inbox name of the file each stored session came from."""
        with self.engine.connect() as conn:
            return self._source_names(conn, activity_ids)

    @classmethod
    def _restate_files(cls, conn: sa.Connection, activity_ids: list[str]) -> None:
        """A stored file whose every session became a copy is a duplicate (and back)."""
        keys = sa.select(SESSIONS.c.file_key).where(SESSIONS.c.activity_id.in_(activity_ids))
        rows = conn.execute(sa.select(SESSIONS.c.file_key, SESSIONS.c.duplicate_of)
                            .where(SESSIONS.c.file_key.in_(keys))).all()
        copies: dict[str, list[str | None]] = {}
        for key, target in rows:
            copies.setdefault(key, []).append(target)
        names = cls._source_names(conn, {t[0] for t in copies.values() if t[0] is not None})
        for key, targets in copies.items():
            if all(t is not None for t in targets):
                conn.execute(FILES.update().where(FILES.c.file_key == key)
                             .where(FILES.c.status == "ingested")
                             .values(status="duplicate",
                                     reason=copy_reason(str(targets[0]), names)))
            else:
                conn.execute(FILES.update().where(FILES.c.file_key == key)
                             .where(FILES.c.status == "duplicate")
                             .values(status="ingested", reason=None))

    def update_sessions(self, frame: pd.DataFrame, columns: Sequence[str]) -> None:
        """Update some columns of stored sessions (by activity_id) in one transaction."""
        if frame.empty:
            return
        stmt = SESSIONS.update().where(SESSIONS.c.activity_id == sa.bindparam("_id")).values(
            {c: sa.bindparam(c) for c in columns})
        rows = [{"_id": r["activity_id"], **{c: _plain(r[c]) for c in columns}}
                for r in frame[["activity_id", *columns]].to_dict("records")]
        with self._lock, self.engine.begin() as conn:
            conn.execute(stmt, rows)

    # -- derived tables --------------------------------------------------------------------
    @staticmethod
    def _replace(conn: sa.Connection, table: str, ids: list[str], frame: pd.DataFrame) -> None:
        t = TABLES[table]
        conn.execute(t.delete().where(t.c.athlete_id.in_(ids)))
        mine = frame[frame["athlete_id"].isin(ids)] if len(frame) else frame
        if len(mine):
            conn.execute(t.insert(), _rows(mine, t))

    @staticmethod
    def _set_state(conn: sa.Connection, values: Mapping[str, Mapping[str, Any]]) -> None:
        """Update athletes' state rows (created, stale, when missing)."""
        if not values:
            return
        known = set(conn.execute(sa.select(ATHLETE_STATE.c.athlete_id).where(
            ATHLETE_STATE.c.athlete_id.in_(list(values)))).scalars())
        for athlete_id, row in values.items():
            if athlete_id in known:
                conn.execute(ATHLETE_STATE.update()
                             .where(ATHLETE_STATE.c.athlete_id == athlete_id).values(**row))
            else:
                conn.execute(ATHLETE_STATE.insert().values(
                    **{"athlete_id": athlete_id, "stale": True, **row}))

    def replace_for_athletes(self, table: str, athletes: Iterable[str], frame: pd.DataFrame) -> None:
        """Replace a table's rows of these athletes with ``frame`` in one transaction."""
        with self._lock, self.engine.begin() as conn:
            self._replace(conn, table, list(athletes), frame)

    def replace_checkins(self, athlete_id: str, checkins: pd.DataFrame, problems: pd.DataFrame,
                         sha256: str, file_rows: pd.DataFrame | None = None) -> None:
        """An athlete's check-ins and rejected rows as read from a file whose bytes hash to
        ``sha256`` (and when each file row was first seen), in one transaction; the athlete
        then waits for a recompute."""
        with self._lock, self.engine.begin() as conn:
            self._replace(conn, "checkins", [athlete_id], checkins)
            if file_rows is not None:
                self._replace(conn, "checkin_file_rows", [athlete_id], file_rows)
            self._replace_problems(conn, f"{athlete_id}/checkins.csv", problems)
            self._set_state(conn, {athlete_id: {"checkins_sha256": sha256, "stale": True}})

    def record_checkin_problems(self, athlete_id: str, problems: pd.DataFrame,
                                sha256: str) -> None:
        """A check-in file whose bytes hash to ``sha256`` could not be read: its problems
        replace the athlete's, the check-ins read before stay, and the file is not read
        again until its bytes change."""
        with self._lock, self.engine.begin() as conn:
            self._replace_problems(conn, f"{athlete_id}/checkins.csv", problems)
            self._set_state(conn, {athlete_id: {"checkins_sha256": sha256, "stale": True}})

    def replace_readings(self, athlete_id: str, source: str, readings: pd.DataFrame,
                         problems: pd.DataFrame, sha256: str) -> None:
        """An athlete's wellness.csv as read from bytes hashing to ``sha256``: its readings
        and refused cells replace the ones read before; the athlete waits for a recompute."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(READINGS.delete().where(READINGS.c.athlete_id == athlete_id)
                         .where(READINGS.c.source == source))
            if len(readings):
                conn.execute(READINGS.insert(), _rows(readings, READINGS))
            self._replace_problems(conn, source, problems)
            self._set_state(conn, {athlete_id: {"wellness_sha256": sha256, "stale": True}})

    @staticmethod
    def _replace_problems(conn: sa.Connection, source: str, problems: pd.DataFrame) -> None:
        conn.execute(CHECKIN_PROBLEMS.delete().where(CHECKIN_PROBLEMS.c.source == source))
        if len(problems):
            conn.execute(CHECKIN_PROBLEMS.insert(), _rows(problems, CHECKIN_PROBLEMS))

    def replace_problems(self, source: str, problems: pd.DataFrame) -> None:
        """Replace the refused values recorded for one input file (e.g. the roster)."""
        with self._lock, self.engine.begin() as conn:
            self._replace_problems(conn, source, problems)

    def acknowledge_review(self, athlete_id: str, *, by: str | None = None,
                           note: str | None = None, review: str | None = None,
                           at: pd.Timestamp | None = None) -> pd.DataFrame:
        """Store a person's acknowledgement of an athlete's clinician review (who, when, the
        note) and mark the athlete for a recompute, in one transaction; returns the row."""
        row = Reviews.validate(pd.DataFrame([{
            "athlete_id": athlete_id,
            "acknowledged_utc": (at if at is not None else pd.Timestamp.now(tz="UTC")),
            "by": by, "note": note, "review": review}]))
        with self._lock, self.engine.begin() as conn:
            conn.execute(REVIEWS.insert(), _rows(row, REVIEWS))
            self._set_state(conn, {athlete_id: {"stale": True}})
        return row

    # -- the athlete–coach loop ------------------------------------------------------------
    def add_web_token(self, athlete_id: str, token_sha256: str,
                      expires_utc: pd.Timestamp | None = None) -> None:
        """A new check-in link for the athlete; every earlier link of theirs stops working."""
        now = pd.Timestamp.now(tz="UTC")
        row = WebTokens.validate(pd.DataFrame([{"athlete_id": athlete_id,
                                                "token_sha256": token_sha256,
                                                "created_utc": now, "revoked_utc": None,
                                                "expires_utc": expires_utc}]))
        with self._lock, self.engine.begin() as conn:
            conn.execute(WEB_TOKENS.update().where(WEB_TOKENS.c.athlete_id == athlete_id)
                         .where(WEB_TOKENS.c.revoked_utc.is_(None))
                         .values(revoked_utc=_plain(now)))
            conn.execute(WEB_TOKENS.insert(), _rows(row, WEB_TOKENS))

    def revoke_web_tokens(self, athlete_id: str) -> int:
        """Revoke every working link of the athlete; returns how many."""
        now = _plain(pd.Timestamp.now(tz="UTC"))
        with self._lock, self.engine.begin() as conn:
            return int(conn.execute(WEB_TOKENS.update()
                                    .where(WEB_TOKENS.c.athlete_id == athlete_id)
                                    .where(WEB_TOKENS.c.revoked_utc.is_(None))
                                    .values(revoked_utc=now)).rowcount)

    def athlete_of_token(self, token_sha256: str, now: pd.Timestamp) -> str | None:
        """The athlete whose working (not revoked, not expired at ``now``) link hashes to
        this, or None."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(WEB_TOKENS.c.athlete_id, WEB_TOKENS.c.expires_utc)
                                 .where(WEB_TOKENS.c.token_sha256 == token_sha256)
                                 .where(WEB_TOKENS.c.revoked_utc.is_(None))).first()
        if found is None or (found.expires_utc is not None
                             and pd.Timestamp(found.expires_utc) <= now):
            return None
        return str(found.athlete_id)

    def set_web_user(self, name: str, password_hash: str) -> None:
        row = WebUsers.validate(pd.DataFrame([{"name": name, "password_hash": password_hash,
                                               "created_utc": pd.Timestamp.now(tz="UTC")}]))
        with self._lock, self.engine.begin() as conn:
            conn.execute(WEB_USERS.delete().where(WEB_USERS.c.name == name))
            conn.execute(WEB_USERS.insert(), _rows(row, WEB_USERS))

    def web_user_hash(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(WEB_USERS.c.password_hash)
                                .where(WEB_USERS.c.name == name)).scalar()

    def add_checkin_submission(self, row: pd.DataFrame) -> None:
        """A check-in sent from the athlete's page: kept, and the athlete's check-ins are
        merged again (and recomputed) on the next refresh."""
        row = CheckInSubmissions.validate(row)
        with self._lock, self.engine.begin() as conn:
            conn.execute(SUBMISSIONS.insert(), _rows(row, SUBMISSIONS))
            self._set_state(conn, {str(a): {"checkins_sha256": None, "stale": True}
                                   for a in set(row["athlete_id"])})

    def add_alerts(self, alerts: pd.DataFrame) -> int:
        """Record new alerts; a key already recorded is skipped. Returns how many were new."""
        if alerts.empty:
            return 0
        with self._lock, self.engine.begin() as conn:
            known = set(conn.execute(sa.select(ALERTS.c.alert_key).where(
                ALERTS.c.alert_key.in_(list(alerts["alert_key"])))).scalars())
            new = Alerts.validate(alerts[~alerts["alert_key"].isin(known)])
            if len(new):
                conn.execute(ALERTS.insert(), _rows(new, ALERTS))
        return len(new)

    def mark_alert(self, alert_key: str, *, sent: bool, error: str | None = None) -> None:
        """One delivery attempt of an alert: sent now, or failed with ``error``."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(ALERTS.update().where(ALERTS.c.alert_key == alert_key).values(
                attempts=ALERTS.c.attempts + 1, last_error=error,
                sent_utc=_plain(pd.Timestamp.now(tz="UTC")) if sent else None))

    def replace_derived(self, frames: Mapping[str, pd.DataFrame],
                        profiles: Mapping[str, str]) -> None:
        """Replace derived tables (daily load, decisions, flags…) for the athletes in
        ``profiles`` and mark them up to date with that profile fingerprint, in one transaction
        (a crash leaves the previous evaluation whole, and the athletes still stale)."""
        ids = list(profiles)
        with self._lock, self.engine.begin() as conn:
            for table, frame in frames.items():
                self._replace(conn, table, ids, frame)
            self._set_state(conn, {a: {"profile_sha256": sha, "stale": False}
                                   for a, sha in profiles.items()})

    def athlete_states(self) -> dict[str, dict[str, Any]]:
        """Every athlete's state row: input fingerprints and whether a recompute is due."""
        with self.engine.connect() as conn:
            return {r["athlete_id"]: dict(r)
                    for r in conn.execute(sa.select(ATHLETE_STATE)).mappings()}

    # -- reading ---------------------------------------------------------------------------
    def sessions_near(self, athlete_id: str, low: pd.Timestamp, high: pd.Timestamp) -> pd.DataFrame:
        """The columns duplicate matching needs (and ``duplicate_of`` as stored), for one
        athlete's sessions in [low, high].

        Narrow and unvalidated on purpose: the rows were validated when written, and ingest
        asks this for every batch, so its cost must not grow with the whole history.
        """
        cols = [SESSIONS.c[c] for c in _DEDUP_COLUMNS]
        query = sa.select(*cols).where(SESSIONS.c.athlete_id == athlete_id).where(
            SESSIONS.c.start_utc.between(_plain(low.tz_convert("UTC")),
                                         _plain(high.tz_convert("UTC"))))
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).fetchall(), columns=list(_DEDUP_COLUMNS))
        return frame.astype({"elapsed_s": "float64", "distance_m": "float64"}).assign(
            start_utc=pd.to_datetime(frame["start_utc"], utc=True, format="ISO8601"))

    def table(self, name: str, athlete_id: str | Iterable[str] | None = None, *,
              start_utc_between: tuple[pd.Timestamp, pd.Timestamp] | None = None,
              ) -> pd.DataFrame:
        """A table as a DataFrame, validated against its Pandera model when it has one.

        Args:
            athlete_id: One athlete or several; segments are selected through their sessions.
            start_utc_between: (low, high) inclusive window on sessions' ``start_utc``.
        """
        t = TABLES[name]
        query = sa.select(t)
        if athlete_id is not None:
            ids = [athlete_id] if isinstance(athlete_id, str) else list(athlete_id)
            if "athlete_id" in t.c:
                query = query.where(t.c.athlete_id.in_(ids))
            elif "activity_id" in t.c:
                query = query.where(t.c.activity_id.in_(
                    sa.select(SESSIONS.c.activity_id).where(SESSIONS.c.athlete_id.in_(ids))))
        if start_utc_between is not None:
            low, high = (_plain(pd.Timestamp(x).tz_convert("UTC")) for x in start_utc_between)
            query = query.where(t.c.start_utc.between(low, high))
        with self.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        for col in frame.columns:
            if col in _TIMESTAMP_COLUMNS:
                frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
            elif col in _DATE_COLUMNS:
                frame[col] = pd.to_datetime(frame[col], format="ISO8601")
        model = _MODELS.get(name)
        if model is not None:
            for col, spec in model.to_schema().columns.items():
                if "bool" in str(spec.dtype).lower() and col in frame:  # SQL gives 0/1/None
                    frame[col] = frame[col].astype("boolean" if spec.nullable else bool)
            frame = model.validate(frame)
        return frame
