"""Delaware soreness rules: every row of spec §4.6 and each additional vector."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipeline.config import RuleConfig
from pipeline.decide import decide_athlete
from pipeline.program import default_program
from pipeline.soreness import Answers, pain_gate, soreness_rules

N, R, P = "none", "resolved", "persisted"
TABLE = [  # date, Q1, Q2, Q3, rules, verdict, days off, level before→after, rest until
    ("04-01", N, N, N, "R5", "ADVANCE_OK", 0, 1, 1, None),
    ("04-03", N, N, "muscular", "R5", "ADVANCE_OK", 0, 1, 1, None),
    ("04-05", N, N, N, "R5", "ADVANCE_OK", 0, 1, 1, None),
    ("04-08", N, N, N, "R5", "ADVANCE", 0, 1, 2, None),
    ("04-10", R, N, N, "R2", "STAY", 0, 2, 2, None),
    ("04-12", N, N, "non_muscular", "R4", "HOLD", 1, 2, 2, "04-13"),
    ("04-15", R, "returned", "non_muscular", "R3,R4", "DROP", 2, 2, 1, "04-17"),
    ("04-18", None, N, N, "M", "STAY", 0, 1, 1, None),
    ("04-20", P, None, None, "R1", "DROP", 2, 1, 1, "04-22"),
    ("04-23", N, N, N, "R5", "ADVANCE_OK", 0, 1, 1, None),
]


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(f"2026-{s}")


def _run(rows, start="04-01", start_stage=1, pre_session=None):
    days = [(_d(r[0]), f"a{i}") for i, r in enumerate(rows)]
    answers = {_d(r[0]): Answers(r[1], r[2], r[3]) for r in rows}
    return decide_athlete("cara", days, answers, default_program(), _d(start), start_stage,
                              pre_session=pre_session)


def test_worked_table_46_every_row():
    out = _run(TABLE)
    d = out.decisions
    for (date, *_, rules, verdict, days_off, before, after, rest), got in zip(
            TABLE, d.to_dict("records"), strict=True):
        assert got["date"] == pd.Timestamp(_d(date))
        assert (got["rules"], got["verdict"], got["days_off"]) == (rules, verdict, days_off), date
        assert (got["stage_before"], got["stage_after"]) == (before, after), date
        expected_rest = pd.Timestamp(_d(rest)) if rest else pd.NaT
        assert (got["rest_until"] == expected_rest) or (pd.isna(got["rest_until"])
                                                        and rest is None), date
    reviews = [f for f in out.flags if f["rule_id"] == "CLINICIAN_REVIEW"]
    assert [(f["date"], f["message"]) for f in reviews] == [
        (pd.Timestamp(_d("04-20")), "Clinician review advised: drop requested at level 1."),
        (pd.Timestamp(_d("04-20")), "Clinician review advised: 2 drops within 14 days."),
    ]


def test_muscle_soreness_never_fires_r4():
    assert soreness_rules(Answers(N, N, "muscular")) == (["R5"], "ADVANCE_OK", 0)


def test_vector_r3_with_muscular_next_day():
    assert soreness_rules(Answers(R, "returned", "muscular")) == (["R3"], "DROP", 2)


def test_vector_x1_chop():
    assert soreness_rules(Answers(N, "new", N)) == (["X1"], "DROP", 1)


def test_vector_q4_yes_on_next_session_day_holds_and_blocks():
    rows = [("05-04", N, N, None, "", "", 0, 1, 1, None), ("05-06", N, N, N, "", "", 0, 1, 1, None)]
    out = _run(rows, start="05-04", pre_session={_d("05-06"): "yes"})
    first = out.decisions.iloc[0]
    assert (first["verdict"], first["rules"]) == ("HOLD", "R4")
    assert first["rest_until"] == pd.Timestamp(_d("05-06"))
    assert [f["rule_id"] for f in out.flags] == ["RAN_DURING_REST"]


def test_vector_q4_no_counts_as_no_soreness():
    assert soreness_rules(Answers(N, N, None, pre_session="no"))[1] == "ADVANCE_OK"


def test_vector_two_drops_at_level_3_within_10_days():
    rows = [("06-01", P, None, None), ("06-08", R, "returned", N)]
    days = [(_d(r[0]), None) for r in rows]
    out = decide_athlete("x", days, {_d(r[0]): Answers(*r[1:]) for r in rows},
                             default_program(), _d("05-01"), start_stage=3)
    assert out.decisions["stage_after"].tolist() == [2, 1]
    assert out.level == 1 and out.review == "2 drops within 14 days"


def test_missing_answers_never_advance():
    rows = [(f"07-{d:02d}", N, N, None) for d in (1, 3, 5, 8, 10, 12)]
    days = [(_d(r[0]), None) for r in rows]
    out = decide_athlete("x", days, {_d(r[0]): Answers(*r[1:]) for r in rows},
                             default_program(), _d("07-01"))
    assert set(out.decisions["verdict"]) == {"STAY"} and out.level == 1


def test_rest_does_not_stack():
    out = _run([("04-15", R, "returned", "non_muscular", "", "", 0, 1, 1, None)], start="04-01",
               start_stage=2)
    assert out.decisions.iloc[0]["days_off"] == 2
    assert out.rest_until == _d("04-17")


def test_no_checkin_is_an_explicit_cannot_decide():
    days = [(_d("08-01"), "a")]
    out = decide_athlete("x", days, {}, default_program(), _d("08-01"))
    row = out.decisions.iloc[0]
    assert row["verdict"] == "STAY" and row["rules"] == "M"
    assert row["reason"].startswith("Cannot decide: no check-in")


@pytest.mark.parametrize(("pain", "gate"), [((3, 2, 1), "green"), ((4, 2, 1), "amber"),
                                             ((2, 6, 1), "red"), ((None, None, None), "green")])
def test_pain_gate(pain, gate):
    assert pain_gate(Answers(N, N, N, None, *pain), RuleConfig())[0] == gate


def test_advance_needs_a_completed_stage():
    rows = [(f"04-{d:02d}", N, N, N) for d in (1, 3, 5, 8, 10, 12)]
    days = [(_d(r[0]), f"a{i}") for i, r in enumerate(rows)]
    out = decide_athlete("x", days, {_d(r[0]): Answers(*r[1:]) for r in rows},
                             default_program(), _d("04-01"),
                             completed=lambda activity, stage: activity in ("a4", "a5"))
    assert out.decisions["verdict"].tolist()[-1] == "ADVANCE"
    assert out.decisions["stage_after"].tolist() == [1, 1, 1, 1, 1, 2]
