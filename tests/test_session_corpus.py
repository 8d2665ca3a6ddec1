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
