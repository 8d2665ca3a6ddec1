"""Load: per-session measures (spec §2) and each athlete's load history (spec §0–§1, §3.2–3.3).

Everything that turns sessions into a load history lives here: which sessions count as
running, the zero-filled daily calendar, the acute:chronic ratios (one implementation for
the whole squad and for an analyst's series), single-session spikes and weekly progression.
:mod:`pipeline.rules` turns these measures into flags.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import numpy as np
import pandas as pd

from pipeline.config import ACWR_ABOVE_BANDS, ACWR_BANDS, RuleConfig
from pipeline.errors import ArgumentError
from schemas import CrossTrainingDaily, DailyLoad

__all__ = [
    "BANISTER_CONSTANTS",
    "acwr_label",
    "banister_trimp",
    "compute_acwr",
    "cross_training_daily",
    "cross_training_sessions",
    "daily_load",
    "edwards_trimp",
    "rtss_approx",
    "running_sessions",
    "session_rpe",
    "spike_table",
    "walking_sessions",
    "weekly_progression",
]

# Morton et al. 1990 (spec §2.3): y = a·e^(b·x). The GoldenCheetah variant keeps a = 0.64
# for women and changes only b; it is available as "female_gc".
BANISTER_CONSTANTS = {"male": (0.64, 1.92), "female": (0.86, 1.67), "female_gc": (0.64, 1.67)}


def banister_trimp(hr_bpm: np.ndarray | pd.Series, dt_s: np.ndarray | pd.Series,
                   hr_rest_bpm: float, hr_max_bpm: float, sex: str) -> float:
    """Banister TRIMP integrated per sample (spec §2.3): Σ Δt_min · x · a·e^(b·x).

    Args:
        hr_bpm: Heart rate of each sample; missing samples contribute nothing.
        dt_s: Seconds each sample covers.
        sex: ``male``, ``female`` or ``female_gc``.

    Raises:
        ArgumentError: for any other ``sex``: no constants are applied silently.
    """
    if sex not in BANISTER_CONSTANTS:
        raise ArgumentError(f"no Banister constants for sex {sex!r}; choose one of "
                            f"{', '.join(BANISTER_CONSTANTS)}")
    a, b = BANISTER_CONSTANTS[sex]
    hr = np.asarray(hr_bpm, dtype="float64")
    dt_min = np.asarray(dt_s, dtype="float64") / 60.0
    x = np.clip((hr - hr_rest_bpm) / (hr_max_bpm - hr_rest_bpm), 0.0, 1.0)
    terms = dt_min * x * a * np.exp(b * x)
    return float(np.nansum(terms))


def edwards_trimp(hr_bpm: np.ndarray | pd.Series, dt_s: np.ndarray | pd.Series,
                  hr_max_bpm: float) -> float:
    """Edwards TRIMP (spec §2.4): minutes in 50–60 … 90–100 % HRmax weighted 1…5."""
    pct = np.asarray(hr_bpm, dtype="float64") / hr_max_bpm
    zone = np.floor((pct - 0.5) / 0.1) + 1  # lower bound inclusive, upper exclusive
    zone = np.where(pct >= 0.5, np.clip(zone, 1, 5), 0)
    return float(np.nansum(np.asarray(dt_s, dtype="float64") / 60.0 * zone))


def session_rpe(rpe_cr10: float | None, duration_min: float) -> float | None:
    """Foster session-RPE (spec §2.2): RPE (CR-10) × minutes; missing RPE → None, never imputed."""
    if rpe_cr10 is None or (isinstance(rpe_cr10, float) and np.isnan(rpe_cr10)):
        return None
    return float(rpe_cr10) * duration_min


def rtss_approx(duration_s: float, speed_mps: float, threshold_speed_mps: float) -> float:
    """rTSS-approx (spec §2.5) on flat speed: hours × IF² × 100 with IF = speed / threshold."""
    return duration_s / 3600.0 * (speed_mps / threshold_speed_mps) ** 2 * 100.0


Method = Literal["uncoupled", "coupled", "ewma"]


def compute_acwr(daily_load: pd.Series | pd.DataFrame, method: Method = "uncoupled",
                 acute_days: int = 7, chronic_days: int = 28, *, load_column: str = "load",
                 athlete_column: str = "athlete_id", date_column: str = "date") -> pd.DataFrame:
    """Acute:chronic workload ratio per day (spec §1).

    Args:
        daily_load: A date-indexed load Series, or a DataFrame with athlete, date and load
            columns (computed per athlete). A missing date is a rest day (load 0).
        method: ``uncoupled`` (default shown: the 3 weeks before the acute week), ``coupled``
            (4-week average including the acute week) or ``ewma`` (λ = 2/(N+1), seeded with
            the first day's load).

    Returns:
        Per day: ``load``, ``acute``, ``chronic``, ``ratio`` and ``reason``. The ratio is
        missing before ``chronic_days`` days of history (``insufficient_history``) and when
        chronic load is 0 (``no_chronic_load``); it is never infinite. For ``ewma``,
        acute and chronic are carried through the warm-up.

    Raises:
        ArgumentError: an unknown ``method``.
    """
    if method not in ("uncoupled", "coupled", "ewma"):
        raise ArgumentError(f"unknown ACWR method {method!r}")
    single = isinstance(daily_load, pd.Series)
    if isinstance(daily_load, pd.Series):
        frame = pd.DataFrame({"athlete_id": "", "date": pd.DatetimeIndex(daily_load.index),
                              "load": daily_load.to_numpy(dtype="float64")})
    else:
        frame = daily_load.rename(columns={athlete_column: "athlete_id", date_column: "date",
                                           load_column: "load"})
    cols = [athlete_column, date_column, "load", "acute", "chronic", "ratio", "reason"]
    if frame.empty:
        return pd.DataFrame(columns=cols[1:] if single else cols)
    sums = frame.assign(date=pd.to_datetime(frame["date"]), load=frame["load"].astype("float64"))
    cal = _zero_filled(sums.groupby(["athlete_id", "date"], sort=True)[["load"]].sum(), ["load"])
    r = _ratios(cal, "load", acute_days, chronic_days)
    reason = pd.Series(None, index=cal.index, dtype="object")
    reason[r[f"{method}_no_chronic"]] = "no_chronic_load"
    reason[r["warm"]] = "insufficient_history"
    out = pd.DataFrame({
        athlete_column: cal["athlete_id"], date_column: cal["date"], "load": cal["load"],
        "acute": r["ewma_acute"] if method == "ewma" else r["acute"],
        "chronic": r[f"{method}_chronic"], "ratio": r[method], "reason": reason})
    if single:
        return out.drop(columns=athlete_column).set_index(date_column)
    return out[cols]


def acwr_label(uncoupled: float | None) -> str | None:
    """Neutral wording for an uncoupled ratio (spec §1.6 rule 2); None when undefined."""
    if uncoupled is None or np.isnan(uncoupled):
        return None
    first_bound, first_label = ACWR_BANDS[0]
    if uncoupled < first_bound:
        return first_label
    for bound, label in ACWR_BANDS[1:]:
        if uncoupled <= bound:
            return label
    return ACWR_ABOVE_BANDS


def _of_kind(sessions: pd.DataFrame, kind: str) -> pd.DataFrame:
    return sessions[sessions["duplicate_of"].isna() & (sessions["kind"] == kind)]


def running_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions that count as running load: not duplicates, of kind ``run`` (the file says
    running, or an unnamed sport in which running was detected)."""
    return _of_kind(sessions, "run")


def walking_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Walks (kind ``walk``: walking or hiking, or a "run" that never reached running):
    never running load, but the sessions that complete a programme's walking stage."""
    return _of_kind(sessions, "walk")


def cross_training_sessions(sessions: pd.DataFrame) -> pd.DataFrame:
    """Cycling, swimming, rowing, elliptical, strength…: never running load."""
    return _of_kind(sessions, "cross_training")


def cross_training_daily(sessions: pd.DataFrame) -> pd.DataFrame:
    """Cross-training per athlete per day with sessions (``CrossTrainingDaily``).

    The day's load is TRIMP when every session of the day has a Banister TRIMP (heart rate
    and the athlete's values known), else sRPE when every one has an RPE, else minutes: one
    measure per day, never a sum of different units. Minutes are always given.
    """
    cross = cross_training_sessions(sessions)
    cols = list(CrossTrainingDaily.to_schema().columns)
    if cross.empty:
        return CrossTrainingDaily.validate(pd.DataFrame({c: pd.Series(dtype="object")
                                                         for c in cols}).astype({"n_sessions": int}))
    dated = cross.assign(date=pd.to_datetime(cross["local_date"]).dt.normalize())
    grouped = dated.groupby(["athlete_id", "date"], sort=True)
    day = grouped.agg(n_sessions=("activity_id", "size"),
                      duration_min=("load_duration_min", "sum"),
                      trimp=("trimp_banister", "sum"), srpe_au=("srpe_au", "sum"),
                      sports=("sport", lambda x: ", ".join(sorted(set(x)))))
    counts = grouped[["trimp_banister", "srpe_au"]].count()
    all_trimp = counts["trimp_banister"].to_numpy() == day["n_sessions"].to_numpy()
    all_srpe = counts["srpe_au"].to_numpy() == day["n_sessions"].to_numpy()
    day["trimp"] = day["trimp"].where(counts["trimp_banister"].to_numpy() > 0)
    day["srpe_au"] = day["srpe_au"].where(counts["srpe_au"].to_numpy() > 0)
    day["load_measure"] = np.select([all_trimp, all_srpe], ["trimp", "srpe"], "duration")
    day["load"] = np.select([all_trimp, all_srpe], [day["trimp"], day["srpe_au"]],
                            day["duration_min"])
    return CrossTrainingDaily.validate(day.reset_index()[cols])


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


def _zero_filled(sums: pd.DataFrame, zero: list[str],
                 until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Day sums indexed by (athlete_id, date) as every day of each athlete's span, from
    their first day (to ``until`` if later than their last); ``zero`` columns are 0 on the
    days without a row (rest days), the others missing. ``pos`` is the day's position in
    its athlete's block; blocks are contiguous, athletes in order."""
    dates_of = sums.index.get_level_values("date")
    span = pd.Series(dates_of, index=sums.index.get_level_values("athlete_id")).groupby(
        level=0, sort=True).agg(["min", "max"])
    if until is not None:
        span["max"] = span["max"].where(span["max"] >= until, until)
    lengths = ((span["max"] - span["min"]).dt.days + 1).to_numpy()
    athletes = np.repeat(span.index.to_numpy(), lengths)
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    dates = np.repeat(span["min"].to_numpy(), lengths) + pos.astype("timedelta64[D]")
    index = pd.MultiIndex.from_arrays([athletes, pd.DatetimeIndex(dates)],
                                      names=["athlete_id", "date"])
    cal = sums.reindex(index)
    cal[zero] = cal[zero].fillna(0)
    return cal.reset_index().assign(pos=pos)


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
    return _zero_filled(sums, ["n_sessions", "run_min", "duration_min", "distance_km",
                               "distance_m"], until)


def _ratios(cal: pd.DataFrame, column: str, acute_days: int = 7,
            chronic_days: int = 28) -> dict[str, np.ndarray]:
    """The three ratio variants of spec §1 for every athlete at once (the one implementation:
    :func:`daily_load` and :func:`compute_acwr` both read it)."""
    load = cal[column].to_numpy(dtype="float64")
    pos = cal["pos"].to_numpy()
    acute = _rolling_sum(load, pos, acute_days, acute_days)
    total = _rolling_sum(load, pos, chronic_days, chronic_days)
    weeks = chronic_days / acute_days
    grouped = cal.groupby("athlete_id", sort=False)[column]  # blocks are contiguous: order kept
    ewm_a = grouped.ewm(alpha=2 / (acute_days + 1), adjust=False).mean()
    ewm_c = grouped.ewm(alpha=2 / (chronic_days + 1), adjust=False).mean()
    warm = pos < chronic_days - 1
    out: dict[str, np.ndarray] = {"acute": acute, "ewma_acute": ewm_a.to_numpy()}
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
               config: RuleConfig | None = None,
               cross_training_in_load: Collection[str] = ()) -> pd.DataFrame:
    """One row per athlete per local day from the first tracked day (spec §0, §1).

    Rest days are zero; several sessions on a day are summed; days the athlete marked as
    "ran but not recorded" (``unrecorded``: athlete_id, date) stay zero but every ratio whose
    window contains one is low-confidence. Ratios are on running minutes (spec §2.6); the
    same numbers as :func:`pipeline.load.compute_acwr`, computed for all athletes at once.

    Args:
        cross_training_in_load: Athletes whose cross-training minutes are added to their
            running minutes (the roster's ``cross_training_in_load``); distance never is.
    """
    cols = list(DailyLoad.to_schema().columns)
    runs = running_sessions(sessions)
    if cross_training_in_load:
        cross = cross_training_sessions(sessions)
        cross = cross[cross["athlete_id"].isin(list(cross_training_in_load))]
        runs = pd.concat([runs, cross.assign(load_run_min=cross["load_duration_min"],
                                             load_distance_km=0.0, distance_m=0.0)])
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
