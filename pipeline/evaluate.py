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

import pandas as pd

from pipeline.athletes import Athlete
from pipeline.config import RuleConfig
from pipeline.errors import ProgramError
from pipeline.load import daily_load, running_sessions
from pipeline.program import (
    Program,
    default_program,
    load_program,
    next_run_date,
    program_file,
    stage_compliance,
)
from pipeline.rules import FLAG_COLUMNS, program_flags, progression_flags
from pipeline.session import IntervalStructure, interval_structure
from pipeline.soreness import Answers, run_soreness_rules
from schemas import Decisions, Flags, NextSessions

__all__ = ["NEXT_SESSION_COLUMNS", "Evaluation", "evaluate"]

NEXT_SESSION_COLUMNS = list(NextSessions.to_schema().columns)


@dataclass(frozen=True)
class Evaluation:
    """Everything the second flow computes, as validated tables."""

    daily_load: pd.DataFrame
    decisions: pd.DataFrame
    flags: pd.DataFrame
    next_sessions: pd.DataFrame


def _answers(row: Mapping[Any, Any]) -> Answers:
    def val(key: str) -> object:
        v = row.get(key)
        return None if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA else v

    # Q4 (``pre_session``) is not part of the day's own answers: it is asked before a
    # session about the one before it, and reaches the rules only through the Q4 mapping.
    return Answers(**{k: val(k) for k in ("warmup", "during", "next_day", "pain_during",  # type: ignore[arg-type]
                                          "pain_after", "pain_next_morning")})



def _program_for(athlete: Athlete, program_dir: Path | None,
                 cache: dict[str, Program]) -> Program:
    path = program_file(athlete, program_dir)
    if path is None:
        return cache.setdefault("", default_program())
    if str(athlete.program) not in cache:
        cache[str(athlete.program)] = load_program(path)
    return cache[str(athlete.program)]


def _undecided(athlete_id: str, day: pd.Timestamp, why: str) -> dict[str, object]:
    return {"athlete_id": athlete_id, "date": day, "activity_id": None, "verdict": "UNDECIDED",
            "rules": None, "days_off": 0, "rest_until": pd.NaT, "stage_before": 1,
            "stage_after": 1, "review": None, "reason": f"Cannot decide because {why}."}


def evaluate(sessions: pd.DataFrame, segments: pd.DataFrame, checkins: pd.DataFrame,
             roster: Mapping[str, Athlete], *, config: RuleConfig | None = None,
             overrides: Mapping[str, RuleConfig] | None = None, program_dir: Path | None = None,
             unrecorded: pd.DataFrame | None = None, today: dt.date | None = None) -> Evaluation:
    """Load history, decisions, flags and next sessions for every athlete with data.

    Args:
        sessions / segments / checkins: The store's tables (Sessions, Segments, CheckIns).
        roster: athletes.csv by athlete id.
        overrides: per-athlete RuleConfig.
        program_dir: where relative program file names in the roster are found.
        today: for the next-session date; defaults to the last data day.
    """
    base_cfg = config or RuleConfig()
    daily = daily_load(sessions, unrecorded=unrecorded)
    flag_rows: list[dict[str, object]] = []
    progression = progression_flags(sessions, daily, base_cfg, overrides)
    decisions: list[dict[str, Any]] = []
    nexts: list[dict[str, Any]] = []
    runs_all = running_sessions(sessions)
    programs: dict[str, Program] = {}
    athletes = sorted(set(runs_all["athlete_id"]) | set(roster))
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
            program = _program_for(athlete, program_dir, programs)
        except ProgramError as exc:
            decisions.append(_undecided(aid, last_day, f"the program file is invalid ({exc})"))
            nexts.append({"athlete_id": aid, "status": "undecided", "why": str(exc)})
            continue
        seg = segments[segments["activity_id"].isin(runs["activity_id"])]
        structures: dict[str, IntervalStructure] = {
            str(a): interval_structure(g) for a, g in seg.groupby("activity_id")}
        mine = checkins[checkins["athlete_id"] == aid] if len(checkins) else checkins
        answers = {pd.Timestamp(r["date"]).date(): _answers(r) for r in mine.to_dict("records")}
        pre = {pd.Timestamp(r["date"]).date(): r["pre_session"] for r in mine.to_dict("records")
               if isinstance(r.get("pre_session"), str)}
        days: dict[dt.date, str] = {}
        for r in runs.to_dict("records"):
            days.setdefault(pd.Timestamp(r["local_date"]).date(), r["activity_id"])

        def completed(activity: str | None, stage_no: int,
                      _p: Program = program, _s: Mapping[str, IntervalStructure] = structures) -> bool | None:
            st = _s.get(activity or "")
            return None if st is None else stage_compliance(st, _p.stage(stage_no)).completed

        outcome = run_soreness_rules(aid, list(days.items()), answers, program,
                                     athlete.program_start, athlete.start_stage, cfg, completed,
                                     pre)
        decisions.extend(outcome.decisions.to_dict("records"))  # type: ignore[arg-type]
        flag_rows.extend(outcome.flags)
        flag_rows.extend(program_flags(aid, runs, outcome.decisions, program, structures, cfg))
        stage = program.stage(outcome.level)
        when = next_run_date(outcome.last_run, outcome.rest_until,
                             cfg.min_rest_days_between_runs) or athlete.program_start
        last = outcome.decisions.iloc[-1] if len(outcome.decisions) else None
        why = last["reason"] if last is not None else "Program start: no session yet."
        if outcome.review:
            why += f" Clinician review advised ({outcome.review}) before continuing."
        nexts.append({"athlete_id": aid, "status": "review" if outcome.review else "ready",
                      "date": pd.Timestamp(when), "stage": stage.number,
                      "prescription": stage.describe(), "run_s": stage.run_s,
                      "walk_s": stage.walk_s, "repeats": stage.repeats, "total_m": stage.total_m,
                      "target_rpe": stage.target_rpe, "why": why})
        if not len(runs):
            decisions.append(_undecided(aid, pd.Timestamp(athlete.program_start),
                                        "no running session has been recorded yet"))
    flags = pd.concat([progression, pd.DataFrame(flag_rows, columns=FLAG_COLUMNS)],
                      ignore_index=True) if flag_rows else progression
    flags = flags.sort_values(["athlete_id", "date", "rule_id"], kind="stable").reset_index(drop=True)
    dec = pd.DataFrame(decisions, columns=list(Decisions.to_schema().columns))
    return Evaluation(daily_load=daily, decisions=Decisions.validate(dec),
                      flags=Flags.validate(flags),
                      next_sessions=NextSessions.validate(
                          pd.DataFrame(nexts, columns=NEXT_SESSION_COLUMNS)))


