"""Tiny hand-built traces for exact-value tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.activity import RECORD_COLUMNS

START = pd.Timestamp("2026-04-01 07:00:00", tz="UTC")
GAIT = {"run": (2.6, 162.0), "walk": (1.4, 110.0), "stop": (0.0, 0.0)}


def trace(bouts: list[tuple[str, int]], *, cadence: bool = True,
          start: pd.Timestamp = START) -> pd.DataFrame:
    """A 1 Hz RawRecords frame; ("pause", n) leaves n seconds without samples."""
    t, v, c = [], [], []
    now = 0
    for gait, seconds in bouts:
        if gait != "pause":
            speed, cad = GAIT[gait] if isinstance(gait, str) else gait
            t += list(range(now, now + seconds))
            v += [speed] * seconds
            c += [cad] * seconds
        now += seconds
    t_arr, v_arr = np.array(t, dtype=float), np.array(v)
    dist = np.cumsum(v_arr)
    frame = pd.DataFrame({
        "timestamp_utc": start + pd.to_timedelta(t_arr, unit="s"),
        "elapsed_s": t_arr,
        "distance_m": dist,
        "speed_mps": v_arr,
        "cadence_spm": np.array(c, dtype=float) if cadence else np.nan,
        "heart_rate_bpm": 120.0,
        "altitude_m": 30.0,
        "lat_deg": np.nan,
        "lon_deg": np.nan,
        "power_w": np.nan,
    })
    return frame[list(RECORD_COLUMNS)]


WORKED_66 = [("walk", 300)] + [("run", 60), ("walk", 120)] * 2 + [
    ("run", 60), ("walk", 50), ("pause", 40), ("walk", 30),
    ("run", 60), ("walk", 120),
    ("run", 60), ("walk", 50), ("stop", 20), ("walk", 50),
    ("run", 60), ("walk", 420),
]


def worked_66(cadence: bool = True) -> pd.DataFrame:
    """Spec §6.6: 5 speed spikes of 15–18 m/s and 3 cadence zeros while running added."""
    f = trace(WORKED_66, cadence=cadence)
    spikes = [320, 500, 690, 1030, 1230]
    f.loc[f["elapsed_s"].isin(spikes), "speed_mps"] = [15.0, 16.0, 17.0, 18.0, 15.5]
    if cadence:
        f.loc[f["elapsed_s"].isin([850, 860, 870]), "cadence_spm"] = 0.0
    return f
