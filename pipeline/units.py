"""Unit conversions, each done once at the parse boundary (STYLE §4).

Every function is small, named after what it converts, and has a one-line test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "FIT_POWER_ON_LIMIT",
    "cadence256_to_spm",
    "fit_cadence_to_spm",
    "haversine_m",
    "semicircles_to_degrees",
]

# FIT date_time values below this are "seconds since device power-on", not dates (FIT SDK).
FIT_POWER_ON_LIMIT = 0x10000000

_SEMICIRCLE_TO_DEG = 180.0 / 2**31
_EARTH_RADIUS_M = 6_371_008.8


def semicircles_to_degrees(semicircles: float | np.ndarray | pd.Series) -> np.ndarray:
    """FIT position (sint32 semicircles) to decimal degrees (missing stays NaN)."""
    return np.asarray(semicircles, dtype="float64") * _SEMICIRCLE_TO_DEG


def fit_cadence_to_spm(cadence_rpm: float | np.ndarray,
                       fractional_cadence_rpm: float | np.ndarray = 0.0) -> float | np.ndarray:
    """FIT running cadence (one leg, rpm, plus fraction in rpm) to steps per minute.

    spec §5.2: ``spm = 2 × (cadence + fractional_cadence / 128)``. The decoders apply the
    1/128 scale, so the fraction arrives in rpm (raw 64 → 0.5). Scalars or arrays.
    """
    return 2.0 * (cadence_rpm + fractional_cadence_rpm)


def cadence256_to_spm(cadence256_rpm: float | np.ndarray) -> float | np.ndarray:
    """FIT ``cadence256`` as decoded (rpm: the decoders apply its 1/256 scale, so raw
    20352 arrives as 79.5) to steps per minute (spec §5.2)."""
    return 2.0 * cadence256_rpm


def haversine_m(
    lat1_deg: np.ndarray, lon1_deg: np.ndarray, lat2_deg: np.ndarray, lon2_deg: np.ndarray
) -> np.ndarray:
    """Great-circle distance in metres between arrays of points (mean Earth radius)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype="float64"))
                              for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
