"""Cadence in steps per minute: per-file scale decision and in-track repairs (spec §5.5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.activity import centred_median
from pipeline.config import RUNNING_SPEED_MPS

__all__ = ["decide_cadence_scale", "repair_cadence", "repaired_cadence"]

_MIN_SAMPLES = 30
_SPM_RUN = (130.0, 230.0)
_PER_LEG_RUN = (60.0, 115.0)
_SPM_WALK = (90.0, 130.0)
_PER_LEG_WALK = (45.0, 65.0)


def _within(x: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= x <= bounds[1]


def decide_cadence_scale(
    cadence: np.ndarray, speed_mps: np.ndarray, source: str
) -> tuple[str, float]:
    """Decide how to turn a file's cadence values into steps/min (spec §5.5 step 1).

    Args:
        cadence: Values as the file holds them; for FIT already doubled from one-leg rpm.
        speed_mps: Speed of the same samples (NaN where unknown).
        source: ``fit``, ``gpx`` or ``tcx`` (GPX and TCX are decided alike).

    Returns:
        ``(scale, factor)``: scale is ``per_leg``, ``spm``, ``implausible`` or ``unknown``;
        multiply the values by ``factor`` to get steps/min (factor is NaN when unusable).
    """
    cad = np.asarray(cadence, dtype="float64")
    spd = np.asarray(speed_mps, dtype="float64")
    has = np.isfinite(cad) & (cad > 0)
    if not has.any():
        return "unknown", float("nan")
    running = has & (spd >= RUNNING_SPEED_MPS)
    if running.sum() >= _MIN_SAMPLES:
        med = float(np.median(cad[running]))
        if source == "fit":
            # FIT was doubled already; a device that wrote steps/min into the per-leg
            # field shows up here at twice the running range.
            if _within(med, _SPM_RUN):
                return "per_leg", 1.0
            if _within(med / 2, _SPM_RUN):
                return "spm", 0.5
            return "implausible", float("nan")
        if _within(med, _PER_LEG_RUN):
            return "per_leg", 2.0
        if _within(med, _SPM_RUN):
            return "spm", 1.0
        return "implausible", float("nan")
    if source == "fit":
        return "per_leg", 1.0  # FIT semantics: the field is one leg (already doubled)
    moving = has & (spd >= 0.5)
    if moving.sum() >= _MIN_SAMPLES:
        med = float(np.median(cad[moving]))
        if _within(med, _PER_LEG_WALK):
            return "per_leg", 2.0
        if _within(med, _SPM_WALK):
            return "spm", 1.0
    return "unknown", float("nan")


def repair_cadence(cadence_spm: pd.Series, speed_mps: pd.Series) -> pd.Series:
    """Zero-while-moving → missing; runs of ≥ 5 half-cadence samples doubled (§5.5 steps 2–3).

    Returns a new Series; the input is not modified.
    """
    cad = repaired_cadence(cadence_spm.to_numpy(dtype="float64", na_value=np.nan),
                           speed_mps.to_numpy(dtype="float64", na_value=np.nan))
    return pd.Series(cad, index=cadence_spm.index, name=cadence_spm.name)


def repaired_cadence(cadence_spm: np.ndarray, speed_mps: np.ndarray) -> np.ndarray:
    """:func:`repair_cadence` on arrays; returns a new array."""
    cad = np.array(cadence_spm, dtype="float64")
    moving = np.nan_to_num(speed_mps, nan=0.0) >= 0.5
    # Only while moving is a zero a sensor blip; standing still really is zero steps.
    cad[(cad <= 0) & moving] = np.nan
    positive = np.where(cad > 0, cad, np.nan)
    ref = centred_median(positive, 31, min_periods=5)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = cad / ref
    marked = (ratio >= 0.42) & (ratio <= 0.58) & (ref >= 130)
    # Length of the run of marked samples each sample belongs to.
    edges = np.flatnonzero(np.diff(np.r_[False, marked, False].astype(np.int8)))
    double = np.zeros(len(cad), dtype=bool)
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= 5:
            double[start:stop] = True
    cad[double] *= 2
    return cad
