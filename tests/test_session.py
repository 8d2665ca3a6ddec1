"""Session metrics: the worked examples of spec §2, §6 reproduced from our code."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.activity import LAP_COLUMNS, SPLIT_COLUMNS, TIMER_EVENT_COLUMNS, empty_frame
from pipeline.clean import clean_records
from pipeline.dedup import find_duplicates
from pipeline.gait import label_gait, segment_table
from pipeline.load import banister_trimp, edwards_trimp, rtss_approx, session_rpe
from pipeline.session import interval_structure, local_date
from tests.synthetic import trace, worked_66

EXPECTED_66 = [
    ("walk", 0, 300), ("run", 300, 60), ("walk", 360, 120), ("run", 480, 60),
    ("walk", 540, 120), ("run", 660, 60), ("walk", 720, 50), ("pause", 770, 40),
    ("walk", 810, 30), ("run", 840, 60), ("walk", 900, 120), ("run", 1020, 60),
    ("walk", 1080, 50), ("stop", 1130, 20), ("walk", 1150, 50), ("run", 1200, 60),
    ("walk", 1260, 420),
]


def _segments(raw: pd.DataFrame, **kwargs) -> pd.DataFrame:
    return segment_table(label_gait(clean_records(raw), **kwargs), "a-0")


@pytest.mark.parametrize("cadence", [True, False], ids=["cadence", "speed-only"])
def test_worked_example_66_segments_and_ratios(cadence):
    seg = _segments(worked_66(cadence=cadence))
    got = list(zip(seg["gait"], seg["start_s"].astype(int), seg["duration_s"].astype(int),
                   strict=True))
    assert got == EXPECTED_66
    s = interval_structure(seg)
    assert (s.run_s, s.walk_s, s.stop_s, s.pause_s) == (360, 1260, 20, 40)
    assert s.run_walk_ratio == pytest.approx(0.286, abs=5e-4)
    assert s.main_set_ratio == pytest.approx(0.667, abs=5e-4)
    assert s.run_recovery_ratio == pytest.approx(0.600, abs=5e-4)
    assert s.pattern == "60 s run : 120 s walk × 6"
    assert s.regular and s.warmup_s == 300 and s.cooldown_s == 420


def test_spec_62_slow_jogger_needs_cadence():
    bouts = [((1.35, 108.0), 120)] + [((1.95, 150.0), 60), ((1.35, 108.0), 120)] * 5
    with_cad = interval_structure(_segments(trace(bouts)))
    speed_only = interval_structure(_segments(trace(bouts), use_cadence=False))
    assert with_cad.pattern == "60 s run : 120 s walk × 5"
    assert speed_only.n_runs == 0


def test_timer_stop_start_becomes_pause():
    raw = trace([("walk", 100), ("run", 100)])
    events = pd.DataFrame({
        "timestamp_utc": [raw["timestamp_utc"].iloc[50], raw["timestamp_utc"].iloc[60]],
        "event_type": ["stop_all", "start"], "trigger": ["auto", "auto"]})
    gait = label_gait(clean_records(raw, events))
    assert gait.loc[gait["gait"] == "pause", "duration_s"].sum() == 10
    assert gait["duration_s"].sum() == 200


def test_timer_events_in_the_same_second_keep_the_files_order():
    # A restart and the next stop logged in one second (seen on a Magellan watch): each
    # cycle is two pauses, 10 s and 5 s. Reordering the tie merges them and loses time.
    raw = trace([("walk", 400), ("run", 400)])
    at = raw["timestamp_utc"]
    rows = [(at.iloc[b + offset], kind) for b in range(20, 720, 35)
            for offset, kind in ((0, "stop_all"), (10, "start"), (10, "stop_all"), (15, "start"))]
    events = pd.DataFrame({"timestamp_utc": [t for t, _ in rows],
                           "event_type": [k for _, k in rows], "trigger": "manual"})
    gait = label_gait(clean_records(raw, events))
    assert gait.loc[gait["gait"] == "pause", "duration_s"].sum() == 20 * 15


def test_cleaning_does_not_mutate_its_input():
    raw = worked_66()
    before = raw.copy()
    clean_records(raw)
    pd.testing.assert_frame_equal(raw, before)


# spec §2 worked numbers: 10 min at 110 bpm + 20 min at 150 bpm, HRrest 60, HRmax 190.
_HR = np.r_[np.full(600, 110.0), np.full(1200, 150.0)]
_DT = np.ones(1800)


@pytest.mark.parametrize(("sex", "expected"),
                         [("male", 38.63), ("female", 44.13), ("female_gc", 32.84)])
def test_banister_trimp_per_sample(sex, expected):
    assert banister_trimp(_HR, _DT, 60, 190, sex) == pytest.approx(expected, abs=0.005)


def test_banister_mean_hr_variant():
    mean = np.full(1800, _HR.mean())
    assert banister_trimp(mean, _DT, 60, 190, "male") == pytest.approx(35.13, abs=0.005)
    assert banister_trimp(mean, _DT, 60, 190, "female") == pytest.approx(40.74, abs=0.005)


def test_banister_unknown_sex_is_refused():
    from pipeline.errors import ArgumentError

    with pytest.raises(ArgumentError, match="no Banister constants for sex 'other'"):
        banister_trimp(_HR, _DT, 60, 190, "other")


def test_edwards_srpe_rtss():
    assert edwards_trimp(_HR, _DT, 190) == pytest.approx(70.0)
    assert session_rpe(4, 30) == 120
    assert session_rpe(None, 30) is None
    assert rtss_approx(1800, 2.5, 3.5) == pytest.approx(25.51, abs=0.005)
    assert rtss_approx(3600, 3.5, 3.5) == pytest.approx(100.0)


def test_local_date_late_evening_across_dst():
    # New York, 21:30 local: before the 2026-03-08 DST change UTC is +5 h, after it +4 h.
    before = pd.Timestamp("2026-03-07 02:30", tz="UTC")
    after = pd.Timestamp("2026-03-10 01:30", tz="UTC")
    assert local_date(before, None, "America/New_York") == dt.date(2026, 3, 6)
    assert local_date(after, None, "America/New_York") == dt.date(2026, 3, 9)
    assert local_date(after, -14400.0, "Europe/Berlin") == dt.date(2026, 3, 9)  # file wins


def _sessions(rows):
    cols = ["activity_id", "athlete_id", "sport", "start_utc", "elapsed_s", "distance_m",
            "source_format"]
    return pd.DataFrame(rows, columns=cols).assign(kind="run")


def test_duplicates_fit_kept_over_gpx_and_hour_shift():
    t = pd.Timestamp("2026-04-01 07:00", tz="UTC")
    df = _sessions([
        ("g", "ana", "running", t + pd.Timedelta(seconds=20), 1500, 3010, "gpx"),
        ("f", "ana", "running", t, 1510, 3000, "fit"),
        ("h", "ana", "running", t + pd.Timedelta(hours=2, seconds=5), 1510, 3000, "fit"),
        ("evening", "ana", "running", t + pd.Timedelta(hours=9), 1530, 3060, "fit"),
        ("b", "ben", "running", t, 1500, 3000, "fit"),
    ])
    dup = find_duplicates(df)
    assert dup.tolist() == ["f", None, "f", None, None]


def test_a_short_export_missing_its_last_points_is_still_a_copy():
    """Smart recording writes a point every 8 s or so: a GPX export without the last two
    points of a 4-minute walk is 16 s (6.7 %) and 50 m (7 %) short, and still the same walk."""
    t = pd.Timestamp("2026-04-01 07:00", tz="UTC")
    df = _sessions([("f", "ana", "walking", t, 240, 700, "fit"),
                    ("g", "ana", "walking", t, 224, 650, "gpx")])
    assert find_duplicates(df).tolist() == [None, "f"]


def test_two_sessions_on_one_day_are_not_merged():
    t = pd.Timestamp("2026-04-01 07:00", tz="UTC")
    df = _sessions([
        ("am", "ana", "running", t, 1500, 3000, "fit"),
        ("pm", "ana", "running", t + pd.Timedelta(hours=10), 1200, 2500, "fit"),
        ("same-start-other-run", "ana", "running", t + pd.Timedelta(seconds=30), 900, 1800, "fit"),
    ])
    assert find_duplicates(df).isna().all()


_bouts = st.lists(st.tuples(st.sampled_from(["run", "walk", "stop", "pause"]),
                            st.integers(1, 200)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(bouts=_bouts, shift_s=st.integers(-10**7, 10**7))
def test_time_partitions_add_up_and_shift_invariance(bouts, shift_s):
    if not any(g != "pause" for g, n in bouts) or sum(n for g, n in bouts if g != "pause") < 2:
        return
    raw = trace(bouts)
    clean = clean_records(raw)
    assert clean["distance_m"].max() <= raw["distance_m"].max() + 1e-9
    seg = segment_table(label_gait(clean), "x")
    s = interval_structure(seg)
    elapsed = float(clean["duration_s"].sum())
    assert s.run_s + s.walk_s + s.stop_s + s.pause_s == pytest.approx(elapsed)
    shifted = raw.assign(timestamp_utc=raw["timestamp_utc"] + pd.Timedelta(seconds=shift_s))
    s2 = interval_structure(segment_table(label_gait(clean_records(shifted)), "x"))
    assert s2 == s


def test_empty_frames_have_columns():
    for cols in (LAP_COLUMNS, SPLIT_COLUMNS, TIMER_EVENT_COLUMNS):
        assert list(empty_frame(cols).columns) == list(cols)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.floats(0, 400, allow_nan=False),
                                 st.sampled_from([0.0, 90.0, 172.0])), max_size=80),
       window=st.sampled_from([1, 3, 5, 7, 31]), min_periods=st.integers(1, 6))
def test_centred_median_is_pandas_rolling_median(values, window, min_periods):
    from pipeline.activity import centred_median

    x = np.array([np.nan if v is None else v for v in values], dtype="float64")
    expected = pd.Series(x, dtype="float64").rolling(
        window, center=True, min_periods=min(min_periods, window)).median().to_numpy()
    assert np.array_equal(centred_median(x, window, min(min_periods, window)), expected,
                          equal_nan=True)
