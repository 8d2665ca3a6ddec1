"""Flags: every rule a session or a day broke, with its evidence and source (spec §1.6, §3.1–3.6).

Load measures come from :mod:`pipeline.load`; the program's stage table from
:mod:`pipeline.program`. Everything is a flag or a suggestion, not a diagnosis. ACWR only
ever produces an information flag, in neutral words (spec §1.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import RuleConfig
from pipeline.load import acwr_label, daily_load, running_sessions, spike_table, weekly_progression
from pipeline.program import Program, Stage, stage_compliance
from pipeline.session import IntervalStructure
from schemas import Flags

__all__ = [
    "FLAG_COLUMNS",
    "RULESET_VERSION",
    "make_flag",
    "program_flags",
    "progression_flags",
    "readiness_flags",
]

RULESET_VERSION = "comeback-rules-1"
FLAG_COLUMNS = list(Flags.to_schema().columns)

SRC_SPIKE = "Frandsen et al. 2025, Br J Sports Med (Garmin-RUNSAFE) [R24]"
SRC_WEEK30 = "Nielsen et al. 2014, J Orthop Sports Phys Ther [R26]"
SRC_WEEK10 = "10 % rule; no effect in Buist et al. 2008 RCT [R25] (information only)"
SRC_ACWR = "Hulin 2014/2016, Gabbett 2016; criticised by Impellizzeri 2020/2021 [R1,R2,R4,R11,R12]"
SRC_PROGRAM = "Crowell et al. 2023, Trials, Table 1 rules [R27]"
SRC_FREQ = "UD: no more than 4 times a week, every other day [R34]; default 3 [PRODUCT]"
SRC_READINESS = ("[PRODUCT] morning resting HR and sleep as readiness signals; "
                 "information only, never a rule that stops a session")
SRC_POST = "OhioHealth: 3 → 4–5 run days a week, ≤ 2 days in a row for 6 weeks [R39]"


def make_flag(athlete: str, date: Any, activity: str | None, rule: str, severity: str,
              message: str, evidence: str, source: str, value: float | None = None,
              threshold: float | None = None) -> dict[str, object]:
    """One Flags row (the engines that emit flags one at a time use this)."""
    return {"athlete_id": athlete, "date": pd.Timestamp(date), "activity_id": activity,
            "rule_id": rule, "severity": severity, "message": message, "evidence": evidence,
            "value": value, "threshold": threshold, "source": source,
            "rule_version": RULESET_VERSION}


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FLAG_COLUMNS})


def _fmt(values: pd.Series | np.ndarray, pattern: str) -> pd.Series:
    """Format each value; an empty input stays a text column (so it concatenates)."""
    series = pd.Series(values).reset_index(drop=True)
    return series.map(pattern.format).astype("object") if len(series) else series.astype("object")


def _frame(athlete: Any, date: Any, activity: Any, rule: Any, severity: Any, message: Any,
           evidence: Any, value: Any, threshold: Any, source: str) -> pd.DataFrame:
    return pd.DataFrame({
        "athlete_id": np.asarray(athlete), "date": pd.to_datetime(np.asarray(date)),
        "activity_id": np.asarray(activity, dtype=object), "rule_id": np.asarray(rule),
        "severity": np.asarray(severity), "message": np.asarray(message, dtype=object),
        "evidence": np.asarray(evidence, dtype=object), "value": np.asarray(value, dtype=float),
        "threshold": np.asarray(threshold, dtype=float), "source": source,
        "rule_version": RULESET_VERSION})


def _flags_for(sessions: pd.DataFrame, daily: pd.DataFrame, cfg: RuleConfig) -> list[pd.DataFrame]:
    out = []
    sp = spike_table(sessions, "distance_m", cfg)
    nb = sp[sp["category"] == "no_baseline"]
    out.append(_frame(nb["athlete_id"], nb["date"], nb["activity_id"], "NO_BASELINE", "info",
                      "No run in the previous 30 days: start at program stage 1.",
                      _fmt(nb["value"] / 1000, "{:.1f} km; no run in the previous 30 days"),
                      nb["value"], np.nan, SRC_SPIKE))
    hit = sp[sp["category"].isin(["small", "moderate", "large"])].reset_index(drop=True)
    pct = _fmt(np.round(hit["rel"] * 100).astype(int), "{:+d}%")
    partial = pd.Series(np.where(hit["baseline_partial"], " (less than 30 days of history)", ""),
                        dtype="object")
    thresholds = hit["category"].map({"small": cfg.spike_small, "moderate": cfg.spike_moderate,
                                      "large": cfg.spike_large})
    out.append(_frame(
        hit["athlete_id"], hit["date"], hit["activity_id"], "SPIKE_" + hit["category"].str.upper(),
        np.where(hit["category"] == "large", "alert", "caution"),
        "This run was a " + hit["category"].astype("object") + " spike: " + pct + " longer than the longest "
        "run of the previous 30 days" + partial + ".",
        _fmt(hit["value"] / 1000, "{:.1f} km") + " vs longest "
        + _fmt(hit["baseline"] / 1000, "{:.1f} km") + " in the previous 30 days, " + pct,
        hit["rel"], thresholds, SRC_SPIKE))
    distance_spiked = set(hit.loc[hit["category"].isin(["moderate", "large"]), "activity_id"])
    for measure, label in (("run_distance_m", "running distance"), ("run_s", "running time")):
        alt = spike_table(sessions, measure, cfg)
        alt = alt[alt["category"].isin(["moderate", "large"])
                  & ~alt["activity_id"].isin(distance_spiked)].reset_index(drop=True)
        apct = _fmt(np.round(alt["rel"] * 100).astype(int), "{:+d}%")
        shown = (_fmt(alt["value"] / 60, "{:.0f} min") + " vs longest "
                 + _fmt(alt["baseline"] / 60, "{:.0f} min")) if measure == "run_s" else (
            _fmt(alt["value"] / 1000, "{:.1f} km") + " vs longest "
            + _fmt(alt["baseline"] / 1000, "{:.1f} km"))
        out.append(_frame(alt["athlete_id"], alt["date"], alt["activity_id"],
                          "SPIKE_" + alt["category"].str.upper(), "caution",
                          f"Spike in {label} (not in total distance): " + apct + ".",
                          shown + " in the previous 30 days, " + apct, alt["rel"],
                          cfg.spike_moderate, SRC_SPIKE + "; run-only variant [PRODUCT]"))
    wk = weekly_progression(sessions, cfg)
    for category, rule, severity, message, threshold, source in (
            (">30%", "WEEK_GT30", "caution", "Weekly distance rose by more than 30 %.",
             cfg.week_caution, SRC_WEEK30),
            ("10-30%", "WEEK_GT10", "info", "Weekly distance rose by more than 10 % (the 10 % "
             "rule; information only).", cfg.week_info, SRC_WEEK10)):
        w = wk[(wk["category"] == category) & (wk["progression"] > cfg.week_info)].reset_index(drop=True)
        wpct = _fmt(np.round(w["progression"] * 100).astype(int), "{:+d}%")
        evidence = (_fmt(w["w_cur"] / 1000, "{:.1f} km") + " in the last 7 days vs "
                    + _fmt(w["w_prev"] / 1000, "{:.1f} km") + " the week before, " + wpct
                    ) if rule == "WEEK_GT30" else (
            _fmt(w["w_cur"] / 1000, "{:.1f} km") + " vs " + _fmt(w["w_prev"] / 1000, "{:.1f} km")
            + ", " + wpct)
        out.append(_frame(w["athlete_id"], w["date"], None, rule, severity, message, evidence,
                          w["progression"], threshold, source))
    d = daily[(daily["n_sessions"] > 0) & (daily["ratio_uncoupled"] > cfg.acwr_info)
              & ~daily["low_confidence"]].reset_index(drop=True)
    labels = d["ratio_uncoupled"].map(acwr_label).astype("object")
    out.append(_frame(
        d["athlete_id"], d["date"], None, "ACWR_HIGH", "info",
        "This week's running is " + labels + " (acute:chronic ratio; information only).",
        _fmt(d["acute"], "acute {:.0f} min (7 days) vs chronic ") + _fmt(
            d["chronic"], "{:.0f} min per week (3 weeks before), ratio ")
        + _fmt(d["ratio_uncoupled"], "{:.2f}"), d["ratio_uncoupled"], cfg.acwr_info, SRC_ACWR))
    return out


def progression_flags(sessions: pd.DataFrame, daily: pd.DataFrame | None = None,
                      config: RuleConfig | None = None,
                      overrides: Mapping[str, RuleConfig] | None = None) -> pd.DataFrame:
    """Flags for spikes, weekly progression, the 10 % rule and ACWR (spec §3.6).

    Args:
        sessions: The Sessions layer.
        daily: The DailyLoad layer (for ACWR_HIGH); computed when None.
        config: Default thresholds; ``overrides`` maps athlete_id → its own RuleConfig.
    """
    base = config or RuleConfig()
    daily = daily if daily is not None else daily_load(sessions)
    overrides = dict(overrides or {})
    frames: list[pd.DataFrame] = []
    groups: dict[RuleConfig, list[str]] = {}
    for athlete in running_sessions(sessions)["athlete_id"].unique():
        groups.setdefault(overrides.get(athlete, base), []).append(athlete)
    for cfg, athletes in groups.items():  # one vectorised pass per distinct configuration
        frames += _flags_for(sessions[sessions["athlete_id"].isin(athletes)],
                             daily[daily["athlete_id"].isin(athletes)], cfg)
    frames = [f for f in frames if len(f)]
    if not frames:
        return Flags.validate(empty_flags())
    flags = pd.concat(frames, ignore_index=True)
    return Flags.validate(flags.sort_values(["athlete_id", "date", "rule_id"], kind="stable")
                          .reset_index(drop=True)[FLAG_COLUMNS])


def readiness_flags(readiness: pd.DataFrame, sessions: pd.DataFrame,
                    config: RuleConfig | None = None) -> pd.DataFrame:
    """On each run day: RESTING_HR_HIGH (resting heart rate ≥ 7 bpm over the median of the 7
    days before) and SLEEP_SHORT (under 6 h asleep the night before), both information."""
    cfg = config or RuleConfig()
    runs = running_sessions(sessions)
    if readiness.empty or runs.empty:
        return Flags.validate(empty_flags())
    first = runs.sort_values("start_utc").assign(
        date=pd.to_datetime(runs["local_date"]).dt.normalize()).drop_duplicates(
        ["athlete_id", "date"])[["athlete_id", "date", "activity_id"]]
    day = first.merge(readiness, on=["athlete_id", "date"])
    high = day[day["resting_hr_rise_bpm"] >= cfg.resting_hr_rise_bpm].reset_index(drop=True)
    short = day[day["sleep_h"] < cfg.sleep_short_h].reset_index(drop=True)
    frames = [
        _frame(high["athlete_id"], high["date"], high["activity_id"], "RESTING_HR_HIGH", "info",
               "Morning resting heart rate well above this athlete's recent days: ask how they "
               "feel before the session.",
               pd.Series([f"resting HR {r:.0f} bpm vs median {m:.0f} bpm of the 7 days before "
                          f"({d:+.0f} bpm)" for r, m, d in zip(
                              high["resting_hr_bpm"], high["resting_hr_median_7d_bpm"],
                              high["resting_hr_rise_bpm"], strict=True)], dtype="object"),
               high["resting_hr_rise_bpm"], cfg.resting_hr_rise_bpm, SRC_READINESS),
        _frame(short["athlete_id"], short["date"], short["activity_id"], "SLEEP_SHORT", "info",
               "A short night before a run day.",
               _fmt(short["sleep_h"], "{:.1f} h asleep the night before"),
               short["sleep_h"], cfg.sleep_short_h, SRC_READINESS)]
    flags = pd.concat([f for f in frames if len(f)] or [empty_flags()], ignore_index=True)
    return Flags.validate(flags[FLAG_COLUMNS])


def _schedule_flags(athlete: str, run_days: pd.DatetimeIndex, decisions: pd.DataFrame,
                    cfg: RuleConfig) -> list[dict[str, object]]:
    """S1/S5 days in a row and S2/S5 run days per rolling 7 days, each day judged by the
    phase and run-day limit in force before it (the decision of the previous session day)."""
    flags: list[dict[str, object]] = []
    dec = decisions.sort_values("date")
    dec_days = pd.DatetimeIndex(pd.to_datetime(dec["date"]))
    phases, limits = dec["phase"].tolist(), dec["run_days_limit"].tolist()
    post_start = dec_days[[i for i, p in enumerate(phases) if p == "post_programme"][:1]]
    for day in run_days:
        prior = int(dec_days.searchsorted(day, side="left")) - 1
        phase = phases[prior] if prior >= 0 and isinstance(phases[prior], str) else "programme"
        limit = limits[prior] if prior >= 0 and not pd.isna(limits[prior]) else None
        limit = int(limit) if limit is not None else cfg.max_run_days_per_7
        streak = 1
        while day - pd.Timedelta(days=streak) in run_days:
            streak += 1
        if phase == "programme" and streak >= 2:
            flags.append(make_flag(athlete, day, None, "CONSECUTIVE_DAYS", "caution",
                                   "Ran on two days in a row; the program asks for a rest day "
                                   "between runs.", f"runs on {(day - pd.Timedelta(days=1)).date()} "
                                   f"and {day.date()}", SRC_PROGRAM))
        elif (phase == "post_programme" and streak > cfg.post_days_in_row and len(post_start)
              and day < post_start[0] + pd.Timedelta(weeks=cfg.post_guard_weeks)):
            flags.append(make_flag(athlete, day, None, "CONSECUTIVE_DAYS", "caution",
                                   f"Ran {streak} days in a row; for the first "
                                   f"{cfg.post_guard_weeks} weeks after the programme, no more "
                                   f"than {cfg.post_days_in_row}.",
                                   f"runs on {streak} days to {day.date()}; programme completed "
                                   f"{post_start[0].date()}", SRC_POST, float(streak),
                                   float(cfg.post_days_in_row)))
        window = run_days[(run_days > day - pd.Timedelta(days=7)) & (run_days <= day)]
        if len(window) > limit:
            flags.append(make_flag(athlete, day, None, "FREQ_EXCEEDED", "caution",
                                   f"More than {limit} run days in 7 days.",
                                   f"{len(window)} run days between "
                                   f"{(day - pd.Timedelta(days=6)).date()} and {day.date()}"
                                   + (" (post-programme limit)" if phase == "post_programme" else ""),
                                   SRC_FREQ if phase == "programme" else SRC_POST,
                                   float(len(window)), float(limit)))
    return flags


def program_flags(athlete: str, runs: pd.DataFrame, decisions: pd.DataFrame, program: Program,
                  structures: Mapping[str, IntervalStructure],
                  cfg: RuleConfig) -> list[dict[str, object]]:
    """The program's schedule and stage rules on one athlete's runs (spec §3.4–3.6):
    CONSECUTIVE_DAYS (S1; S5 after the programme), FREQ_EXCEEDED (S2/S5), STAGE_EXCEEDED,
    ADVANCED_EARLY, INTENSITY_EARLY (S7) and WARMUP_SHORT (rule 1), each session judged
    against the stage its decision prescribed; after the programme no stage applies."""
    dates = pd.to_datetime(runs["local_date"]).dt.normalize()
    run_days = pd.DatetimeIndex(sorted(dates.unique()))
    flags = _schedule_flags(athlete, run_days, decisions, cfg)
    dec = decisions.sort_values("date")
    phase_before = dict(zip(dec["date"], dec["phase"].shift(1).fillna("programme"), strict=True))
    prescribed = dict(zip(decisions["date"], decisions["stage_before"], strict=True))
    for s in runs.to_dict("records"):
        day = pd.Timestamp(s["local_date"]).normalize()
        stage_no = prescribed.get(day)
        st = structures.get(s["activity_id"])
        if stage_no is None or st is None or phase_before.get(day) == "post_programme":
            continue
        stage = program.stage(int(stage_no))
        flags += _stage_flags(athlete, day, s, st, stage, program, cfg)
    return flags


def _stage_flags(athlete: str, day: pd.Timestamp, s: Mapping[Any, Any], st: IntervalStructure,
                 stage: Stage, program: Program, cfg: RuleConfig) -> list[dict[str, object]]:
    flags: list[dict[str, object]] = []
    comp = stage_compliance(st, stage)
    if comp.exceeded:
        flags.append(make_flag(athlete, day, s["activity_id"], "STAGE_EXCEEDED", "caution",
                               f"Did more than stage {stage.number} prescribes.",
                               f"{comp.evidence} ({stage.describe()})", SRC_PROGRAM))
    elif not comp.completed:
        higher = [h for h in program.stages[stage.number:] if stage_compliance(st, h).completed]
        if higher:
            flags.append(make_flag(athlete, day, s["activity_id"], "ADVANCED_EARLY", "caution",
                                   f"Ran stage {higher[0].number} while stage {stage.number} is "
                                   "prescribed.", f"{st.pattern}; {stage.describe()}", SRC_PROGRAM))
    rpe = s.get("rpe_cr10")
    if stage.target_rpe is not None and rpe is not None and not pd.isna(rpe) and (
            rpe > stage.target_rpe + cfg.rpe_tolerance):
        flags.append(make_flag(athlete, day, s["activity_id"], "INTENSITY_EARLY", "info",
                               "Ran harder than the stage's target effort.",
                               f"RPE {rpe:g} vs target {stage.target_rpe:g} (+{cfg.rpe_tolerance:g})",
                               "Crowell 2023 targets; S7 tolerance [PRODUCT]", float(rpe),
                               stage.target_rpe + cfg.rpe_tolerance))
    if (program.warmup_min_s is not None and not stage.is_walk and st.n_runs
            and st.warmup_s < program.warmup_min_s):
        flags.append(make_flag(athlete, day, s["activity_id"], "WARMUP_SHORT", "info",
                               f"Warm-up shorter than the programme's {program.warmup_min_s / 60:.0f} "
                               "min.", f"warm-up {st.warmup_s / 60:.1f} min before the first run; "
                               f"programme minimum {program.warmup_min_s / 60:.0f} min",
                               SRC_PROGRAM, st.warmup_s / 60.0, program.warmup_min_s / 60.0))
    return flags
