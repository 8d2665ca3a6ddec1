"""Load: per-session measures (spec §2) and each athlete's load history and ratios (spec §1)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from pipeline.errors import ArgumentError

__all__ = [
    "BANISTER_CONSTANTS",
    "banister_trimp",
    "compute_acwr",
    "edwards_trimp",
    "rtss_approx",
    "session_rpe",
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


def _acwr_one(load: pd.Series, method: Method, acute_days: int, chronic_days: int) -> pd.DataFrame:
    idx = pd.DatetimeIndex(load.index)
    full = pd.date_range(idx.min(), idx.max(), freq="D")
    daily = load.groupby(idx).sum().reindex(full, fill_value=0.0).astype("float64")
    t = np.arange(1, len(daily) + 1)
    if method == "ewma":
        acute = daily.ewm(alpha=2 / (acute_days + 1), adjust=False).mean()
        chronic = daily.ewm(alpha=2 / (chronic_days + 1), adjust=False).mean()
    else:
        acute = daily.rolling(acute_days, min_periods=acute_days).sum()
        total = daily.rolling(chronic_days, min_periods=chronic_days).sum()
        if method == "coupled":
            chronic = total / (chronic_days / acute_days)
        elif method == "uncoupled":
            chronic = (total - acute) / ((chronic_days - acute_days) / acute_days)
        else:
            raise ArgumentError(f"unknown ACWR method {method!r}")
    warmup = t < chronic_days
    no_chronic = ~warmup & (chronic.fillna(0.0) <= 0).to_numpy()
    ratio = (acute / chronic).where(~warmup & ~no_chronic)
    reason = pd.Series(None, index=full, dtype="object")
    reason[no_chronic] = "no_chronic_load"
    reason[warmup] = "insufficient_history"
    return pd.DataFrame({"load": daily, "acute": acute, "chronic": chronic, "ratio": ratio,
                         "reason": reason}, index=full)


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
    """
    if isinstance(daily_load, pd.Series):
        out = _acwr_one(daily_load, method, acute_days, chronic_days)
        out.index.name = date_column
        return out
    frames = []
    for athlete, part in daily_load.groupby(athlete_column, sort=True):
        series = part.set_index(date_column)[load_column]
        one = _acwr_one(series, method, acute_days, chronic_days)
        one.index.name = date_column
        frames.append(one.reset_index().assign(**{athlete_column: athlete}))
    if not frames:
        return pd.DataFrame(columns=[athlete_column, date_column, "load", "acute", "chronic",
                                     "ratio", "reason"])
    cols = [athlete_column, date_column, "load", "acute", "chronic", "ratio", "reason"]
    return pd.concat(frames, ignore_index=True)[cols]
