"""The whole decision engine through ``evaluate()``: sessions measured by the pipeline,
check-ins as the store holds them, decisions, flags and next sessions out."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipeline.athletes import Athlete
from pipeline.evaluate import evaluate
from tests.squad import ATHLETE, CLEAN, STAGE1, checkins, measured

ROSTER = {"kim": ATHLETE}


def _decisions(plan, rows):
    sessions, segments = measured(plan)
    result = evaluate(sessions, segments, checkins(rows), ROSTER)
    return result.decisions.set_index(result.decisions["date"].dt.strftime("%m-%d"))


def test_a_pre_session_answer_belongs_to_the_session_before_it_only():
    """Q4 'yes' before the second run stands in for the first run's missing Q3 (R4 on the
    first); the second run, whose own next-day answer is missing too, is not held by it."""
    plan = [("2026-04-01", STAGE1), ("2026-04-03", STAGE1)]
    first = {k: v for k, v in CLEAN.items() if k != "next_day"}
    second = {**first, "pre_session": "yes"}
    d = _decisions(plan, [{"date": "2026-04-01", **first}, {"date": "2026-04-03", **second}])
    assert (d.loc["04-01", "verdict"], d.loc["04-01", "rules"]) == ("HOLD", "R4")
    assert d.loc["04-01", "rest_until"] == pd.Timestamp("2026-04-03")
    assert (d.loc["04-03", "verdict"], d.loc["04-03", "rules"]) == ("STAY", "M")
    assert d.loc["04-03", "days_off"] == 0


def test_athlete_without_program_start_cannot_be_decided():
    roster = {"zoe": Athlete("zoe", "Zoe", "UTC")}
    empty = pd.DataFrame(columns=["activity_id", "athlete_id", "sport", "kind", "start_utc", "local_date",
                                  "distance_m", "run_distance_m", "run_s", "load_run_min",
                                  "load_duration_min", "load_distance_km", "srpe_au",
                                  "trimp_banister", "duplicate_of", "rpe_cr10"])
    result = evaluate(empty, pd.DataFrame(columns=["activity_id"]), pd.DataFrame(), roster,
                      today=dt.date(2026, 3, 1))
    row = result.decisions.iloc[0]
    assert row["verdict"] == "UNDECIDED"
    assert row["reason"] == "Cannot decide because the roster gives no program start for this athlete."
    assert result.next_sessions.iloc[0]["status"] == "undecided"
