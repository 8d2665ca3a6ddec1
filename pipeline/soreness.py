"""The University of Delaware soreness rules as a state machine (spec §4.3–4.5).

Each session day gets a decision from the athlete's answers: DROP (rest and go down a stage),
HOLD (rest a day, do not advance), STAY, ADVANCE_OK (eligible) or ADVANCE (the program's
repeat rule, one stage a week and the pain gate all allow it). Missing answers never advance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from pipeline.config import RuleConfig
from pipeline.program import Program
from pipeline.rules import make_flag
from schemas import Decisions

__all__ = ["RULES", "Answers", "SorenessOutcome", "pain_gate", "run_soreness_rules",
           "soreness_rules"]

SRC_UD = "University of Delaware soreness rules (Fees et al. 1998; Adams et al. 2012) [R35,R42]"
SRC_CHOP = "CHOP running progression after ACL surgery [R33]"
SRC_PAIN = "Pain gate S8: UW Health (Heiderscheit) ≤ 3/10; Silbernagel 2007 [R40,R41]"
SRC_REVIEW = "Comeback safety rule (spec §4.4), not from the UD table"

# rule: (verdict, days off, stage change, plain words, source)
RULES: dict[str, tuple[str, int, int, str, str]] = {
    "R1": ("DROP", 2, -1, "soreness in the warm-up that continued", SRC_UD),
    "R3": ("DROP", 2, -1, "soreness that went away in the warm-up came back during the session",
           SRC_UD),
    "X1": ("DROP", 1, -1, "soreness first appeared during the session", SRC_CHOP),
    "R4": ("HOLD", 1, 0, "soreness at the injured area the next day (not muscle soreness)",
           SRC_UD),
    "R2": ("STAY", 0, 0, "soreness in the warm-up that went away", SRC_UD),
    "R5": ("ADVANCE_OK", 0, 1, "no soreness", SRC_UD),
    "M": ("STAY", 0, 0, "answers are missing, so 'no soreness' cannot be confirmed",
          "Comeback rule: missing answers never advance [PRODUCT]"),
}
_PRECEDENCE = {"DROP": 3, "HOLD": 2, "STAY": 1, "ADVANCE_OK": 0}


@dataclass(frozen=True)
class Answers:
    """One session's check-in. None = not answered (never read as "none")."""

    warmup: str | None = None
    during: str | None = None
    next_day: str | None = None
    pre_session: str | None = None  # Q4 before the next session, when Q3 is unanswered
    pain_during: float | None = None
    pain_after: float | None = None
    pain_next_morning: float | None = None


def soreness_rules(a: Answers) -> tuple[list[str], str, int]:
    """Rules fired, verdict (most conservative wins) and days off (max, never summed)."""
    fired = []
    if a.warmup == "persisted":
        fired.append("R1")
    if a.warmup == "resolved" and a.during == "returned":
        fired.append("R3")
    if a.warmup == "none" and a.during == "new":
        fired.append("X1")
    if a.next_day == "non_muscular" or (a.next_day is None and a.pre_session == "yes"):
        fired.append("R4")
    if a.warmup == "resolved" and a.during in ("none", None):
        fired.append("R2")
    # Q4 before the next session stands in for an unanswered Q3 (spec §4.5).
    next_day = a.next_day if a.next_day is not None else {
        "no": "none", "yes": "non_muscular"}.get(a.pre_session or "")
    answered = None not in (a.warmup, a.during, next_day)
    if not fired and answered and next_day in ("none", "muscular"):
        fired.append("R5")
    if not answered and not any(RULES[r][0] == "DROP" for r in fired):
        fired.append("M")
    verdict = max((RULES[r][0] for r in fired), key=_PRECEDENCE.__getitem__)
    return fired, verdict, max(RULES[r][1] for r in fired)


def pain_gate(a: Answers, cfg: RuleConfig) -> tuple[str, float | None]:
    """S8: ``green`` (≤ 3/10), ``amber`` (4–5: repeat the stage) or ``red`` (> 5: stop).

    Missing pain scores are not evidence of pain: the gate stays green [PRODUCT].
    """
    values = [v for v in (a.pain_during, a.pain_after, a.pain_next_morning) if v is not None]
    worst = max(values, default=None)
    if worst is None or worst <= cfg.pain_green_max:
        return "green", worst
    return ("amber" if worst <= cfg.pain_amber_max else "red"), worst


@dataclass
class SorenessOutcome:
    """Decisions, flags and the state after the last session day."""

    decisions: pd.DataFrame
    flags: list[dict[str, object]]
    level: int
    rest_until: dt.date | None
    last_run: dt.date | None
    review: str | None = None
    counted: int = 0
    last_change: dt.date | None = None
    notes: list[str] = field(default_factory=list)



def run_soreness_rules(athlete_id: str, session_days: list[tuple[dt.date, str | None]],
                       answers: dict[dt.date, Answers], program: Program,
                       program_start: dt.date, start_stage: int = 1,
                       config: RuleConfig | None = None,
                       completed: Callable[[str | None, int], bool | None] | None = None,
                       pre_session: dict[dt.date, str] | None = None) -> SorenessOutcome:
    """Walk an athlete's session days through the soreness state machine.

    Args:
        session_days: (local date, activity id) of each running day, any order.
        answers: check-in per session date.
        completed: ``completed(activity_id, stage)`` says whether the session completed the
            prescribed stage (None = unknown, counted as completed when soreness is clean).
        pre_session: Q4 answers by date ("yes"/"no"), used when Q3 of the previous session
            is unanswered.
    """
    cfg = config or RuleConfig()
    level = min(max(start_stage, 1), program.last)
    rest_until: dt.date | None = None
    last_change, counted, drops = program_start, 0, []
    rows, flags = [], []
    review_open: str | None = None
    days = sorted(session_days)
    for k, (day, activity) in enumerate(days):
        next_day_date = days[k + 1][0] if k + 1 < len(days) else None
        # Q4 answered after this session, up to the next one, is about this session only.
        q4 = [(d, v) for d, v in sorted((pre_session or {}).items())
              if d > day and (next_day_date is None or d <= next_day_date)]
        q4_day, q4_answer = q4[0] if q4 else (None, None)
        a = replace(answers.get(day, Answers()), pre_session=q4_answer)
        before = level
        blocked = rest_until is not None and day <= rest_until
        if blocked:
            flags.append(make_flag(athlete_id, day, activity, "RAN_DURING_REST", "alert",
                               "Ran on a day the soreness rules said to rest.",
                               f"session on {day}; rest until {rest_until}", SRC_UD))
        fired, verdict, days_off = soreness_rules(a)
        gate, worst = pain_gate(a, cfg)
        if gate != "green":
            flags.append(make_flag(
                athlete_id, day, activity, "PAIN_GATE", "caution" if gate == "amber" else "alert",
                "Pain above 3/10: repeat this stage." if gate == "amber"
                else "Pain above 5/10: stop and follow the soreness rules.",
                f"worst pain {worst:g}/10 (during {a.pain_during}, after {a.pain_after}, "
                f"next morning {a.pain_next_morning})", SRC_PAIN, worst, cfg.pain_green_max))
        review = []
        if verdict == "DROP":
            if level == 1:
                review.append("drop requested at level 1")
            level = max(1, level - 1)
            counted, last_change = 0, day
            drops.append(day)
            if sum((day - d).days <= 14 for d in drops) >= 2:
                review.append("2 drops within 14 days")
            rest_until = max(filter(None, [rest_until, day + dt.timedelta(days=days_off)]))
        elif verdict == "HOLD":
            reported = q4_day or day + dt.timedelta(days=1)
            rest_until = max(filter(None, [rest_until,
                                           reported + dt.timedelta(days=days_off - 1)]))
        elif verdict == "ADVANCE_OK" and not blocked and gate == "green":
            done = completed(activity, level) if completed else None
            if done is not False:
                counted += 1
            # [PRODUCT] advance only after a session that itself completed the stage: a
            # session beyond or short of the prescription is never the one that advances.
            if (done is not False and counted >= cfg.min_completions
                    and (day - last_change).days >= cfg.min_days_between_advances
                    and level < program.last):
                verdict, level, last_change, counted = "ADVANCE", level + 1, day, 0
        for item in review:
            flags.append(make_flag(athlete_id, day, activity, "CLINICIAN_REVIEW", "alert",
                               f"Clinician review advised: {item}.",
                               f"drops on {', '.join(str(d) for d in drops[-3:])}", SRC_REVIEW))
        if review:
            review_open = "; ".join(review)
        words = "; ".join(RULES[r][3] for r in fired)
        if answers.get(day) is None:
            words = "cannot decide: no check-in was recorded for this session, so " \
                    "'no soreness' cannot be confirmed"
        action = {
            "DROP": f"{days_off} day(s) off, then stage {level}",
            "HOLD": f"rest until {rest_until}, stay at stage {level}",
            "STAY": f"stay at stage {level}",
            "ADVANCE_OK": f"eligible; stay at stage {level} ({counted} of "
                          f"{cfg.min_completions} completions, "
                          f"{(day - last_change).days} of {cfg.min_days_between_advances} days)",
            "ADVANCE": f"advance to stage {level}",
        }[verdict]
        if verdict == "ADVANCE_OK" and level == program.last:
            action = f"final stage {level} of the program reached"
        if blocked and verdict == "ADVANCE_OK":
            action = f"cannot advance (ran during rest); stay at stage {level}"
        rows.append({"athlete_id": athlete_id, "date": pd.Timestamp(day), "activity_id": activity,
                     "verdict": verdict, "rules": ",".join(fired),
                     "days_off": int(days_off), "rest_until": pd.Timestamp(rest_until)
                     if verdict in ("DROP", "HOLD") and rest_until else pd.NaT,
                     "stage_before": before, "stage_after": level,
                     "review": "; ".join(review) or None,
                     "reason": f"{words[0].upper()}{words[1:]}: {action}."})
    decisions = pd.DataFrame(rows, columns=list(Decisions.to_schema().columns))
    return SorenessOutcome(decisions=decisions, flags=flags, level=level, rest_until=rest_until,
                           last_run=days[-1][0] if days else None, review=review_open,
                           counted=counted, last_change=last_change)
