"""The decision engine: an athlete's session days walked through the return-to-run state
machine (spec §3.4–3.5, §4.4–4.5).

For each session day it applies the soreness rules (:mod:`pipeline.soreness`), the
progression gates (pain ceiling, swelling, stiffness, increasing pain), the programme's repeat
rule (S3), one change a week (S4) and the clinician-review state, and writes one decision row
that says what it read and why the athlete advanced or did not. After the last stage the
athlete enters the post-programme phase (S5–S6): run days a week grow toward the goal one
step a week, then distance, one variable at a time.

States (spec §4.5): READY/RESTING at a level, REVIEW (no advance until a person acknowledges
the review; DROPs still apply), and the post-programme phase.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from pipeline.athletes import Athlete
from pipeline.config import RuleConfig
from pipeline.program import Program
from pipeline.rules import make_flag
from pipeline.soreness import RULES, SRC_UD, Answers, Gate, progression_gates, soreness_rules
from schemas import Decisions

__all__ = ["DECISION_COLUMNS", "Progress", "SessionDay", "athlete_config", "decide_athlete"]

DECISION_COLUMNS = list(Decisions.to_schema().columns)
SRC_REVIEW = "Comeback safety rule (spec §4.4), not from the UD table"
SRC_POST = "OhioHealth: 3 → 4–5 run days a week, ≤ 2 days in a row for 6 weeks [R39]; S6 [R32,R39]"


def athlete_config(athlete: Athlete | None, base: RuleConfig) -> RuleConfig:
    """The rule thresholds for one athlete: the roster's settings over ``base``."""
    if athlete is None:
        return base
    changes: dict[str, Any] = {}
    if athlete.run_days_limit is not None:
        changes["max_run_days_per_7"] = athlete.run_days_limit
    if athlete.pain_ceiling is not None:
        changes["pain_green_max"] = athlete.pain_ceiling
    if athlete.frequency_goal is not None:
        changes["frequency_goal"] = athlete.frequency_goal
    return replace(base, **changes) if changes else base


@dataclass(frozen=True)
class SessionDay:
    """One session day the engine decides: its first session, and what kind it was."""

    date: dt.date
    activity_id: str | None
    kind: str = "run"  # "run" or "walk" (walks count only at a walking stage)
    cadence_spm: float | None = None
    distance_m: float | None = None


@dataclass
class Progress:
    """Decisions, flags, and the athlete's state after the last session day."""

    decisions: pd.DataFrame
    flags: list[dict[str, object]]
    level: int
    rest_until: dt.date | None
    last_run: dt.date | None
    review: str | None = None  # the open review's reason; None when none is open
    review_since: dt.date | None = None
    counted: int = 0
    last_change: dt.date | None = None
    phase: str = "programme"
    run_days_limit: int = 3
    volume_steps: int = 0
    post_start: dt.date | None = None
    next_change: str | None = None  # the variable the post phase changes next (S6)


def _fmt_answer(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class _Engine:
    """The state of one athlete's walk through their session days."""

    def __init__(self, athlete_id: str, program: Program, program_start: dt.date,
                 start_stage: int, cfg: RuleConfig,
                 completed: Callable[[str | None, int], bool | None] | None,
                 acknowledged: Sequence[dt.date], cadence_target: float | None) -> None:
        self.aid, self.program, self.cfg = athlete_id, program, cfg
        self.completed, self.acks = completed, sorted(acknowledged)
        self.cadence_target = cadence_target
        self.level = min(max(start_stage, 1), program.last)
        self.rest_until: dt.date | None = None
        self.last_change, self.counted = program_start, 0
        self.drops: list[dt.date] = []
        self.review: str | None = None
        self.review_since: dt.date | None = None
        self.phase, self.freq, self.volume_steps = "programme", cfg.max_run_days_per_7, 0
        self.post_start: dt.date | None = None
        self.last_change_before = program_start
        self.run_days: list[dt.date] = []
        self.rows: list[dict[str, object]] = []
        self.flags: list[dict[str, object]] = []

    # -- state changes ----------------------------------------------------------------------
    def _close_review(self, day: dt.date) -> str | None:
        """Close the open review when a person acknowledged it on or before ``day``."""
        if self.review is None or self.review_since is None:
            return None
        acks = [a for a in self.acks if self.review_since <= a <= day]
        if not acks:
            return None
        closed, self.review, self.review_since = self.review, None, None
        return f"review ({closed}) acknowledged on {acks[0]}"

    def _drop(self, day: dt.date, days_off: int) -> list[str]:
        review = []
        if self.phase == "post_programme":  # one level down from the post phase: the last stage
            self.phase, self.freq, self.volume_steps = "programme", self.cfg.max_run_days_per_7, 0
        else:
            if self.level == 1:
                review.append("drop requested at level 1")
            self.level = max(1, self.level - 1)
        self.counted, self.last_change = 0, day
        self.drops.append(day)
        if sum((day - d).days <= 14 for d in self.drops) >= 2:
            review.append("2 drops within 14 days")
        self.rest_until = max(filter(None, [self.rest_until, day + dt.timedelta(days=days_off)]))
        return review

    def _hold(self, day: dt.date, days_off: int, q4_day: dt.date | None) -> None:
        reported = q4_day or day + dt.timedelta(days=1)
        self.rest_until = max(filter(None, [self.rest_until,
                                            reported + dt.timedelta(days=days_off - 1)]))

    def _advance(self, sd: SessionDay, days: int) -> str:
        """An eligible, completed session: count it and advance when S3/S4 allow. After the
        programme a step also needs the prescription met: as many run days in the last 7 as
        prescribed (frequency), or the prescribed distance (volume)."""
        cfg, counted, day = self.cfg, self.counted, sd.date
        pain = f"pain ≤ {cfg.pain_green_max:g}"
        wait = (f"{counted} of {cfg.min_completions} clean completions, {days} of "
                f"{cfg.min_days_between_advances} days since last change")
        if counted < cfg.min_completions or days < cfg.min_days_between_advances:
            where = (f" (post-programme, {self.freq} run days a week)"
                     if self.phase == "post_programme" else "")
            return f"stay at stage {self.level}{where}: {wait}"
        why = f"{counted} clean completions, {days} days since last change, {pain}"
        self.last_change_before = self.last_change
        self.last_change, self.counted = day, 0
        if self.phase == "programme" and self.level < self.program.last:
            self.level += 1
            return f"advance to stage {self.level}: {why}"
        if self.phase == "programme":
            self.phase, self.post_start = "post_programme", day
            return (f"programme completed: {why}; the post-programme phase starts at "
                    f"{self.freq} run days a week")
        week = len(self.run_days) - bisect.bisect_right(self.run_days, day - dt.timedelta(days=7))
        if self.freq < cfg.frequency_goal:
            if week < self.freq:
                self.last_change, self.counted = self.last_change_before, counted
                return (f"stay post-programme at {self.freq} run days a week: {week} of "
                        f"{self.freq} run days in the last 7 days")
            self.freq += 1
            return f"frequency up to {self.freq} run days a week: {why}"
        target = self._distance_m()
        if (sd.distance_m or 0.0) < 0.95 * target:
            self.last_change, self.counted = self.last_change_before, counted
            return (f"stay post-programme at {target / 1000:.2f} km a session: this session "
                    f"covered {(sd.distance_m or 0.0) / 1000:.2f} km")
        self.volume_steps += 1
        km = self._distance_m() / 1000.0
        return f"distance up {cfg.volume_step:.0%} to {km:.2f} km a session: {why}"

    def _distance_m(self) -> float:
        stage = self.program.stage(self.program.last)
        return (stage.total_m or 0.0) * (1.0 + self.cfg.volume_step) ** self.volume_steps

    @property
    def next_change(self) -> str | None:
        if self.phase != "post_programme":
            return None
        return "frequency" if self.freq < self.cfg.frequency_goal else "volume"

    # -- one session day -------------------------------------------------------------------
    def step(self, sd: SessionDay, a: Answers, checked_in: bool, q4_day: dt.date | None,
             baseline: float | None) -> None:
        day, activity = sd.date, sd.activity_id
        before, days = self.level, (day - self.last_change).days
        if sd.kind == "run":
            self.run_days.append(day)
        acknowledged = self._close_review(day)
        blocked = self.rest_until is not None and day <= self.rest_until
        if blocked:
            self.flags.append(make_flag(self.aid, day, activity, "RAN_DURING_REST", "alert",
                                        "Ran on a day the soreness rules said to rest.",
                                        f"session on {day}; rest until {self.rest_until}", SRC_UD))
        fired, verdict, days_off = soreness_rules(a)
        gates = progression_gates(a, baseline, self.cfg)
        for g in gates:
            self.flags.append(make_flag(self.aid, day, activity, g.rule_id, g.severity, g.message,
                                        g.evidence, g.source, g.value, g.threshold))
        words = "; ".join(RULES[r][3] for r in fired)
        if not checked_in:
            words = ("cannot decide: no check-in was recorded for this session, so 'no "
                     "soreness' cannot be confirmed")
        review: list[str] = []
        if verdict == "DROP":
            review = self._drop(day, days_off)
            explanation = (f"drop to stage {self.level}: {words}; {days_off} day(s) off, rest "
                           f"until {self.rest_until}")
        elif verdict == "HOLD":
            self._hold(day, days_off, q4_day)
            explanation = f"held at stage {self.level}: {words}; rest until {self.rest_until}"
        elif verdict == "STAY":
            explanation = f"stay at stage {self.level}: {words}"
        else:
            verdict, explanation, fired = self._eligible(sd, blocked, gates, days, fired)
        if review:
            self.review = "; ".join(review) if self.review is None else self.review
            self.review_since = self.review_since or day
            for item in review:
                self.flags.append(make_flag(
                    self.aid, day, activity, "CLINICIAN_REVIEW", "alert",
                    f"Clinician review advised: {item}.",
                    f"drops on {', '.join(str(d) for d in self.drops[-3:])}", SRC_REVIEW))
            explanation += (f"; clinician review advised ({'; '.join(review)}): no advance until "
                            "it is acknowledged")
        if acknowledged:
            explanation = f"{acknowledged}; {explanation}"
        self.rows.append(self._row(sd, verdict, fired, days_off, before, days, review,
                                   _reason(words, verdict, self, days, days_off, explanation), a, baseline,
                                   explanation))

    def _eligible(self, sd: SessionDay, blocked: bool, gates: list[Gate], days: int,
                  fired: list[str]) -> tuple[str, str, list[str]]:
        """An ADVANCE_OK soreness verdict: held by a gate, the review or a rest day, or
        counted toward S3 (and perhaps advanced)."""
        held = [g.words for g in gates]
        if blocked:
            held.append(f"ran during a rest day (rest until {self.rest_until})")
        if self.review is not None:
            held.append(f"clinician review open since {self.review_since} ({self.review}); "
                        "acknowledge it to continue")
        if held:  # the soreness verdict stands (eligible); the gates keep it from counting
            return "ADVANCE_OK", f"held at stage {self.level}: " + "; ".join(held), \
                fired + [g.rule_id for g in gates]
        done = (self.completed(sd.activity_id, self.level)
                if self.completed and self.phase == "programme" else None)
        if done is False:
            return "ADVANCE_OK", (f"stay at stage {self.level}: no soreness, but the session did "
                                  f"not complete stage {self.level} as prescribed"), fired
        self.counted += 1
        level, phase, freq, steps = self.level, self.phase, self.freq, self.volume_steps
        explanation = self._advance(sd, days)
        changed = (level, phase, freq, steps) != (self.level, self.phase, self.freq,
                                                  self.volume_steps)
        return ("ADVANCE" if changed else "ADVANCE_OK"), explanation, fired

    def _row(self, sd: SessionDay, verdict: str, fired: list[str], days_off: int, before: int,
             days: int, review: list[str], reason: str, a: Answers, baseline: float | None,
             explanation: str) -> dict[str, object]:
        inputs = "; ".join([
            f"warm-up {_fmt_answer(a.warmup)}", f"during {_fmt_answer(a.during)}",
            f"next day {_fmt_answer(a.next_day)}"
            + (f" (Q4 before the next session: {a.pre_session})" if a.pre_session else ""),
            f"pain {_fmt_answer(a.pain_during)}/{_fmt_answer(a.pain_after)}/"
            f"{_fmt_answer(a.pain_next_morning)} (during/after/next morning), baseline "
            f"{_fmt_answer(baseline)}",
            f"swelling {_fmt_answer(a.swelling)}", f"stiffness {_fmt_answer(a.stiffness)}",
            f"{self.counted} of {self.cfg.min_completions} completions counted at stage "
            f"{self.level}", f"{days} days since last change",
            f"{sd.kind} session at stage {before}"])
        return {"athlete_id": self.aid, "date": pd.Timestamp(sd.date),
                "activity_id": sd.activity_id, "verdict": verdict, "rules": ",".join(fired),
                "days_off": int(days_off),
                "rest_until": pd.Timestamp(self.rest_until)
                if verdict in ("DROP", "HOLD") and self.rest_until else pd.NaT,
                "stage_before": before, "stage_after": self.level,
                "review": "; ".join(review) or None, "reason": reason,
                "phase": self.phase, "run_days_limit": self.freq, "completions": self.counted,
                "days_since_change": days, "in_review": self.review is not None,
                "cadence_spm": sd.cadence_spm, "cadence_target_spm": self.cadence_target,
                "inputs": inputs, "explanation": explanation[0].upper() + explanation[1:] + "."}


def _reason(words: str, verdict: str, e: _Engine, days: int, days_off: int,
            explanation: str) -> str:
    """The soreness rules' own words and action (the decision's short reason)."""
    if verdict == "ADVANCE_OK" and explanation.startswith("held"):
        return f"{words[0].upper()}{words[1:]}; {explanation}."
    action = {
        "DROP": f"{days_off} day(s) off, then stage {e.level}",
        "HOLD": f"rest until {e.rest_until}, stay at stage {e.level}",
        "STAY": f"stay at stage {e.level}",
        "ADVANCE_OK": f"eligible; stay at stage {e.level} ({e.counted} of "
                      f"{e.cfg.min_completions} completions, {days} of "
                      f"{e.cfg.min_days_between_advances} days)",
        "ADVANCE": f"advance to stage {e.level}" if e.phase == "programme"
        else f"post-programme: {e.freq} run days a week",
    }[verdict]
    return f"{words[0].upper()}{words[1:]}: {action}."


def decide_athlete(athlete_id: str, session_days: Iterable[SessionDay | tuple[dt.date, str | None]],
                   answers: Mapping[dt.date, Answers], program: Program,
                   program_start: dt.date, start_stage: int = 1,
                   config: RuleConfig | None = None,
                   completed: Callable[[str | None, int], bool | None] | None = None,
                   pre_session: Mapping[dt.date, str] | None = None, *,
                   acknowledged: Sequence[dt.date] = (),
                   cadence_target: float | None = None) -> Progress:
    """Walk an athlete's session days through the state machine.

    Args:
        session_days: each session day (or ``(date, activity_id)`` for a run), any order.
            Walks are decided only while the athlete is at a walking stage; otherwise they
            are not running and not part of the programme.
        answers: check-in per session date.
        completed: ``completed(activity_id, stage)`` says whether the session completed the
            prescribed stage (None = unknown, counted as completed when soreness is clean).
        pre_session: Q4 answers by date ("yes"/"no"), used when Q3 of the previous session
            is unanswered.
        acknowledged: dates on which a person acknowledged a clinician review.
        cadence_target: the athlete's cadence target in steps per minute, if any.
    """
    cfg = config or RuleConfig()
    e = _Engine(athlete_id, program, program_start, start_stage, cfg, completed, acknowledged,
                cadence_target)
    days = sorted((d if isinstance(d, SessionDay) else SessionDay(d[0], d[1])
                   for d in session_days), key=lambda d: d.date)
    q4_all = sorted((pre_session or {}).items())
    q4_dates = [d for d, _ in q4_all]
    # The baseline: the last next-morning pain recorded before each session (bisect, not a scan).
    mornings = sorted((d, a.pain_next_morning) for d, a in answers.items()
                      if a.pain_next_morning is not None)
    morning_dates = [d for d, _ in mornings]
    decided: list[dt.date] = []
    for k, sd in enumerate(days):
        if sd.kind == "walk" and not program.stage(e.level).is_walk:
            continue
        next_date = days[k + 1].date if k + 1 < len(days) else None
        # Q4 answered after this session, up to the next one, is about this session only.
        i = bisect.bisect_right(q4_dates, sd.date)
        q4_day, q4_answer = q4_all[i] if i < len(q4_all) and (
            next_date is None or q4_all[i][0] <= next_date) else (None, None)
        a = replace(answers.get(sd.date, Answers()), pre_session=q4_answer)
        j = bisect.bisect_left(morning_dates, sd.date)
        baseline = mornings[j - 1][1] if j else None
        e.step(sd, a, sd.date in answers, q4_day, baseline)
        decided.append(sd.date)
    if e.review is not None and e.review_since is not None and any(
            a >= e.review_since for a in e.acks):
        e.review, e.review_since = None, None
    frame = pd.DataFrame(e.rows, columns=DECISION_COLUMNS)
    progress = Progress(decisions=frame, flags=e.flags, level=e.level, rest_until=e.rest_until,
                        last_run=decided[-1] if decided else None, review=e.review,
                        review_since=e.review_since, counted=e.counted,
                        last_change=e.last_change, phase=e.phase, run_days_limit=e.freq,
                        volume_steps=e.volume_steps, post_start=e.post_start,
                        next_change=e.next_change)
    return progress
