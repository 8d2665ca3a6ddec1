"""Store and ingestion semantics: nothing lost, nothing twice, crashes leave it consistent."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from pipeline.athletes import read_roster
from pipeline.errors import UnsupportedFileError
from pipeline.inbox import InboxItem, ZipLimits, iter_exports, read_zip_members
from pipeline.ingest import (
    athletes_to_recompute,
    ingest_item,
    ingest_items,
    unseen_items,
    update_athletes,
)
from pipeline.store import Store
from schemas import Flags
from tests.conftest import ROOT
from tests.helpers import INBOX, small_inbox


def _ingest_all(store: Store, inbox: Path):
    roster = read_roster(inbox / "athletes.csv")
    return [o for item in iter_exports(inbox) for o in ingest_item(store, item, roster)]


def test_rerun_ingests_nothing_twice_and_raw_is_archived(tmp_path):
    inbox = small_inbox(tmp_path, extra={"broken.fit": b"\x0e\x10" + b"\0" * 6 + b".FIT" + b"\x01" * 40})
    store = Store(tmp_path / "store")
    first = _ingest_all(store, inbox)
    assert [o.status for o in first].count("ingested") == 4
    broken = next(o for o in first if o.path.endswith("broken.fit"))
    assert broken.status == "quarantined" and "broken.fit" in broken.path and broken.reason
    second = _ingest_all(store, inbox)
    assert {o.status for o in second} == {"duplicate"}
    assert len(store.table("sessions")) == 4
    for key in store.table("files")["file_key"]:
        assert store.raw_path(key).exists()  # quarantined bytes kept too


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_member_escaping_the_archive_is_refused(tmp_path):
    fit = next((INBOX / "ana").glob("*.fit")).read_bytes()
    path = tmp_path / "export.zip"
    path.write_bytes(_zip({"ok.fit": fit, "../../evil.fit": fit}))
    with pytest.raises(UnsupportedFileError, match="escapes"):
        list(read_zip_members(path))
    inbox = small_inbox(tmp_path, n=0, extra={"export.zip": path.read_bytes()})
    store = Store(tmp_path / "store")
    outcomes = _ingest_all(store, inbox)
    assert outcomes[-1].status == "quarantined" and "escapes" in outcomes[-1].reason
    assert not (tmp_path / "evil.fit").exists()


def test_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.zip"
    path.write_bytes(_zip({"a.fit": b"\0" * 5_000_000}))
    with pytest.raises(UnsupportedFileError, match="zip bomb"):
        list(read_zip_members(path))
    with pytest.raises(UnsupportedFileError, match="zip bomb"):
        list(read_zip_members(path, ZipLimits(max_total_bytes=1000, max_ratio=1e9)))


def test_zip_export_members_are_ingested(tmp_path):
    store = Store(tmp_path / "store")
    roster = read_roster(INBOX / "athletes.csv")
    zip_path = next((INBOX / "ben").glob("*.zip"))
    outcomes = ingest_item(store, InboxItem("ben", zip_path), roster)
    assert len(outcomes) == 3 and {o.status for o in outcomes} == {"ingested"}
    assert all("!" in o.path for o in outcomes)
    again = ingest_item(store, InboxItem("ben", zip_path), roster)
    assert [o.status for o in again] == ["duplicate"]


def _consistent(store: Store) -> None:
    sessions, files = store.table("sessions"), store.table("files")
    segs = store.table("segments")
    for row in sessions.to_dict("records"):
        assert store.records_path(row["activity_id"]).exists()
        assert row["file_key"] in set(files["file_key"])
        assert (segs["activity_id"] == row["activity_id"]).any()
    done = files[files["n_sessions"].fillna(0) > 0]
    for row in done.to_dict("records"):
        assert (sessions["file_key"] == row["file_key"]).sum() == row["n_sessions"]


def test_sigkill_mid_batch_leaves_store_consistent_and_next_run_completes(tmp_path):
    inbox = small_inbox(tmp_path, n=12)
    root = tmp_path / "store"
    # The ingesting process kills itself inside the fifth file's transaction, after rows
    # were built and before the commit: the crash lands mid-write, deterministically.
    code = ("import os, signal, sys; from pathlib import Path; import pipeline.store as S;"
            "from tests.test_store import _ingest_all\n"
            "real, calls = S._rows, []\n"
            "def dying(frame, table):\n"
            "    calls.append(1)\n"
            "    if len(calls) == 9: os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return real(frame, table)\n"
            "S._rows = dying\n"
            "_ingest_all(S.Store(Path(sys.argv[1])), Path(sys.argv[2]))")
    proc = subprocess.run([sys.executable, "-c", code, str(root), str(inbox)], cwd=ROOT,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL
    store = Store(root)
    partial = len(store.table("sessions"))
    assert 0 < partial < 12, "the kill should land mid-batch"
    _consistent(store)
    outcomes = _ingest_all(store, inbox)
    assert sum(o.status == "ingested" for o in outcomes) == 12 - partial
    assert len(store.table("sessions")) == 12
    _consistent(store)


def test_schema_migrations_are_versioned(tmp_path):
    store = Store(tmp_path / "s")
    assert store.schema_version == 6
    assert Store(tmp_path / "s").schema_version == 6  # reopening applies nothing twice
    with store.engine.connect() as conn:
        versions = pd.read_sql("select version from schema_version", conn)["version"].tolist()
    assert versions == [1, 2, 3, 4, 5, 6]


def test_postgresql_store_matches_sqlite(tmp_path, postgres_url):
    inbox = small_inbox(tmp_path, n=3)
    lite = Store(tmp_path / "lite")
    pg = Store(tmp_path / "pg", url=postgres_url)
    assert pg.engine.dialect.name == "postgresql" and pg.schema_version == 6
    for store in (lite, pg):
        _ingest_all(store, inbox)
    again = _ingest_all(pg, inbox)
    assert {o.status for o in again} == {"duplicate"}
    for table in ("sessions", "segments", "files"):
        a = lite.table(table).drop(columns=["first_seen"], errors="ignore")
        b = pg.table(table).drop(columns=["first_seen"], errors="ignore")
        key = a.columns[0]
        pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                                      b.sort_values(key).reset_index(drop=True),
                                      check_dtype=False)


@pytest.mark.parametrize("order", ["gpx first", "fit first"])
@pytest.mark.parametrize("write_every", [1, 32])
def test_a_copy_is_a_duplicate_whichever_file_comes_first(tmp_path, order, write_every):
    from pipeline.ingest import ingest_files

    gpx = INBOX / "ana" / "2026-02-18_ana_running.gpx"
    fit = INBOX / "ana" / "2026-02-18_ana_running.fit"
    files = [(p.read_bytes(), p.name, "ana") for p in (gpx, fit)]
    store = Store(tmp_path / "s")
    outcomes = ingest_files(store, files if order == "gpx first" else files[::-1],
                            read_roster(INBOX / "athletes.csv"), write_every=write_every)
    status = {o.path: o.status for o in outcomes}
    assert status == {gpx.name: "duplicate", fit.name: "ingested"}
    ledger = store.table("files").set_index("name")["status"]
    assert ledger[gpx.name] == "duplicate" and ledger[fit.name] == "ingested"
    sessions = store.table("sessions").set_index("source_format")["duplicate_of"]
    assert pd.isna(sessions["fit"]) and isinstance(sessions["gpx"], str)


def _night(store: Store, inbox: Path) -> list[str]:
    """The nightly flow's body without Prefect; returns the athletes it recomputed."""
    roster = read_roster(inbox / "athletes.csv")
    ingest_items(store, unseen_items(store, list(iter_exports(inbox))), roster)
    return list(update_athletes(store, inbox, roster).recomputed)


def test_a_night_recomputes_only_the_athletes_whose_inputs_changed(tmp_path, monkeypatch):
    import pipeline.ingest

    inbox = small_inbox(tmp_path, "ana", n=2)
    (inbox / "ben").mkdir()
    ben_files = sorted((INBOX / "ben").glob("*running.fit"))
    (inbox / "ben" / ben_files[0].name).write_bytes(ben_files[0].read_bytes())
    (inbox / "ben" / "checkins.csv").write_text((INBOX / "ben" / "checkins.csv").read_text())
    store = Store(tmp_path / "store")
    reads: list[Path] = []
    real_read = pipeline.ingest.read_checkins
    monkeypatch.setattr(pipeline.ingest, "read_checkins",
                        lambda path, aid=None: reads.append(Path(path)) or real_read(path, aid))

    assert _night(store, inbox) == ["ana", "ben", "cara"]  # cara: on the roster, no data yet
    assert len(reads) == 2
    reads.clear()
    decisions = store.table("decisions")
    assert _night(store, inbox) == [] and reads == []  # nothing new: nothing read, nothing redone
    pd.testing.assert_frame_equal(store.table("decisions"), decisions)

    (inbox / "ben" / ben_files[1].name).write_bytes(ben_files[1].read_bytes())
    assert _night(store, inbox) == ["ben"] and reads == []

    checkins = inbox / "ana" / "checkins.csv"
    checkins.write_text(checkins.read_text().rstrip("\n").rsplit("\n", 1)[0] + "\n")
    rows = len(store.table("checkins", "ana"))
    assert _night(store, inbox) == ["ana"] and reads == [checkins]
    assert len(store.table("checkins", "ana")) == rows - 1

    roster = inbox / "athletes.csv"
    lines = roster.read_text().splitlines()
    lines = [ln.replace("2026-", "2025-", 1) if ln.startswith("cara,") else ln for ln in lines]
    roster.write_text("\n".join(lines) + "\n")
    assert _night(store, inbox) == ["cara"]

    # A program of ana's own: naming it recomputes her, and so does editing the file.
    program = ROOT / "pipeline" / "programs" / "crowell2023.csv"
    (inbox / "ana-program.csv").write_text(program.read_text())
    lines = [ln.replace("Europe/Berlin,female,54,188,,", "Europe/Berlin,female,54,188,"
                        "ana-program.csv,") if ln.startswith("ana,") else ln
             for ln in roster.read_text().splitlines()]
    roster.write_text("\n".join(lines) + "\n")
    assert _night(store, inbox) == ["ana"]
    assert _night(store, inbox) == []
    (inbox / "ana-program.csv").write_text(program.read_text() + "# reviewed by the physio\n")
    assert _night(store, inbox) == ["ana"]


def test_sessions_written_but_not_yet_evaluated_are_evaluated_next_night(tmp_path):
    inbox = small_inbox(tmp_path, "ana", n=2)
    store = Store(tmp_path / "store")
    _night(store, inbox)
    extra = sorted((INBOX / "ana").glob("*running.fit"))[2]
    (inbox / "ana" / extra.name).write_bytes(extra.read_bytes())
    # The night stops after the ingest committed and before the recompute (a crash).
    ingest_items(store, list(iter_exports(inbox)), read_roster(inbox / "athletes.csv"))
    assert athletes_to_recompute(store, read_roster(inbox / "athletes.csv"), inbox) == ["ana"]
    assert _night(store, inbox) == ["ana"]
    assert athletes_to_recompute(store, read_roster(inbox / "athletes.csv"), inbox) == []


def test_a_night_reads_only_inbox_files_that_are_new_or_changed(tmp_path):
    import os

    inbox = small_inbox(tmp_path, n=3, extra={"broken.fit": b"\x0e\x10" + b"\0" * 46})
    store = Store(tmp_path / "store")
    roster = read_roster(inbox / "athletes.csv")
    items = list(iter_exports(inbox))
    assert unseen_items(store, items) == items
    first = ingest_items(store, items, roster)
    assert sorted(o.status for o in first) == ["ingested"] * 3 + ["quarantined"]
    assert unseen_items(store, list(iter_exports(inbox))) == []  # quarantined ones too

    touched = next(i for i in items if i.path.name.endswith(".fit") and "broken" not in i.name)
    os.utime(touched.path, ns=(1, 1))  # same bytes, another modification time
    extra = sorted((INBOX / "ana").glob("*running.fit"))[3]
    (inbox / "ana" / extra.name).write_bytes(extra.read_bytes())
    unseen = unseen_items(store, list(iter_exports(inbox)))
    assert sorted(i.path.name for i in unseen) == sorted([touched.path.name, extra.name])
    again = {o.path: o.status for o in ingest_items(store, unseen, roster)}
    assert again == {touched.name: "duplicate", f"ana/{extra.name}": "ingested"}
    assert unseen_items(store, list(iter_exports(inbox))) == []


def test_stacked_records_are_checked_activity_by_activity():
    import pandera.errors

    from pipeline.ingest import _stacked_records, measure_file
    from schemas import GaitRecords, as_built

    fits = sorted((INBOX / "ana").glob("*running.fit"))[:2]
    measured = [measure_file(p.read_bytes(), p.name, "ana", None) for p in fits]
    records = [m.records for m in measured]
    schema = as_built(GaitRecords)  # what ingest validates with
    # Two activities stacked: the second's clock starts again (each is increasing).
    schema.validate(_stacked_records(records[::-1]))
    (aid, cols), = records[0].items()
    times = cols["timestamp_utc"].copy()
    times[10] = times[9]  # a repeated timestamp inside one activity
    with pytest.raises(pandera.errors.SchemaError, match="strictly increasing"):
        schema.validate(_stacked_records([{aid: {**cols, "timestamp_utc": times}}, records[1]]))
    # A column of another dtype is refused, not converted (the model itself would convert).
    narrow = {aid: {**cols, "speed_mps": cols["speed_mps"].astype("float32")}}
    GaitRecords.validate(_stacked_records([narrow]))
    with pytest.raises(pandera.errors.SchemaError, match="float64"):
        schema.validate(_stacked_records([narrow]))


def _columns(store: Store) -> dict[str, list[str]]:
    import sqlalchemy as sa

    inspector = sa.inspect(store.engine)
    return {name: sorted(c["name"] for c in inspector.get_columns(name))
            for name in inspector.get_table_names()}


def _model_columns() -> dict[str, list[str]]:
    from pipeline.store import _meta

    return {name: sorted(t.columns.keys()) for name, t in _meta.tables.items()}


@pytest.mark.parametrize("version", range(0, 7))
def test_a_store_from_any_earlier_version_opens_with_exactly_the_models_columns(
        tmp_path, monkeypatch, version):
    """A store written by an earlier Comeback (fewer migrations, models with fewer fields)
    gains what the models declare when it is opened, and keeps its rows."""
    import sqlalchemy as sa

    import pipeline.store as store_module

    full = store_module.MIGRATIONS
    monkeypatch.setattr(store_module, "MIGRATIONS", full[:version])
    monkeypatch.setattr(store_module, "align_with_models", lambda conn, metadata=None: [])
    old = Store(tmp_path / "s")
    with old.engine.begin() as conn:
        if version:
            # An earlier model had fewer fields: drop one nullable, unindexed column of each.
            for table, column in (("sessions", "watch_split_agreement"), ("flags", "threshold"),
                                  ("decisions", "review")):
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            conn.execute(sa.text("INSERT INTO decisions (athlete_id, date, verdict, days_off, "
                                 "stage_before, stage_after, reason) VALUES "
                                 "('ana', '2026-02-02', 'STAY', 0, 1, 1, 'kept')"))
    old.engine.dispose()
    monkeypatch.setattr(store_module, "MIGRATIONS", full)
    monkeypatch.undo()
    store = Store(tmp_path / "s")
    assert store.schema_version == 6
    assert _columns(store) == _model_columns()
    if version:
        assert "add_column sessions.watch_split_agreement" in store.migrated
        assert store.table("decisions")["reason"].tolist() == ["kept"]
    assert Store(tmp_path / "s").migrated == []  # nothing left to do on the next open


class FlagsWithKind(Flags):
    """Flags as a later model might declare them: one more nullable field."""

    kind: Series[str] = pa.Field(nullable=True)


def test_a_field_added_to_a_model_becomes_a_column_of_an_existing_store(tmp_path):
    import sqlalchemy as sa

    from pipeline.store import _cols, _meta, align_with_models

    store = Store(tmp_path / "s")
    newer = sa.MetaData()
    for table in _meta.tables.values():
        if table.name != "flags":
            table.to_metadata(newer)
    sa.Table("flags", newer, *_cols(FlagsWithKind), sa.Index("ix_flags_athlete", "athlete_id"))
    with store.engine.begin() as conn:
        assert align_with_models(conn, newer) == ["add_column flags.kind"]
    with store.engine.begin() as conn:
        assert align_with_models(conn, newer) == []
    assert "kind" in _columns(store)["flags"]


def test_an_unreadable_checkin_file_is_a_problem_and_every_other_athlete_is_recomputed(tmp_path):
    inbox = small_inbox(tmp_path, n=2)
    (inbox / "ben").mkdir()
    for path in sorted((INBOX / "ben").glob("*running.fit"))[:2]:
        (inbox / "ben" / path.name).write_bytes(path.read_bytes())
    (inbox / "ben" / "checkins.csv").write_text(
        "athlete_id,date,warmup,during,next_day,note\n"
        "ben,2026-02-02,none,none,none,ok\n"
        'ben,2026-02-04,none,none,none,"forgot to close the quote\n'
        "ben,2026-02-06,none,none,none,ok\n")
    store = Store(tmp_path / "store")
    roster = read_roster(inbox / "athletes.csv")
    ingest_items(store, iter_exports(inbox), roster)
    update = update_athletes(store, inbox, roster)
    assert {"ana", "ben"} <= set(update.recomputed)
    bad = update.checkin_problems[update.checkin_problems["athlete_id"] == "ben"]
    assert bad[["source", "line"]].values.tolist() == [["ben/checkins.csv", 3]]
    assert "cannot be read as CSV" in bad["reason"].iloc[0]
    assert set(store.table("decisions")["athlete_id"]) >= {"ana", "ben"}
    assert len(store.table("checkins", "ana")) > 0
    # Mended, the file is read again and the problem is gone.
    (inbox / "ben" / "checkins.csv").write_text(
        "athlete_id,date,warmup,during,next_day,note\nben,2026-02-02,none,none,none,ok\n")
    update = update_athletes(store, inbox, roster)
    assert update.recomputed == ("ben",) and update.checkin_problems.empty
    assert len(store.table("checkins", "ben")) == 1


def test_a_database_error_is_a_store_error_naming_the_store(tmp_path):
    from pipeline.errors import StoreError

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "comeback.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"store .*s: the database refused.*not a database"):
        Store(tmp_path / "s")
