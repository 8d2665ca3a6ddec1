"""Load history and progression: spec §1.7 and §3.7 reproduced number for number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.load import (
    acwr_label,
    compute_acwr,
    daily_load,
    spike_table,
    weekly_progression,
)
from pipeline.rules import progression_flags

LOADS = [20, 0, 20, 0, 20, 0, 0, 22, 0, 22, 0, 24, 0, 0, 24, 0, 26, 0, 26, 0, 0, 28, 0, 28,
         0, 30, 0, 0, 30, 0, 45, 40, 0, 60, 0]
DAYS = pd.date_range("2026-01-01", periods=35, freq="D")
SERIES = pd.Series(LOADS, index=DAYS, dtype=float)

# day: (acute, coupled chronic, coupled, uncoupled chronic, uncoupled)
TABLE = {
    28: (86, 72.50, 1.186, 68.00, 1.265), 29: (88, 75.00, 1.173, 70.67, 1.245),
    30: (88, 75.00, 1.173, 70.67, 1.245), 31: (105, 81.25, 1.292, 73.33, 1.432),
    32: (145, 91.25, 1.589, 73.33, 1.977), 33: (115, 86.25, 1.333, 76.67, 1.500),
    34: (175, 101.25, 1.728, 76.67, 2.283), 35: (175, 101.25, 1.728, 76.67, 2.283),
}
EWMA = {1: (20.00, 20.00, 1.000), 2: (15.00, 18.62, 0.806), 7: (7.95, 15.26, 0.521),
        14: (7.16, 12.82, 0.558), 27: (11.62, 12.49, 0.930), 28: (8.71, 11.63, 0.749),
        29: (14.03, 12.90, 1.088), 31: (19.14, 14.28, 1.341), 32: (24.36, 16.05, 1.517),
        34: (28.70, 18.05, 1.590), 35: (21.53, 16.81, 1.281)}


@pytest.mark.parametrize("day", sorted(TABLE))
def test_rolling_variants_reproduce_table(day):
    acute, c_chronic, c_ratio, u_chronic, u_ratio = TABLE[day]
    coupled = compute_acwr(SERIES, "coupled").iloc[day - 1]
    uncoupled = compute_acwr(SERIES, "uncoupled").iloc[day - 1]
    assert coupled["acute"] == acute and uncoupled["acute"] == acute
    assert coupled["chronic"] == pytest.approx(c_chronic, abs=0.005)
    assert coupled["ratio"] == pytest.approx(c_ratio, abs=0.0005)
    assert uncoupled["chronic"] == pytest.approx(u_chronic, abs=0.005)
    assert uncoupled["ratio"] == pytest.approx(u_ratio, abs=0.0005)
    assert coupled["ratio"] == pytest.approx(4 * uncoupled["ratio"] / (3 + uncoupled["ratio"]))


@pytest.mark.parametrize("day", sorted(EWMA))
def test_ewma_reproduces_table_with_first_day_seed(day):
    a, c, r = EWMA[day]
    row = compute_acwr(SERIES, "ewma").iloc[day - 1]
    assert row["acute"] == pytest.approx(a, abs=0.005)
    assert row["chronic"] == pytest.approx(c, abs=0.005)
    assert row["acute"] / row["chronic"] == pytest.approx(r, abs=0.0005)
    if day < 28:
        assert np.isnan(row["ratio"]) and row["reason"] == "insufficient_history"
    else:
        assert row["ratio"] == pytest.approx(r, abs=0.0005)


def test_ewma_lambdas():
    two = pd.Series([0.0, 1.0], index=DAYS[:2])
    out = compute_acwr(two, "ewma")
    assert out["acute"].iloc[1] == pytest.approx(0.25)
    assert out["chronic"].iloc[1] == pytest.approx(2 / 29)


def test_ratio_missing_before_window_and_when_chronic_is_zero():
    out = compute_acwr(SERIES, "uncoupled")
    assert out["ratio"].iloc[:27].isna().all()
    assert (out["reason"].iloc[:27] == "insufficient_history").all()
    comeback = pd.Series([0.0] * 30 + [20.0], index=pd.date_range("2026-01-01", periods=31))
    last = compute_acwr(comeback, "uncoupled").iloc[-1]
    assert np.isnan(last["ratio"]) and last["reason"] == "no_chronic_load"
    assert not np.isinf(compute_acwr(comeback, "coupled")["ratio"]).any()


def test_missing_dates_are_rest_days():
    gappy = SERIES[SERIES > 0]
    pd.testing.assert_frame_equal(compute_acwr(gappy), compute_acwr(SERIES).iloc[:34])


def test_dataframe_input_is_per_athlete():
    df = pd.concat([pd.DataFrame({"athlete_id": a, "date": DAYS, "load": SERIES.to_numpy() * k})
                    for a, k in (("x", 1), ("y", 2))])
    out = compute_acwr(df, "uncoupled")
    assert set(out["athlete_id"]) == {"x", "y"}
    np.testing.assert_allclose(out[out.athlete_id == "x"]["ratio"],
                               out[out.athlete_id == "y"]["ratio"], equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(level=st.floats(1, 500), n=st.integers(28, 90),
       method=st.sampled_from(["uncoupled", "coupled", "ewma"]))
def test_constant_load_gives_ratio_one(level, n, method):
    out = compute_acwr(pd.Series(level, index=pd.date_range("2026-01-01", periods=n)), method)
    assert out["ratio"].iloc[27:].to_numpy() == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(loads=st.lists(st.floats(0, 100), min_size=30, max_size=60), k=st.floats(0.01, 100),
       method=st.sampled_from(["uncoupled", "coupled", "ewma"]))
def test_scaling_loads_changes_no_ratio(loads, k, method):
    s = pd.Series(loads, index=pd.date_range("2026-01-01", periods=len(loads)))
    a, b = compute_acwr(s, method)["ratio"], compute_acwr(s * k, method)["ratio"]
    np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True)


def test_neutral_labels():
    assert acwr_label(2.283) == "well above recent"
    assert acwr_label(1.2) == "similar to recent"
    assert acwr_label(0.5) == "below your recent load"
    assert acwr_label(1.6) == "above recent"
    assert acwr_label(float("nan")) is None


# spec §3.7
WORKED_37 = [("03-03", 3000), ("03-05", 3200), ("03-07", 3500), ("03-10", 3500),
             ("03-12", 3800), ("03-14", 4000), ("03-17", 4200), ("03-19", 4000),
             ("03-20", 5000), ("03-22", 8500)]


def _sessions(pairs, athlete="ana"):
    rows = []
    for i, (d, m) in enumerate(pairs):
        date = pd.Timestamp(f"2026-{d}")
        rows.append({"activity_id": f"s{i}", "athlete_id": athlete, "sport": "running",
                     "kind": "run", "start_utc": pd.Timestamp(f"2026-{d} 07:00", tz="UTC"), "local_date": date,
                     "distance_m": float(m), "run_distance_m": m * 0.8, "run_s": m / 2.6,
                     "load_run_min": m / 2.6 / 60, "load_duration_min": m / 2.2 / 60,
                     "load_distance_km": m / 1000, "srpe_au": None, "trimp_banister": None,
                     "duplicate_of": None})
    return pd.DataFrame(rows)


def test_worked_example_37_spikes():
    sp = spike_table(_sessions(WORKED_37))
    assert sp["category"].tolist() == ["no_baseline"] + ["none"] * 7 + ["small", "moderate"]
    assert sp["baseline"].tolist()[1:] == [3000, 3200, 3500, 3500, 3800, 4000, 4200, 4200, 5000]
    assert sp["rel"].iloc[8] == pytest.approx(0.19, abs=0.005)
    assert sp["rel"].iloc[9] == pytest.approx(0.70, abs=0.005)
    assert sp["baseline_partial"].iloc[-1]


def test_worked_example_37_weekly():
    wk = weekly_progression(_sessions(WORKED_37)).set_index("date")
    assert (wk["category"].iloc[:6] == "insufficient_history").all()
    rows = wk.loc[pd.to_datetime(["2026-03-17", "2026-03-19", "2026-03-20", "2026-03-22"])]
    assert rows["w_cur"].tolist() == [12000, 12200, 17200, 21700]
    assert rows["w_prev"].tolist() == [10200, 10800, 10800, 11300]
    assert rows["category"].tolist() == ["10-30%", "10-30%", ">30%", ">30%"]
    assert rows["progression"].round(2).tolist() == [0.18, 0.13, 0.59, 0.92]


@pytest.mark.parametrize(("second", "category"),
                         [(3300, "none"), (3900, "small"), (6000, "moderate"), (6001, "large")])
def test_spike_boundaries_exact(second, category):
    sp = spike_table(_sessions([("03-01", 3000), ("03-03", second)]))
    assert sp["category"].iloc[1] == category


def test_session_excluded_from_its_own_baseline_and_window_is_30_days():
    sp = spike_table(_sessions([("01-01", 9000), ("02-01", 3000), ("02-02", 3000)]))
    assert sp["category"].tolist() == ["no_baseline", "no_baseline", "none"]


def test_flags_carry_evidence_and_source():
    flags = progression_flags(_sessions(WORKED_37))
    small = flags[flags["rule_id"] == "SPIKE_SMALL"].iloc[0]
    assert small["evidence"] == "5.0 km vs longest 4.2 km in the previous 30 days, +19%"
    assert small["severity"] == "caution" and "Frandsen" in small["source"]
    assert set(flags["rule_id"]) >= {"NO_BASELINE", "SPIKE_SMALL", "SPIKE_MODERATE", "WEEK_GT30",
                                     "WEEK_GT10"}
    assert (flags.loc[flags["rule_id"] == "WEEK_GT30", "date"]
            == pd.to_datetime(["2026-03-20", "2026-03-22"])).all()


def test_daily_load_zero_fills_and_marks_unrecorded():
    s = _sessions(WORKED_37)
    s = pd.concat([s, _sessions([("03-22", 1000)]).assign(activity_id="extra")])
    unrec = pd.DataFrame({"athlete_id": ["ana"], "date": [pd.Timestamp("2026-03-08")]})
    d = daily_load(s, unrecorded=unrec).set_index("date")
    assert len(d) == 20 and d.loc["2026-03-04", "run_min"] == 0
    assert d.loc["2026-03-22", "n_sessions"] == 2
    assert d.loc["2026-03-22", "distance_km"] == pytest.approx(9.5)
    assert d.loc["2026-03-08", "unrecorded"] and d.loc["2026-03-10", "low_confidence"]
    assert not d.loc["2026-03-07", "low_confidence"]


def test_vectorised_daily_ratios_equal_compute_acwr_per_athlete():
    rng = np.random.default_rng(3)
    parts = []
    for athlete, start in (("a", "03-01"), ("b", "03-10"), ("c", "04-02")):
        days = pd.date_range(f"2026-{start}", periods=90)[rng.random(90) < 0.45]
        parts.append(_sessions([(d.strftime("%m-%d"), float(rng.integers(1000, 9000)))
                                for d in days], athlete).assign(
            activity_id=lambda f, a=athlete: a + f["activity_id"]))
    sessions = pd.concat(parts, ignore_index=True)
    daily = daily_load(sessions)
    for _, part in daily.groupby("athlete_id"):
        series = part.set_index("date")["run_min"]
        for method, column in (("uncoupled", "ratio_uncoupled"), ("coupled", "ratio_coupled"),
                               ("ewma", "ratio_ewma")):
            ref = compute_acwr(series, method)["ratio"].to_numpy()
            np.testing.assert_allclose(part[column].to_numpy(), ref, rtol=1e-9, equal_nan=True)


def test_spikes_of_several_athletes_do_not_mix():
    both = pd.concat([_sessions(WORKED_37, "b"),
                      _sessions([("03-01", 1000), ("03-02", 5000)], "a").assign(
                          activity_id=lambda f: "a" + f["activity_id"])], ignore_index=True)
    sp = spike_table(both).set_index("activity_id")
    assert sp.loc["as1", "category"] == "large" and sp.loc["as1", "baseline"] == 1000
    assert sp.loc["s9", "category"] == "moderate" and sp.loc["s9", "baseline"] == 5000
