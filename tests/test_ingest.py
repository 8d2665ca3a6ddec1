"""Ingest semantics: nothing lost, nothing twice, a crash leaves the store consistent."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from pipeline.athletes import read_roster
from pipeline.errors import UnsupportedFileError
from pipeline.inbox import InboxItem, ZipLimits, iter_exports, read_zip_members
from pipeline.ingest import ingest_item, ingest_items, unseen_items
from pipeline.store import Store
from tests.conftest import ROOT
from tests.helpers import INBOX, ingest_all, small_inbox


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()



def test_rerun_ingests_nothing_twice_and_raw_is_archived(tmp_path):
    inbox = small_inbox(tmp_path, extra={"broken.fit": b"\x0e\x10" + b"\0" * 6 + b".FIT" + b"\x01" * 40})
    store = Store(tmp_path / "store")
    first = ingest_all(store, inbox)
    assert [o.status for o in first].count("ingested") == 4
    broken = next(o for o in first if o.path.endswith("broken.fit"))
    assert broken.status == "quarantined" and "broken.fit" in broken.path and broken.reason
    second = ingest_all(store, inbox)
    assert {o.status for o in second} == {"duplicate"}
    assert len(store.table("sessions")) == 4
    for key in store.table("files")["file_key"]:
        assert store.raw_path(key).exists()  # quarantined bytes kept too



def test_zip_member_escaping_the_archive_is_refused(tmp_path):
    fit = next((INBOX / "ana").glob("*.fit")).read_bytes()
    path = tmp_path / "export.zip"
    path.write_bytes(_zip({"ok.fit": fit, "../../evil.fit": fit}))
    with pytest.raises(UnsupportedFileError, match="escapes"):
        list(read_zip_members(path))
    inbox = small_inbox(tmp_path, n=0, extra={"export.zip": path.read_bytes()})
    store = Store(tmp_path / "store")
    outcomes = ingest_all(store, inbox)
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
            "from tests.helpers import ingest_all\n"
            "real, calls = S._rows, []\n"
            "def dying(frame, table):\n"
            "    calls.append(1)\n"
            "    if len(calls) == 9: os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return real(frame, table)\n"
            "S._rows = dying\n"
            "ingest_all(S.Store(Path(sys.argv[1])), Path(sys.argv[2]))")
    proc = subprocess.run([sys.executable, "-c", code, str(root), str(inbox)], cwd=ROOT,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL
    store = Store(root)
    partial = len(store.table("sessions"))
    assert 0 < partial < 12, "the kill should land mid-batch"
    _consistent(store)
    outcomes = ingest_all(store, inbox)
    assert sum(o.status == "ingested" for o in outcomes) == 12 - partial
    assert len(store.table("sessions")) == 12
    _consistent(store)



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
