"""Progression rules on an athlete's load history (spec §1.6, §3.1–3.3, §3.6).

Everything is a flag or a suggestion, not a diagnosis. ACWR only ever produces an
information flag, in neutral words (spec §1.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.load import compute_acwr
from schemas import DailyLoad, Flags

__all__ = [
    "FLAG_COLUMNS",
    "RULESET_VERSION",
    "RuleConfig",
    "acwr_label",
    "daily_load",
    "progression_flags",
    "running_sessions",
    "spike_table",
    "weekly_progression",
]

RULESET_VERSION = "comeback-rules-1"
FLAG_COLUMNS = ["athlete_id", "date", "activity_id", "rule_id", "severity", "message",
                "evidence", "value", "threshold", "source", "rule_version"]

SRC_SPIKE = "Frandsen et al. 2025, Br J Sports Med (Garmin-RUNSAFE) [R24]"
SRC_WEEK30 = "Nielsen et al. 2014, J Orthop Sports Phys Ther [R26]"
SRC_WEEK10 = "10 % rule; no effect in Buist et al. 2008 RCT [R25] (information only)"
SRC_ACWR = "Hulin 2014/2016, Gabbett 2016; criticised by Impellizzeri 2020/2021 [R1,R2,R4,R11,R12]"


@dataclass(frozen=True)
class RuleConfig:
    """Every threshold of the rules, with its source. Override per athlete with ``replace``.

    Attributes:
        spike_small / spike_moderate / spike_large: relative increase over the longest run of
            the previous 30 days above which a session is a small / moderate / large spike
            (Frandsen 2025: >10 %, >30 %, >100 %; boundaries belong to the lower class).
        spike_window_days: baseline window (30 days, Frandsen 2025).
        week_info / week_caution: weekly progression above which WEEK_GT10 (10 % rule, info)
            and WEEK_GT30 (Nielsen 2014, caution) fire.
        acwr_info: uncoupled ACWR above which ACWR_HIGH (information only) fires (≈ coupled 1.5).
        min_rest_days_between_runs: S1, one full rest day between runs (Crowell 2023).
        max_run_days_per_7: S2, three runs per rolling 7 days (UD allows 4).
        min_completions: S3, each stage completed at least twice (Crowell 2023).
        min_days_between_advances: S4, one stage advance per 7 days (UD soreness rules).
        pain_green_max / pain_amber_max: S8 pain gate (UW Health ≤ 3/10; 4–5 repeat; > 5 stop).
        rpe_tolerance: S7, session RPE ≤ stage target + 1.
        low_chronic_fraction: chronic below this share of phase-1 weekly load → low confidence.
    """

    spike_small: float = 0.10
    spike_moderate: float = 0.30
    spike_large: float = 1.00
    spike_window_days: int = 30
    week_info: float = 0.10
    week_caution: float = 0.30
    acwr_info: float = 1.80
    min_rest_days_between_runs: int = 1
    max_run_days_per_7: int = 3
    min_completions: int = 2
    min_days_between_advances: int = 7
    pain_green_max: float = 3.0
    pain_amber_max: float = 5.0
    rpe_tolerance: float = 1.0
    low_chronic_fraction: float = 0.25


def acwr_label(uncoupled: float | None) -> str | None:
    """Neutral wording for an uncoupled ratio (spec §1.6 rule 2); None when undefined."""
    if uncoupled is None or np.isnan(uncoupled):
        return None
    if uncoupled < 0.75:
        return "below your recent load"
    if uncoupled <= 1.44:
        return "similar to recent"
    if uncoupled <= 1.80:
        return "above recent"
    return "well above recent"


def running_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions that count as running load: not duplicates, and running (or an unnamed sport
    in which running was detected, e.g. a truncated file that lost its session message)."""
    s = sessions[sessions["duplicate_of"].isna()]
    return s[(s["sport"] == "running") | ((s["sport"] == "unknown") & (s["run_s"] > 0))]


def daily_load(sessions: pd.DataFrame, *, unrecorded: pd.DataFrame | None = None,
               until: pd.Timestamp | None = None, phase1_weekly_min: float | None = None,
               ) -> pd.DataFrame:
    """One row per athlete per local day from the first tracked day (spec §0, §1).

    Rest days are zero; several sessions on a day are summed; days the athlete marked as
    "ran but not recorded" (``unrecorded``: athlete_id, date) stay zero but every ratio whose
    window contains one is low-confidence. Ratios are on running minutes (spec §2.6).
    """
    runs = running_sessions(sessions)
    frames = []
    for athlete, s in runs.groupby("athlete_id", sort=True):
        dates = pd.to_datetime(s["local_date"])
        last = max(dates.max(), until) if until is not None else dates.max()
        days = pd.date_range(dates.min(), last, freq="D")
        sums = s.assign(date=dates).groupby("date").agg(
            n_sessions=("activity_id", "size"), run_min=("load_run_min", "sum"),
            duration_min=("load_duration_min", "sum"), distance_km=("load_distance_km", "sum"),
            srpe_au=("srpe_au", lambda x: x.sum(min_count=1)),
            trimp=("trimp_banister", lambda x: x.sum(min_count=1)))
        day = sums.reindex(days)
        day[["n_sessions", "run_min", "duration_min", "distance_km"]] = day[
            ["n_sessions", "run_min", "duration_min", "distance_km"]].fillna(0)
        day.index.name = "date"
        marked = pd.Series(False, index=days)
        if unrecorded is not None and not unrecorded.empty:
            mine = pd.to_datetime(unrecorded.loc[unrecorded["athlete_id"] == athlete, "date"])
            marked = pd.Series(days.isin(mine), index=days)
        ratios = {m: compute_acwr(day["run_min"], m) for m in ("uncoupled", "coupled", "ewma")}
        unc = ratios["uncoupled"]
        low = marked.rolling(28, min_periods=1).max().astype(bool)
        if phase1_weekly_min:
            low |= unc["chronic"].fillna(np.inf) < 0.25 * phase1_weekly_min
        frames.append(day.reset_index().assign(
            athlete_id=athlete, unrecorded=marked.to_numpy(),
            acute=unc["acute"].to_numpy(), chronic=unc["chronic"].to_numpy(),
            ratio_uncoupled=unc["ratio"].to_numpy(), ratio_coupled=ratios["coupled"]["ratio"].to_numpy(),
            ratio_ewma=ratios["ewma"]["ratio"].to_numpy(), ratio_reason=unc["reason"].to_numpy(),
            low_confidence=low.to_numpy()))
    cols = list(DailyLoad.to_schema().columns)
    if not frames:
        return DailyLoad.validate(pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
                                  .astype({"n_sessions": int, "unrecorded": bool,
                                           "low_confidence": bool}))
    out = pd.concat(frames, ignore_index=True)
    out["n_sessions"] = out["n_sessions"].astype(int)
    return DailyLoad.validate(out[cols])


def spike_table(sessions: pd.DataFrame, value: str = "distance_m",
                config: RuleConfig | None = None) -> pd.DataFrame:
    """Single-session spike per session (spec §3.3), vectorised per athlete.

    ``baseline`` is the largest ``value`` among runs that started in the previous 30 days,
    the session itself excluded. Returns columns activity_id, athlete_id, date, value,
    baseline, rel, category (none/small/moderate/large/no_baseline), baseline_partial.
    """
    cfg = config or RuleConfig()
    runs = running_sessions(sessions).sort_values("start_utc")
    out = []
    for _, s in runs.groupby("athlete_id", sort=False):
        series = pd.Series(s[value].to_numpy(dtype="float64"),
                           index=pd.DatetimeIndex(s["start_utc"]))
        base = series.rolling(f"{cfg.spike_window_days}D", closed="left").max().to_numpy()
        first = s["start_utc"].iloc[0]
        rel = np.round(series.to_numpy() / base - 1, 9)
        category = np.select(
            [np.isnan(base), rel <= cfg.spike_small, rel <= cfg.spike_moderate,
             rel <= cfg.spike_large], ["no_baseline", "none", "small", "moderate"], "large")
        out.append(pd.DataFrame({
            "activity_id": s["activity_id"].to_numpy(), "athlete_id": s["athlete_id"].to_numpy(),
            "date": pd.to_datetime(s["local_date"]).to_numpy(), "value": series.to_numpy(),
            "baseline": base, "rel": np.where(np.isnan(base), np.nan, rel), "category": category,
            "baseline_partial": ((s["start_utc"] - first) < pd.Timedelta(
                days=cfg.spike_window_days)).to_numpy()}))
    if not out:
        return pd.DataFrame(columns=["activity_id", "athlete_id", "date", "value", "baseline",
                                     "rel", "category", "baseline_partial"])
    return pd.concat(out, ignore_index=True)


def weekly_progression(sessions: pd.DataFrame, config: RuleConfig | None = None) -> pd.DataFrame:
    """Weekly distance progression at each session date (spec §3.2).

    ``w_cur`` = distance in [d−6, d], ``w_prev`` in [d−13, d−7]; category ``<10%``,
    ``10-30%``, ``>30%``, ``no_baseline`` (w_prev = 0) or ``insufficient_history`` (< 14 days).
    """
    cfg = config or RuleConfig()
    runs = running_sessions(sessions)
    out = []
    for athlete, s in runs.groupby("athlete_id", sort=True):
        dates = pd.to_datetime(s["local_date"])
        daily = s.assign(date=dates).groupby("date")["distance_m"].sum()
        daily = daily.reindex(pd.date_range(daily.index.min(), daily.index.max()), fill_value=0)
        cur = daily.rolling(7, min_periods=1).sum()
        prev = cur.shift(7)
        days = pd.DatetimeIndex(sorted(dates.unique()))
        hist = (days - daily.index.min()).days
        c, p = cur.reindex(days).to_numpy(), prev.reindex(days).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            prog = np.round(c / p - 1, 9)
        category = np.select(
            [hist < 14, ~(p > 0), prog < cfg.week_info, prog <= cfg.week_caution],
            ["insufficient_history", "no_baseline", "<10%", "10-30%"], ">30%")
        ok = (hist >= 14) & (p > 0)
        out.append(pd.DataFrame({"athlete_id": athlete, "date": days,
                                 "w_cur": np.where(hist >= 14, c, np.nan),
                                 "w_prev": np.where(hist >= 14, p, np.nan),
                                 "progression": np.where(ok, prog, np.nan),
                                 "category": category}))
    if not out:
        return pd.DataFrame(columns=["athlete_id", "date", "w_cur", "w_prev", "progression",
                                     "category"])
    return pd.concat(out, ignore_index=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")  # type: ignore[return-value]


def _km(m: float) -> str:
    return f"{m / 1000:.1f} km"


def _flag(athlete: str, date: pd.Timestamp, activity: str | None, rule: str, severity: str,
          message: str, evidence: str, value: float | None, threshold: float | None,
          source: str) -> dict[str, object]:
    return {"athlete_id": athlete, "date": pd.Timestamp(date), "activity_id": activity,
            "rule_id": rule, "severity": severity, "message": message, "evidence": evidence,
            "value": value, "threshold": threshold, "source": source,
            "rule_version": RULESET_VERSION}


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FLAG_COLUMNS})


def progression_flags(sessions: pd.DataFrame, daily: pd.DataFrame | None = None,
                      config: RuleConfig | None = None,
                      overrides: Mapping[str, RuleConfig] | None = None) -> pd.DataFrame:
    """Flags for spikes, weekly progression, the 10 % rule and ACWR (spec §3.6).

    Args:
        sessions: The Sessions layer.
        daily: The DailyLoad layer (for ACWR_HIGH); computed when None.
        config: Default thresholds; ``overrides`` maps athlete_id → its own RuleConfig.
    """
    base_cfg = config or RuleConfig()
    rows: list[dict[str, object]] = []
    athletes = running_sessions(sessions)["athlete_id"].unique()
    daily = daily if daily is not None else daily_load(sessions)
    for athlete in athletes:
        cfg = (overrides or {}).get(athlete, base_cfg)
        mine = sessions[sessions["athlete_id"] == athlete]
        spikes = spike_table(mine, "distance_m", cfg)
        for r in _records(spikes):
            if r['category'] == "no_baseline":
                rows.append(_flag(athlete, r['date'], r['activity_id'], "NO_BASELINE", "info",
                                  "No run in the previous 30 days: start at program stage 1.",
                                  f"{_km(r['value'])}; no run in the previous 30 days", r['value'],
                                  None, SRC_SPIKE))
            elif r['category'] in ("small", "moderate", "large"):
                partial = " (less than 30 days of history)" if r['baseline_partial'] else ""
                rows.append(_flag(
                    athlete, r['date'], r['activity_id'], f"SPIKE_{r['category'].upper()}",
                    "alert" if r['category'] == "large" else "caution",
                    f"This run was a {r['category']} spike: {r['rel']:+.0%} longer than the longest "
                    f"run of the previous 30 days{partial}.",
                    f"{_km(r['value'])} vs longest {_km(r['baseline'])} in the previous 30 days, "
                    f"{r['rel']:+.0%}", float(r['rel']),
                    {"small": cfg.spike_small, "moderate": cfg.spike_moderate,
                     "large": cfg.spike_large}[r['category']], SRC_SPIKE))
        for measure, label in (("run_distance_m", "running distance"), ("run_s", "running time")):
            alt = spike_table(mine, measure, cfg)
            for r in _records(alt[alt["category"].isin(["moderate", "large"])]):
                if not spikes.loc[spikes["activity_id"] == r['activity_id'], "category"].isin(
                        ["moderate", "large"]).any():
                    shown = (f"{r['value'] / 60:.0f} min vs longest {r['baseline'] / 60:.0f} min"
                             if measure == "run_s" else f"{_km(r['value'])} vs longest {_km(r['baseline'])}")
                    rows.append(_flag(
                        athlete, r['date'], r['activity_id'], f"SPIKE_{r['category'].upper()}", "caution",
                        f"Spike in {label} (not in total distance): {r['rel']:+.0%}.",
                        f"{shown} in the previous 30 days, {r['rel']:+.0%}", float(r['rel']),
                        cfg.spike_moderate, SRC_SPIKE + "; run-only variant [PRODUCT]"))
        for r in _records(weekly_progression(mine, cfg)):
            if r['category'] == ">30%":
                rows.append(_flag(athlete, r['date'], None, "WEEK_GT30", "caution",
                                  "Weekly distance rose by more than 30 %.",
                                  f"{_km(r['w_cur'])} in the last 7 days vs {_km(r['w_prev'])} the week "
                                  f"before, {r['progression']:+.0%}", float(r['progression']),
                                  cfg.week_caution, SRC_WEEK30))
            elif r['category'] == "10-30%" and r['progression'] > cfg.week_info:
                rows.append(_flag(athlete, r['date'], None, "WEEK_GT10", "info",
                                  "Weekly distance rose by more than 10 % (the 10 % rule; "
                                  "information only).",
                                  f"{_km(r['w_cur'])} vs {_km(r['w_prev'])}, {r['progression']:+.0%}",
                                  float(r['progression']), cfg.week_info, SRC_WEEK10))
        d = daily[(daily["athlete_id"] == athlete) & (daily["n_sessions"] > 0)]
        high = d[(d["ratio_uncoupled"] > cfg.acwr_info) & ~d["low_confidence"]]
        for r in _records(high):
            rows.append(_flag(
                athlete, r['date'], None, "ACWR_HIGH", "info",
                f"This week's running is {acwr_label(r['ratio_uncoupled'])} "
                "(acute:chronic ratio; information only).",
                f"acute {r['acute']:.0f} min (7 days) vs chronic {r['chronic']:.0f} min per week "
                f"(3 weeks before), ratio {r['ratio_uncoupled']:.2f}", float(r['ratio_uncoupled']),
                cfg.acwr_info, SRC_ACWR))
    if not rows:
        return Flags.validate(empty_flags())
    return Flags.validate(pd.DataFrame(rows, columns=FLAG_COLUMNS))
