"""Evaluate the squad: load history, soreness decisions, every flag, and the next session.

This is the second half of the night: it reads only tables (sessions, segments, check-ins,
roster) and returns validated tables. It is pure, so analysts can call it from a notebook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.athletes import Athlete
from pipeline.config import RuleConfig
from pipeline.decide import Progress, SessionDay, athlete_config, decide_athlete
from pipeline.errors import ProgramError
from pipeline.load import cross_training_daily, daily_load, running_sessions, walking_sessions
from pipeline.program import Program, next_run_date, program_for, stage_compliance
from pipeline.readiness import daily_readiness
from pipeline.rules import FLAG_COLUMNS, program_flags, progression_flags, readiness_flags
from pipeline.session import IntervalStructure, interval_structure
from pipeline.soreness import Answers
from schemas import Decisions, Flags, NextSessions

__all__ = ["NEXT_SESSION_COLUMNS", "Evaluation", "evaluate"]

NEXT_SESSION_COLUMNS = list(NextSessions.to_schema().columns)
_ANSWER_FIELDS = ("warmup", "during", "next_day", "pain_during", "pain_after",
                  "pain_next_morning", "swelling", "stiffness")


@dataclass(frozen=True)
class Evaluation:
    """Everything the second flow computes, as validated tables."""

    daily_load: pd.DataFrame
    decisions: pd.DataFrame
    flags: pd.DataFrame
    next_sessions: pd.DataFrame
    cross_training: pd.DataFrame  # CrossTrainingDaily: never part of daily_load by default
    readiness: pd.DataFrame  # Readiness: one row per day with a reading

    def tables(self) -> dict[str, pd.DataFrame]:
        """The derived tables by their store names."""
        return {"daily_load": self.daily_load, "decisions": self.decisions,
                "flags": self.flags, "next_sessions": self.next_sessions,
                "cross_training_daily": self.cross_training, "readiness": self.readiness}


def _answers(row: Mapping[Any, Any]) -> Answers:
    def val(key: str) -> object:
        v = row.get(key)
        if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
            return None
        return bool(v) if isinstance(v, bool | np.bool_) else v

    # Q4 (``pre_session``) is not part of the day's own answers: it is asked before a
    # session about the one before it, and reaches the rules only through the Q4 mapping.
    return Answers(**{k: val(k) for k in _ANSWER_FIELDS})  # type: ignore[arg-type]


def _undecided(athlete_id: str, day: pd.Timestamp, why: str) -> dict[str, object]:
    return {"athlete_id": athlete_id, "date": day, "activity_id": None, "verdict": "UNDECIDED",
            "rules": None, "days_off": 0, "rest_until": pd.NaT, "stage_before": 1,
            "stage_after": 1, "review": None, "reason": f"Cannot decide because {why}.",
            "explanation": f"Cannot decide: {why}."}


def cadence_target_spm(athlete: Athlete, runs: pd.DataFrame) -> float | None:
    """The athlete's cadence target: absolute, or the rise over their baseline (the median
    running cadence of their first 3 sessions with cadence)."""
    if athlete.cadence_target is None:
        return None
    cadences = runs.sort_values("start_utc")["cadence_spm_median"].dropna()
    baseline = float(cadences.head(3).median()) if len(cadences) else None
    return athlete.cadence_target.resolve(baseline)


def _session_days(runs: pd.DataFrame, walks: pd.DataFrame) -> list[SessionDay]:
    """One SessionDay per date (its first session); a run day is never a walk day."""
    days: dict[dt.date, SessionDay] = {}
    for kind, frame in (("run", runs), ("walk", walks)):
        for r in frame.sort_values("start_utc").to_dict("records"):
            day = pd.Timestamp(r["local_date"]).date()
            cadence, distance = r.get("cadence_spm_median"), r.get("distance_m")
            days.setdefault(day, SessionDay(day, r["activity_id"], kind,
                                            None if pd.isna(cadence) else float(cadence),
                                            None if pd.isna(distance) else float(distance)))
    return list(days.values())


def _decide(athlete: Athlete, start: dt.date, program: Program, cfg: RuleConfig,
            runs: pd.DataFrame, walks: pd.DataFrame, segments: pd.DataFrame,
            checkins: pd.DataFrame, reviews: pd.DataFrame | None,
            ) -> tuple[Progress, dict[str, IntervalStructure]]:
    """One athlete's sessions, check-ins and acknowledgements through the decision engine."""
    aid = athlete.athlete_id
    seg = segments[segments["activity_id"].isin(runs["activity_id"])
                   | segments["activity_id"].isin(walks["activity_id"])]
    structures: dict[str, IntervalStructure] = {
        str(a): interval_structure(g) for a, g in seg.groupby("activity_id")}
    mine = checkins[checkins["athlete_id"] == aid] if len(checkins) else checkins
    answers = {pd.Timestamp(r["date"]).date(): _answers(r) for r in mine.to_dict("records")}
    pre = {pd.Timestamp(r["date"]).date(): r["pre_session"] for r in mine.to_dict("records")
           if isinstance(r.get("pre_session"), str)}
    acks = [] if reviews is None or not len(reviews) else [
        pd.Timestamp(t).date() for t in reviews.loc[reviews["athlete_id"] == aid,
                                                    "acknowledged_utc"]]

    def completed(activity: str | None, stage_no: int) -> bool | None:
        st = structures.get(activity or "")
        return None if st is None else stage_compliance(st, program.stage(stage_no)).completed

    outcome = decide_athlete(aid, _session_days(runs, walks), answers, program, start,
                             athlete.start_stage, cfg, completed, pre, acknowledged=acks,
                             cadence_target=cadence_target_spm(athlete, runs))
    return outcome, structures


def _next_session(aid: str, start: dt.date, program: Program, p: Progress,
                  cfg: RuleConfig) -> dict[str, Any]:
    """The next prescribed session, and the sentence that says why."""
    stage = program.stage(p.level)
    when = next_run_date(p.last_run, p.rest_until, cfg.min_rest_days_between_runs) or start
    last = p.decisions.iloc[-1] if len(p.decisions) else None
    why = last["explanation"] if last is not None else "Programme start: no session yet."
    if p.review:
        why += (f" Clinician review advised since {p.review_since} ({p.review}): the programme "
                "stays at this stage until a person acknowledges it.")
    prescription, total_m = stage.describe(), stage.total_m
    if p.phase == "post_programme":
        total_m = (stage.total_m or 0.0) * (1.0 + cfg.volume_step) ** p.volume_steps
        guard = p.post_start + dt.timedelta(weeks=cfg.post_guard_weeks) if p.post_start else None
        prescription = (f"Post-programme: {p.run_days_limit} run days a week, each a continuous "
                        f"{total_m / 1000:.2f} km at easy effort; no more than "
                        f"{cfg.post_days_in_row} days in a row until {guard}. Next change: "
                        + ("one more run day a week" if p.next_change == "frequency"
                           else f"distance +{cfg.volume_step:.0%}") + " after a clean week.")
    return {"athlete_id": aid, "status": "review" if p.review else "ready",
            "date": pd.Timestamp(when), "stage": stage.number, "prescription": prescription,
            "run_s": stage.run_s, "walk_s": stage.walk_s, "repeats": stage.repeats,
            "total_m": total_m, "target_rpe": stage.target_rpe, "why": why, "phase": p.phase,
            "run_days_per_week": p.run_days_limit, "change": p.next_change}


def evaluate(sessions: pd.DataFrame, segments: pd.DataFrame, checkins: pd.DataFrame,
             roster: Mapping[str, Athlete], *, config: RuleConfig | None = None,
             overrides: Mapping[str, RuleConfig] | None = None, program_dir: Path | None = None,
             unrecorded: pd.DataFrame | None = None, today: dt.date | None = None,
             reviews: pd.DataFrame | None = None,
             readiness: pd.DataFrame | None = None) -> Evaluation:
    """Load history, decisions, flags and next sessions for every athlete with data.

    Args:
        sessions / segments / checkins: The store's tables (Sessions, Segments, CheckIns).
        roster: athletes.csv by athlete id.
        overrides: per-athlete RuleConfig.
        program_dir: where relative program file names in the roster are found.
        reviews: the store's Reviews (clinician-review acknowledgements).
        readiness: the Readiness table (:func:`pipeline.readiness.daily_readiness`).
        today: for the next-session date; defaults to the last data day.
    """
    base_cfg = config or RuleConfig()
    daily = daily_load(sessions, unrecorded=unrecorded, cross_training_in_load=[
        a for a, athlete in roster.items() if athlete.cross_training_in_load])
    flag_rows: list[dict[str, object]] = []
    readiness = readiness if readiness is not None else daily_readiness(pd.DataFrame())
    progression = pd.concat([progression_flags(sessions, daily, base_cfg, overrides),
                             readiness_flags(readiness, sessions, base_cfg)], ignore_index=True)
    decisions: list[dict[str, Any]] = []
    nexts: list[dict[str, Any]] = []
    runs_all, walks_all = running_sessions(sessions), walking_sessions(sessions)
    programs: dict[str, Program] = {}
    athletes = sorted(set(runs_all["athlete_id"]) | set(walks_all["athlete_id"]) | set(roster))
    for aid in athletes:
        cfg = (overrides or {}).get(aid, base_cfg)
        runs = runs_all[runs_all["athlete_id"] == aid].sort_values("start_utc")
        athlete = roster.get(aid)
        last_day = pd.Timestamp(runs["local_date"].max()) if len(runs) else pd.Timestamp(
            today or dt.date.today())
        if athlete is None or athlete.program_start is None:
            why = ("the athlete is not in the roster" if athlete is None
                   else "the roster gives no program start for this athlete")
            decisions.append(_undecided(aid, last_day, why))
            nexts.append({"athlete_id": aid, "status": "undecided", "why": f"Cannot decide: {why}."})
            continue
        try:
            program = program_for(athlete, program_dir, programs)
        except ProgramError as exc:
            decisions.append(_undecided(aid, last_day, f"the program file is invalid ({exc})"))
            nexts.append({"athlete_id": aid, "status": "undecided", "why": str(exc)})
            continue
        cfg = athlete_config(athlete, cfg)
        walks = walks_all[walks_all["athlete_id"] == aid]
        outcome, structures = _decide(athlete, athlete.program_start, program, cfg, runs, walks,
                                      segments, checkins, reviews)
        decisions.extend(outcome.decisions.to_dict("records"))  # type: ignore[arg-type]
        flag_rows.extend(outcome.flags)
        flag_rows.extend(program_flags(aid, runs, outcome.decisions, program, structures, cfg))
        nexts.append(_next_session(aid, athlete.program_start, program, outcome, cfg))
        if not len(outcome.decisions):
            decisions.append(_undecided(aid, pd.Timestamp(athlete.program_start),
                                        "no running session has been recorded yet"))
    flags = pd.concat([progression, pd.DataFrame(flag_rows, columns=FLAG_COLUMNS)],
                      ignore_index=True) if flag_rows else progression
    flags = flags.sort_values(["athlete_id", "date", "rule_id"], kind="stable").reset_index(drop=True)
    dec = pd.DataFrame(decisions, columns=list(Decisions.to_schema().columns))
    return Evaluation(daily_load=daily, decisions=Decisions.validate(dec),
                      flags=Flags.validate(flags),
                      next_sessions=NextSessions.validate(
                          pd.DataFrame(nexts, columns=NEXT_SESSION_COLUMNS)),
                      cross_training=cross_training_daily(sessions), readiness=readiness)


