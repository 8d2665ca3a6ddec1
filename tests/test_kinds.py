"""Activity kinds: what counts as running, walking and cross-training (issue: every activity
counted for what it is). Sessions are measured by the real pipeline from synthetic traces."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from pipeline.evaluate import evaluate
from pipeline.load import cross_training_daily, daily_load
from tests.squad import ATHLETE, BRISK_WALK, CONTINUOUS, STAGE1, measured

RIDE = [("run", 1800)]  # the trace's "run" speed: a ride's speed trace looks the same to gait


def _one(bouts, sport):
    sessions, _ = measured([("2026-04-01", bouts)], sport=sport)
    return sessions.iloc[0]


def test_a_walk_recorded_as_a_run_is_a_walk_with_a_note():
    s = _one(BRISK_WALK, "running")
    assert s.kind == "walk"
    assert "recorded as a run" in s.kind_note and "30 moving minutes" in s.kind_note
    assert _one(STAGE1, "running").kind == "run"  # 9 min of running in 25 is a run
    assert _one([("walk", 120)], "running").kind == "run"  # too short to say otherwise


def test_named_sports_decide_and_an_unnamed_sport_is_what_its_gait_shows():
    ride = _one(RIDE, "cycling")
    assert ride.kind == "cross_training" and pd.isna(ride.kind_note)
    assert _one(RIDE, "swimming").kind == "cross_training"
    assert _one(RIDE, "diving").kind == "other"
    assert _one(CONTINUOUS, "unknown").kind == "run"
    walk = _one(BRISK_WALK, "unknown")
    assert walk.kind == "walk" and "no running" in walk.kind_note


def _squad():
    plan = [("2026-04-01", STAGE1), ("2026-04-02", RIDE), ("2026-04-03", STAGE1)]
    runs, _ = measured([plan[0], plan[2]])
    ride, _ = measured([plan[1]], sport="cycling")
    return pd.concat([runs, ride], ignore_index=True)


def test_cross_training_is_never_running_load():
    sessions = _squad()
    daily = daily_load(sessions).set_index("date")
    assert daily.loc["2026-04-02", "run_min"] == 0  # the ride day is a rest day for running
    assert daily.loc["2026-04-02", "distance_km"] == 0
    runs = sessions[sessions["kind"] == "run"]
    assert daily["distance_km"].sum() == pytest.approx(runs["load_distance_km"].sum())


def test_cross_training_has_its_own_daily_series_in_one_measure_per_day():
    sessions = _squad()
    ride = sessions[sessions["kind"] == "cross_training"].iloc[0]
    day = cross_training_daily(sessions).iloc[0]
    assert (day.sports, day.n_sessions) == ("cycling", 1)
    assert day.duration_min == pytest.approx(ride.load_duration_min)
    assert day.load_measure == "trimp" and day.load == pytest.approx(ride.trimp_banister)
    no_hr = sessions.assign(trimp_banister=None)
    assert cross_training_daily(no_hr).iloc[0]["load_measure"] == "duration"
    rated = no_hr.assign(srpe_au=no_hr["load_duration_min"] * 3)
    day = cross_training_daily(rated).iloc[0]
    assert (day.load_measure, day.load) == ("srpe", pytest.approx(ride.load_duration_min * 3))


def test_the_roster_can_ask_for_cross_training_minutes_in_running_load():
    sessions = _squad()
    ride = sessions[sessions["kind"] == "cross_training"].iloc[0]
    athlete = dataclasses.replace(ATHLETE, cross_training_in_load=True)
    plain = evaluate(sessions, pd.DataFrame(columns=["activity_id"]), pd.DataFrame(),
                     {ATHLETE.athlete_id: ATHLETE}).daily_load.set_index("date")
    summed = evaluate(sessions, pd.DataFrame(columns=["activity_id"]), pd.DataFrame(),
                      {ATHLETE.athlete_id: athlete}).daily_load.set_index("date")
    assert plain.loc["2026-04-02", "run_min"] == 0
    assert summed.loc["2026-04-02", "run_min"] == pytest.approx(ride.load_duration_min)
    assert summed.loc["2026-04-02", "distance_km"] == 0  # minutes only, never kilometres
