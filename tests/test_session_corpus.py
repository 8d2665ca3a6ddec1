"""Session metrics on real devices (../shared/corpus; skipped when absent)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.dedup import find_duplicates
from pipeline.errors import InputFileError
from pipeline.session import measure_session
from tests.conftest import corpus_rows, needs_corpus
from tests.corpus_cache import read_corpus

pytestmark = needs_corpus
RUNNING = [r for r in corpus_rows() if r["sport"] == "running" and r["format"] in ("fit", "gpx")]


@pytest.mark.parametrize("row", RUNNING, ids=lambda r: r["file"])
def test_time_partition_equals_elapsed(row):
    act = read_corpus(row["file"])
    if isinstance(act, InputFileError):
        pytest.skip(act.reason)
    for i in range(len(act.sessions)):
        res = measure_session(act, i, "corpus")
        s = res.session.iloc[0]
        assert s.run_s + s.walk_s + s.stop_s + s.pause_s == pytest.approx(s.elapsed_s)
        span = (act.sessions[i].records["timestamp_utc"].iloc[-1]
                - act.sessions[i].records["timestamp_utc"].iloc[0]).total_seconds()
        assert s.elapsed_s == pytest.approx(span, abs=30)


def test_fit_and_gpx_of_one_run_agree_and_are_duplicates():
    fit = measure_session(read_corpus("fit/sl__fr945_run_6782987395.fit"), 0, "x").session
    gpx = measure_session(read_corpus("gpx/sl__garmin_connect_run_6782987395.gpx"), 0, "x").session
    f, g = fit.iloc[0], gpx.iloc[0]
    assert g.run_s == pytest.approx(f.run_s, rel=0.05)
    assert g.distance_m == pytest.approx(f.distance_m, rel=0.01)
    assert abs(g.cadence_spm_median - f.cadence_spm_median) <= 2
    both = pd.concat([gpx, fit], ignore_index=True)
    assert find_duplicates(both).tolist() == [f.activity_id, None]


def test_watch_splits_are_used_and_agreement_reported():
    res = measure_session(read_corpus("fit/gc__fr955_stryd_run.fit"), 0, "x")
    agreement = res.session.iloc[0].watch_split_agreement
    assert 0.9 <= agreement <= 1.0


# The kind each manifest sport is (multisport and unnamed sports: see the per-session test).
_MANIFEST_KIND = {"running": "run", "cycling": "cross_training", "other:swimming": "cross_training",
                  "other:rowing": "cross_training", "other:fitness_equipment": "cross_training",
                  "other:stand_up_paddleboarding": "cross_training", "other:walking": "walk",
                  "other:diving": "other", "other:snorkeling": "other", "other:16": "cross_training"}
ACTIVITIES = [r for r in corpus_rows() if r["format"] in ("fit", "gpx", "tcx")]


@pytest.mark.parametrize("row", ACTIVITIES, ids=lambda r: r["file"])
def test_every_corpus_activity_is_counted_for_what_it_is(row):
    """Cycling, swimming, rowing and paddling are cross-training, walks are walks, dives are
    other, runs are runs; in a multisport file each leg is its own kind."""
    act = read_corpus(row["file"])
    if isinstance(act, InputFileError):
        pytest.skip(act.reason)
    rows = [measure_session(act, i, "corpus").session.iloc[0] for i in range(len(act.sessions))]
    expected = _MANIFEST_KIND.get(row["sport"])
    for s in rows:
        if s.sport in ("cycling", "swimming", "rowing", "fitness_equipment"):
            assert s.kind == "cross_training", s.sport
        elif s.sport == "transition":
            assert s.kind == "other"
        elif expected is not None and s.sport != "unknown":
            assert s.kind == expected
    if row["sport"] == "cycling" or "ride" in row["file"] or "biker" in row["file"]:
        assert all(s.kind != "run" for s in rows)  # a ride is never a run, named or not


def test_a_ride_whose_file_names_no_sport_is_not_a_run():
    """Urban Biker's GPX has no type; its speed (28 km/h one sample in ten) is no run's."""
    act = read_corpus("gpx/gc__urbanbiker_power.gpx")
    s = measure_session(act, 0, "x").session.iloc[0]
    assert (s.sport, s.kind) == ("unknown", "other")
    assert "beyond running" in s.kind_note


_PAIRS = [("fit/sl__fr945_run_6782987395.fit", "gpx/sl__garmin_connect_run_6782987395.gpx"),
          ("fit/sl__fr945_run_6782987395.fit", "tcx/sl__fr945_run_6782987395.tcx"),
          ("gpx/sl__garmin_connect_run_6782987395.gpx", "tcx/sl__fr945_run_6782987395.tcx"),
          ("fit/gc__fr15_run_10k.fit", "tcx/gc__fr15_run_10k.tcx")]


@pytest.mark.parametrize("richer, poorer", _PAIRS, ids=lambda p: p.split("/")[-1])
@pytest.mark.parametrize("order", ["richer first", "poorer first", "one batch"])
def test_real_export_pairs_are_stored_once_in_any_arrival_order(tmp_path, richer, poorer, order):
    """The watch's FIT and the website's GPX/TCX of one run: one session counts, the richer
    file is kept, and the ledger names the file the other copies."""
    from pipeline.ingest import ingest_files
    from pipeline.load import running_sessions
    from pipeline.store import Store
    from tests.conftest import CORPUS

    store = Store(tmp_path / "store")
    files = {name: (CORPUS / name).read_bytes() for name in (richer, poorer)}
    batches = {"richer first": [[richer], [poorer]], "poorer first": [[poorer], [richer]],
               "one batch": [[poorer, richer]]}[order]
    for batch in batches:  # each a night of its own
        ingest_files(store, [(files[n], n, "ana") for n in batch], {})
    sessions = store.table("sessions")
    assert len(sessions) == 2 and len(running_sessions(sessions)) == 1
    kept = running_sessions(sessions).iloc[0]
    assert kept.source_format == richer.split("/")[0]
    ledger = store.table("files").set_index("name")
    assert ledger.loc[richer, "status"] == "ingested"
    assert ledger.loc[poorer, "status"] == "duplicate"
    assert ledger.loc[poorer, "reason"] == f"copy of session {kept.activity_id} from {richer}"
