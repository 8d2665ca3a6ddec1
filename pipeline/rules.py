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

from schemas import DailyLoad, Flags

__all__ = [
    "FLAG_COLUMNS",
    "RULESET_VERSION",
    "RuleConfig",
    "acwr_label",
    "daily_load",
    "make_flag",
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


def _rolling_sum(values: np.ndarray, pos: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Rolling sum over contiguous athlete blocks (``pos`` = position inside the block)."""
    csum = np.concatenate([[0.0], np.cumsum(values, dtype="float64")])
    i = np.arange(len(values))
    lo = np.maximum(i + 1 - window, i - pos)  # never reach into the previous athlete
    out = csum[i + 1] - csum[lo]
    return np.where(np.minimum(pos + 1, window) >= min_periods, out, np.nan)


def _shift_in_block(values: np.ndarray, pos: np.ndarray, k: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    out[k:] = values[:-k] if k else values
    return np.where(pos >= k, out, np.nan)


def _calendar(runs: pd.DataFrame, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Every athlete × day from the athlete's first run, sessions summed (zero on rest days)."""
    dated = runs.assign(date=pd.to_datetime(runs["local_date"]).dt.normalize())
    grouped = dated.groupby(["athlete_id", "date"], sort=True)
    sums = grouped.agg(
        n_sessions=("activity_id", "size"), run_min=("load_run_min", "sum"),
        duration_min=("load_duration_min", "sum"), distance_km=("load_distance_km", "sum"),
        distance_m=("distance_m", "sum"), srpe_au=("srpe_au", "sum"),
        trimp=("trimp_banister", "sum"))
    # A day whose sessions all lack sRPE (or TRIMP) has none, not zero.
    counts = grouped[["srpe_au", "trimp_banister"]].count()
    sums["srpe_au"] = sums["srpe_au"].where(counts["srpe_au"].to_numpy() > 0)
    sums["trimp"] = sums["trimp"].where(counts["trimp_banister"].to_numpy() > 0)
    span = dated.groupby("athlete_id", sort=True)["date"].agg(["min", "max"])
    if until is not None:
        span["max"] = span["max"].where(span["max"] >= until, until)
    lengths = ((span["max"] - span["min"]).dt.days + 1).to_numpy()
    athletes = np.repeat(span.index.to_numpy(), lengths)
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    dates = np.repeat(span["min"].to_numpy(), lengths) + pos.astype("timedelta64[D]")
    index = pd.MultiIndex.from_arrays([athletes, pd.DatetimeIndex(dates)],
                                      names=["athlete_id", "date"])
    cal = sums.reindex(index)
    zero = ["n_sessions", "run_min", "duration_min", "distance_km", "distance_m"]
    cal[zero] = cal[zero].fillna(0)
    return cal.reset_index().assign(pos=pos)


def _ratios(cal: pd.DataFrame, column: str, acute_days: int = 7,
            chronic_days: int = 28) -> dict[str, np.ndarray]:
    """The three ratio variants of spec §1 for every athlete at once (same as compute_acwr)."""
    load = cal[column].to_numpy(dtype="float64")
    pos = cal["pos"].to_numpy()
    acute = _rolling_sum(load, pos, acute_days, acute_days)
    total = _rolling_sum(load, pos, chronic_days, chronic_days)
    weeks = chronic_days / acute_days
    grouped = cal.groupby("athlete_id", sort=False)[column]  # blocks are contiguous: order kept
    ewm_a = grouped.ewm(alpha=2 / (acute_days + 1), adjust=False).mean()
    ewm_c = grouped.ewm(alpha=2 / (chronic_days + 1), adjust=False).mean()
    warm = pos < chronic_days - 1
    out: dict[str, np.ndarray] = {"acute": acute}
    for name, a, c in (("uncoupled", acute, (total - acute) / (weeks - 1)),
                       ("coupled", acute, total / weeks),
                       ("ewma", ewm_a.to_numpy(), ewm_c.to_numpy())):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(warm | ~(c > 0), np.nan, a / c)
        out[f"{name}_chronic"] = c
        out[f"{name}_no_chronic"] = ~warm & ~(np.nan_to_num(c) > 0)
    out["warm"] = warm
    return out


def daily_load(sessions: pd.DataFrame, *, unrecorded: pd.DataFrame | None = None,
               until: pd.Timestamp | None = None, phase1_weekly_min: float | None = None,
               config: RuleConfig | None = None) -> pd.DataFrame:
    """One row per athlete per local day from the first tracked day (spec §0, §1).

    Rest days are zero; several sessions on a day are summed; days the athlete marked as
    "ran but not recorded" (``unrecorded``: athlete_id, date) stay zero but every ratio whose
    window contains one is low-confidence. Ratios are on running minutes (spec §2.6); the
    same numbers as :func:`pipeline.load.compute_acwr`, computed for all athletes at once.
    """
    cols = list(DailyLoad.to_schema().columns)
    runs = running_sessions(sessions)
    if runs.empty:
        return DailyLoad.validate(pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
                                  .astype({"n_sessions": int, "unrecorded": bool,
                                           "low_confidence": bool}))
    cal = _calendar(runs, until)
    r = _ratios(cal, "run_min")
    marked = np.zeros(len(cal), dtype=bool)
    if unrecorded is not None and not unrecorded.empty:
        keys = set(zip(unrecorded["athlete_id"], pd.to_datetime(unrecorded["date"]), strict=True))
        marked = np.array([k in keys for k in zip(cal["athlete_id"], cal["date"], strict=True)])
    low = _rolling_sum(marked.astype(float), cal["pos"].to_numpy(), 28, 1) > 0
    if phase1_weekly_min:
        low |= np.nan_to_num(r["uncoupled_chronic"], nan=np.inf) < (config or RuleConfig()).low_chronic_fraction * phase1_weekly_min
    reason = pd.Series(None, index=cal.index, dtype="object")
    reason[r["uncoupled_no_chronic"]] = "no_chronic_load"
    reason[r["warm"]] = "insufficient_history"
    out = cal.assign(
        n_sessions=cal["n_sessions"].astype(int), unrecorded=marked, acute=r["acute"],
        chronic=r["uncoupled_chronic"], ratio_uncoupled=r["uncoupled"],
        ratio_coupled=r["coupled"], ratio_ewma=r["ewma"],
        ratio_reason=reason, low_confidence=low)
    return DailyLoad.validate(out[cols])


def spike_table(sessions: pd.DataFrame, value: str = "distance_m",
                config: RuleConfig | None = None) -> pd.DataFrame:
    """Single-session spike per session (spec §3.3), all athletes at once.

    ``baseline`` is the largest ``value`` among runs that started in the previous 30 days,
    the session itself excluded. Returns columns activity_id, athlete_id, date, value,
    baseline, rel, category (none/small/moderate/large/no_baseline), baseline_partial.
    """
    cfg = config or RuleConfig()
    runs = running_sessions(sessions).sort_values(["athlete_id", "start_utc"], kind="stable")
    runs = runs.reset_index(drop=True).assign(_v=lambda f: f[value].astype("float64"))
    # Rows are sorted by athlete then start, and groupby(sort=False) keeps that order, so the
    # rolling result (indexed by athlete and start) lines up with ``runs`` row for row.
    base = (runs.groupby("athlete_id", sort=False)
            .rolling(f"{cfg.spike_window_days}D", on="start_utc", closed="left")["_v"].max()
            .to_numpy())
    v = runs["_v"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.round(v / base - 1, 9)
    category = np.select(
        [np.isnan(base), rel <= cfg.spike_small, rel <= cfg.spike_moderate,
         rel <= cfg.spike_large], ["no_baseline", "none", "small", "moderate"], "large")
    first = runs.groupby("athlete_id", sort=False)["start_utc"].transform("min")
    return pd.DataFrame({
        "activity_id": runs["activity_id"].to_numpy(), "athlete_id": runs["athlete_id"].to_numpy(),
        "date": pd.to_datetime(runs["local_date"]).to_numpy(), "value": v, "baseline": base,
        "rel": np.where(np.isnan(base), np.nan, rel), "category": category,
        "baseline_partial": ((runs["start_utc"] - first)
                             < pd.Timedelta(days=cfg.spike_window_days)).to_numpy()})


def weekly_progression(sessions: pd.DataFrame, config: RuleConfig | None = None) -> pd.DataFrame:
    """Weekly distance progression at each session date (spec §3.2), all athletes at once.

    ``w_cur`` = distance in [d−6, d], ``w_prev`` in [d−13, d−7]; category ``<10%``,
    ``10-30%``, ``>30%``, ``no_baseline`` (w_prev = 0) or ``insufficient_history`` (< 14 days).
    """
    cfg = config or RuleConfig()
    runs = running_sessions(sessions)
    columns = ["athlete_id", "date", "w_cur", "w_prev", "progression", "category"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    cal = _calendar(runs)
    pos = cal["pos"].to_numpy()
    cur = _rolling_sum(cal["distance_m"].to_numpy(dtype="float64"), pos, 7, 1)
    prev = _shift_in_block(cur, pos, 7)
    day = (cal["n_sessions"] > 0).to_numpy()
    c, p, hist = cur[day], prev[day], pos[day]
    with np.errstate(divide="ignore", invalid="ignore"):
        prog = np.round(c / p - 1, 9)
    category = np.select(
        [hist < 14, ~(p > 0), prog < cfg.week_info, prog <= cfg.week_caution],
        ["insufficient_history", "no_baseline", "<10%", "10-30%"], ">30%")
    ok = (hist >= 14) & (p > 0)
    return pd.DataFrame({"athlete_id": cal["athlete_id"].to_numpy()[day],
                         "date": cal["date"].to_numpy()[day],
                         "w_cur": np.where(hist >= 14, c, np.nan),
                         "w_prev": np.where(hist >= 14, p, np.nan),
                         "progression": np.where(ok, prog, np.nan), "category": category})


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
