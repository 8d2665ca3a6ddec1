"""The decision engine's gates, review state, walking stage and post-programme phase, as
worked examples in the style of spec §4.6: sessions measured by the pipeline from synthetic
traces, check-ins as the store holds them, through ``evaluate()``."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from pipeline.athletes import read_roster_checked
from pipeline.decide import decide_athlete
from pipeline.evaluate import evaluate
from pipeline.program import default_program
from pipeline.soreness import Answers
from schemas import Reviews
from tests.squad import ATHLETE, BRISK_WALK, CLEAN, CONTINUOUS, STAGE1, checkins, measured

ROSTER = {"kim": ATHLETE}
X1 = {**CLEAN, "during": "new"}


def _evaluate(plan, rows, athlete=ATHLETE, reviews=None, sport="running", walks=()):
    sessions, segments = measured(plan, athlete, sport)
    if walks:
        ws, wg = measured(list(walks), athlete, "walking")
        sessions = pd.concat([sessions, ws], ignore_index=True)
        segments = pd.concat([segments, wg], ignore_index=True)
    result = evaluate(sessions, segments, checkins(rows, athlete), {athlete.athlete_id: athlete},
                      reviews=reviews)
    d = result.decisions.set_index(result.decisions["date"].dt.strftime("%m-%d"))
    return d, result.flags, result.next_sessions.iloc[0]


def _rules(flags, day):
    return set(flags.loc[flags["date"] == pd.Timestamp(f"2026-{day}"), "rule_id"])


# | date  | answers                         | rules          | verdict    | stage | counted |
# | 04-01 | clean                           | R5             | ADVANCE_OK | 1→1   | 1       |
# | 04-03 | clean                           | R5             | ADVANCE_OK | 1→1   | 2       |
# | 04-08 | clean but swelling = yes        | R5, SWELLING   | ADVANCE_OK | 1→1   | 2 (held)|
# | 04-10 | clean                           | R5             | ADVANCE    | 1→2   | 0       |
def test_swelling_holds_an_otherwise_advancing_session():
    days = ["2026-04-01", "2026-04-03", "2026-04-08", "2026-04-10"]
    rows = [{"date": d, **CLEAN} for d in days]
    rows[2]["swelling"] = True
    d, flags, _ = _evaluate([(day, STAGE1) for day in days], rows)
    held = d.loc["04-08"]
    assert (held["verdict"], held["rules"], held["stage_after"]) == ("ADVANCE_OK", "R5,SWELLING", 1)
    assert held["completions"] == 2  # the swollen session did not count toward S3
    assert held["explanation"] == "Held at stage 1: swelling reported."
    assert "swelling yes" in held["inputs"]
    assert "SWELLING" in _rules(flags, "04-08")
    evidence = flags.loc[flags["rule_id"] == "SWELLING", "evidence"].iloc[0]
    assert evidence == "swelling = yes on the check-in"
    assert (d.loc["04-10", "verdict"], d.loc["04-10", "stage_after"]) == ("ADVANCE", 2)
    assert d.loc["04-10", "explanation"] == (
        "Advance to stage 2: 3 clean completions, 9 days since last change, pain ≤ 3.")


def test_stiffness_holds_like_swelling():
    days = ["2026-04-01", "2026-04-03", "2026-04-08"]
    rows = [{"date": d, **CLEAN} for d in days]
    rows[2]["stiffness"] = True
    d, flags, _ = _evaluate([(day, STAGE1) for day in days], rows)
    assert d.loc["04-08", "stage_after"] == 1 and "STIFFNESS" in d.loc["04-08", "rules"]
    assert "STIFFNESS" in _rules(flags, "04-08")


def test_pain_one_to_three_still_there_next_morning_does_not_advance():
    """The issue's case: pain 1 during, 3 after, 3 next morning. Every value is within the
    ceiling of 3, but the pain increased: stay at stage 1 (and at level 1 nothing drops)."""
    days = ["2026-04-01", "2026-04-03", "2026-04-08"]
    rows = [{"date": d, **CLEAN} for d in days]
    rows[2].update(pain_during=1.0, pain_after=3.0, pain_next_morning=3.0)
    d, flags, nxt = _evaluate([(day, STAGE1) for day in days], rows)
    row = d.loc["04-08"]
    assert (row["verdict"], row["stage_after"], row["rules"]) == ("ADVANCE_OK", 1, "R5,PAIN_RISING")
    assert not row["in_review"] and row["days_off"] == 0
    evidence = flags.loc[flags["rule_id"] == "PAIN_RISING", "evidence"].iloc[0]
    # The baseline is the last next-morning value before the session: 0 on 04-03's check-in.
    assert evidence == ("pain after 3 > during 1; next-morning pain 3 > baseline 0 "
                        "(the last next-morning value before the session)")
    assert "PAIN_GATE" not in _rules(flags, "04-08")
    assert nxt["stage"] == 1


@pytest.mark.parametrize(("previous_morning", "morning", "rising"),
                         [(None, 2.0, False), (1.0, 2.0, True), (2.0, 2.0, False)])
def test_next_morning_pain_against_the_baseline(previous_morning, morning, rising):
    answers = {dt.date(2026, 4, 1): Answers("none", "none", "none", pain_during=1.0,
                                            pain_after=1.0, pain_next_morning=previous_morning),
               dt.date(2026, 4, 3): Answers("none", "none", "none", pain_during=2.0,
                                            pain_after=2.0, pain_next_morning=morning)}
    out = decide_athlete("x", [(d, str(d)) for d in answers], answers, default_program(),
                         dt.date(2026, 4, 1))
    assert ("PAIN_RISING" in out.decisions.iloc[1]["rules"]) is rising


def test_pain_ceiling_of_two_from_the_roster(tmp_path):
    roster = tmp_path / "athletes.csv"
    roster.write_text("athlete_id,name,timezone,program_start,pain_ceiling\n"
                      "kim,Kim,UTC,2026-04-01,2\n")
    kim = dataclasses.replace(ATHLETE, **{
        k: getattr(read_roster_checked(roster).athletes["kim"], k) for k in ("pain_ceiling",)})
    rows = [{"date": "2026-04-01", **CLEAN, "pain_during": 3.0, "pain_after": 3.0}]
    d, flags, _ = _evaluate([("2026-04-01", STAGE1)], rows, kim)
    assert "PAIN_GATE" in d.loc["04-01", "rules"]
    assert flags.loc[flags["rule_id"] == "PAIN_GATE", "threshold"].iloc[0] == 2.0


# | date  | answers    | rules          | verdict    | stage | review                        |
# | 04-01 | X1         | X1             | DROP       | 1→1   | drop requested at level 1     |
# | 04-03 | clean      | R5             | ADVANCE_OK | 1→1   | open (does not count)         |
# | 04-08 | clean      | R5             | ADVANCE_OK | 1→1   | open: no advance at 7 days    |
#   acknowledged 04-09 by Dr Lee
# | 04-10 | clean      | R5             | ADVANCE_OK | 1→1   | closed; 1 of 2 completions    |
# | 04-13 | clean      | R5             | ADVANCE    | 1→2   | 2 completions, 12 days        |
def test_review_stops_the_programme_until_acknowledged():
    days = ["2026-04-01", "2026-04-03", "2026-04-08", "2026-04-10", "2026-04-13"]
    rows = [{"date": days[0], **X1}] + [{"date": d, **CLEAN} for d in days[1:]]
    plan = [(day, STAGE1) for day in days]
    d, _, nxt = _evaluate(plan, rows)
    assert d["stage_after"].max() == 1 and (d["verdict"] != "ADVANCE").all()
    assert d.loc["04-08", "explanation"].startswith(
        "Held at stage 1: clinician review open since 2026-04-01 (drop requested at level 1)")
    assert nxt["status"] == "review" and nxt["stage"] == 1
    ack = Reviews.validate(pd.DataFrame([{"athlete_id": "kim", "by": "Dr Lee", "note": "seen",
                                          "review": None,
                                          "acknowledged_utc": pd.Timestamp("2026-04-09 10:00",
                                                                           tz="UTC")}]))
    d, _, nxt = _evaluate(plan, rows, reviews=ack)
    assert d.loc["04-08", "stage_after"] == 1 and d.loc["04-08", "in_review"]
    assert d.loc["04-10", "explanation"].startswith(
        "Review (drop requested at level 1) acknowledged on 2026-04-09; stay at stage 1: 1 of 2")
    assert not d.loc["04-10", "in_review"]
    assert (d.loc["04-13", "verdict"], d.loc["04-13", "stage_after"]) == ("ADVANCE", 2)
    assert nxt["status"] == "ready" and nxt["stage"] == 2


def test_two_drops_in_14_days_open_a_review_above_level_1():
    start2 = dataclasses.replace(ATHLETE, start_stage=3)
    days = ["2026-04-01", "2026-04-05"]
    d, _, nxt = _evaluate([(day, STAGE1) for day in days],
                              [{"date": day, **X1} for day in days], start2)
    assert d["stage_after"].tolist() == [2, 1]
    assert d.loc["04-05", "review"] == "2 drops within 14 days"
    assert nxt["status"] == "review"


# Gentle programme: stage 1 is a 30 min brisk walk.
# | date  | session          | verdict    | stage | why                                   |
# | 04-01 | walk 30 min      | ADVANCE_OK | 1→1   | 1 of 2 completions                    |
# | 04-03 | walk 10 min      | ADVANCE_OK | 1→1   | did not complete stage 1              |
# | 04-06 | walk 30 min      | ADVANCE_OK | 1→1   | 2 of 2, 5 of 7 days                   |
# | 04-08 | walk 30 min      | ADVANCE    | 1→2   | 3 clean completions, 7 days           |
# | 04-10 | walk 30 min      | –          | 2     | a walk at a running stage is no programme session |
def test_walking_stage_is_completed_by_walks_of_the_prescribed_duration():
    gentle = dataclasses.replace(ATHLETE, program="gentle")
    walks = [("2026-04-01", BRISK_WALK), ("2026-04-03", [("walk", 600)]),
             ("2026-04-06", BRISK_WALK), ("2026-04-08", BRISK_WALK), ("2026-04-10", BRISK_WALK)]
    rows = [{"date": day, **CLEAN} for day, _ in walks]
    sessions, segments = measured(walks, gentle, "walking")
    result = evaluate(sessions, segments, checkins(rows), {"kim": gentle})
    d = result.decisions.set_index(result.decisions["date"].dt.strftime("%m-%d"))
    assert list(d.index) == ["04-01", "04-03", "04-06", "04-08"]
    assert d.loc["04-03", "explanation"] == (
        "Stay at stage 1: no soreness, but the session did not complete stage 1 as prescribed.")
    assert d.loc["04-06", "completions"] == 2
    assert (d.loc["04-08", "verdict"], d.loc["04-08", "stage_after"]) == ("ADVANCE", 2)
    nxt = result.next_sessions.iloc[0]
    assert nxt["stage"] == 2 and nxt["run_s"] == 60 and nxt["walk_s"] == 120
    assert not result.daily_load["run_min"].any()  # walks are never running load
    assert "RAN_DURING_REST" not in set(result.flags["rule_id"])


# Stage 6 (continuous 2 mi) into the post-programme phase.
# | date  | session    | verdict    | phase          | run days/week | why                          |
# | 04-01 | continuous | ADVANCE_OK | programme      | 3             | 1 of 2                       |
# | 04-03 | continuous | ADVANCE_OK | programme      | 3             | 2 of 2, 2 of 7 days          |
# | 04-08 | continuous | ADVANCE    | post_programme | 3             | programme completed          |
# | 04-10 | continuous | ADVANCE_OK | post_programme | 3             | 1 of 2                       |
# | 04-13 | continuous | ADVANCE_OK | post_programme | 3             | 2 of 2, 5 of 7 days          |
# | 04-15 | continuous | ADVANCE    | post_programme | 4             | 3 run days in 7: one more    |
# | 04-16, 04-17 | continuous | ...  | post_programme | 4           | 3 days in a row: caution; 4 run days in 7 = the limit |
def test_stage_6_completed_enters_the_post_programme_phase():
    six = dataclasses.replace(ATHLETE, start_stage=6)
    days = ["2026-04-01", "2026-04-03", "2026-04-08", "2026-04-10", "2026-04-13", "2026-04-15",
            "2026-04-16", "2026-04-17"]
    d, flags, nxt = _evaluate([(day, CONTINUOUS) for day in days],
                              [{"date": day, **CLEAN} for day in days], six)
    assert d.loc["04-08", "verdict"] == "ADVANCE" and d.loc["04-08", "phase"] == "post_programme"
    assert d.loc["04-08", "explanation"].startswith("Programme completed: 3 clean completions")
    assert d.loc["04-13", "run_days_limit"] == 3
    assert (d.loc["04-15", "verdict"], d.loc["04-15", "run_days_limit"]) == ("ADVANCE", 4)
    assert d.loc["04-15", "explanation"].startswith("Frequency up to 4 run days a week")
    # Programme rules no longer apply between stages, the post-programme ones do.
    assert "STAGE_EXCEEDED" not in set(flags["rule_id"])
    assert "CONSECUTIVE_DAYS" not in _rules(flags, "04-16")  # 2 in a row are allowed
    consecutive = flags[(flags["rule_id"] == "CONSECUTIVE_DAYS")]
    assert consecutive["date"].tolist() == [pd.Timestamp("2026-04-17")]
    assert "FREQ_EXCEEDED" not in set(flags["rule_id"])  # 4 run days in 04-11..04-17: the limit
    assert nxt["phase"] == "post_programme" and nxt["change"] == "frequency"
    assert nxt["prescription"].startswith("Post-programme: 4 run days a week")


def test_warm_up_shorter_than_the_programme_minimum_is_an_info_flag():
    _, flags, _ = _evaluate([("2026-04-01", STAGE1)], [{"date": "2026-04-01", **CLEAN}])
    warm = flags[flags["rule_id"] == "WARMUP_SHORT"].iloc[0]
    assert warm["severity"] == "info" and warm["value"] == pytest.approx(5.0, abs=0.3)
    assert "programme minimum 10 min" in warm["evidence"]


def test_cadence_target_five_percent_over_the_baseline():
    target = dataclasses.replace(ATHLETE, cadence_target=read_cadence("+5%"))
    days = ["2026-04-01", "2026-04-03", "2026-04-06", "2026-04-08"]
    sessions, _ = measured([(day, STAGE1) for day in days], target)
    baseline = sessions.sort_values("start_utc")["cadence_spm_median"].head(3).median()
    d, _, _ = _evaluate([(day, STAGE1) for day in days],
                        [{"date": day, **CLEAN} for day in days], target)
    assert d["cadence_target_spm"].tolist() == pytest.approx([baseline * 1.05] * 4)
    assert d["cadence_spm"].notna().all()


def read_cadence(text):
    from pipeline.athletes import _cadence_target  # the roster's own parser
    return _cadence_target(text)


def test_bad_roster_settings_are_reported_and_defaults_used(tmp_path):
    roster = tmp_path / "athletes.csv"
    roster.write_text(
        "athlete_id,name,timezone,program_start,run_days_limit,pain_ceiling,frequency_goal,"
        "injured_area,cadence_target\n"
        "kim,Kim,UTC,2026-04-01,9,4,five,<b>left knee</b>,+50%\n"
        "lou,Lou,UTC,2026-04-01,2,2,6,right hip,172\n")
    checked = read_roster_checked(roster)
    kim, lou = checked.athletes["kim"], checked.athletes["lou"]
    assert (kim.run_days_limit, kim.pain_ceiling, kim.frequency_goal, kim.cadence_target) == (
        None, None, None, None)
    assert kim.injured_area == "<b>left knee</b>"  # free text, escaped where shown
    problems = checked.problems
    assert problems["line"].tolist() == [2, 2, 2, 2]
    assert problems["column"].tolist() == ["run_days_limit", "pain_ceiling", "frequency_goal",
                                           "cadence_target"]
    assert all("the default is used" in r for r in problems["reason"])
    assert (lou.run_days_limit, lou.pain_ceiling, lou.frequency_goal) == (2, 2.0, 6)
    assert lou.cadence_target is not None and lou.cadence_target.resolve(None) == 172.0


def test_run_days_limit_from_the_roster_sets_freq_exceeded():
    two = dataclasses.replace(ATHLETE, run_days_limit=2)
    days = ["2026-04-01", "2026-04-03", "2026-04-05"]
    _, flags, _ = _evaluate([(day, STAGE1) for day in days],
                            [{"date": day, **CLEAN} for day in days], two)
    freq = flags[flags["rule_id"] == "FREQ_EXCEEDED"]
    assert freq["date"].tolist() == [pd.Timestamp("2026-04-05")]
    assert freq["threshold"].iloc[0] == 2.0
