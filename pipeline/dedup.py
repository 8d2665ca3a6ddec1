"""Duplicates: the same run arriving twice counts once (DESIGN "same activity from two files").

A FIT and a GPX export of one run, a re-export, or a copy whose clock is shifted by whole
hours (a timezone written as UTC) are matched tolerantly; two genuinely different sessions
on the same day are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["DedupConfig", "find_duplicates"]

_FORMAT_RANK = {"fit": 0, "gpx": 1}


@dataclass(frozen=True)
class DedupConfig:
    """Matching tolerances [PRODUCT].

    Attributes:
        start_tolerance_s: Starts within this many seconds (after removing whole hours).
        max_hour_shift: Whole-hour clock shifts considered (±14 h covers every UTC offset).
        elapsed_rel: Elapsed times within this fraction.
        distance_rel: Distances within this fraction (when both are known).
        shifted_elapsed_s / shifted_distance_rel: Stricter tolerances for a whole-hour
            shift, because the same loop run morning and evening can start on whole hours;
            a shifted copy of one recording differs in nothing but its clock.
    """

    start_tolerance_s: float = 60.0
    max_hour_shift: int = 14
    elapsed_rel: float = 0.05
    distance_rel: float = 0.05
    shifted_elapsed_s: float = 5.0
    shifted_distance_rel: float = 0.01


def _close(a: float, b: float, rel: float) -> bool:
    if np.isnan(a) or np.isnan(b):
        return True
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)


def _same(a: pd.Series, b: pd.Series, cfg: DedupConfig) -> bool:
    delta = abs((a["start_utc"] - b["start_utc"]).total_seconds())
    hours = round(delta / 3600)
    if hours > cfg.max_hour_shift or abs(delta - hours * 3600) > cfg.start_tolerance_s:
        return False
    ea, eb = float(a["elapsed_s"]), float(b["elapsed_s"])
    da, db = float(a["distance_m"]), float(b["distance_m"])
    if hours:
        return (abs(ea - eb) <= max(cfg.shifted_elapsed_s, 0.005 * max(ea, eb))
                and _close(da, db, cfg.shifted_distance_rel))
    return _close(ea, eb, cfg.elapsed_rel) and _close(da, db, cfg.distance_rel)


def find_duplicates(sessions: pd.DataFrame, config: DedupConfig | None = None) -> pd.Series:
    """For each session, the ``activity_id`` it duplicates, or None.

    The richer source is kept (FIT over GPX, then the one with more samples of cadence and
    heart rate, then the earlier id); every other copy points at it.

    Args:
        sessions: Columns ``activity_id, athlete_id, sport, start_utc, elapsed_s,
            distance_m, source_format`` (the Sessions layer).
    """
    cfg = config or DedupConfig()
    out: dict[object, object] = {}
    window = pd.Timedelta(hours=cfg.max_hour_shift, seconds=cfg.start_tolerance_s)
    for _, group in sessions.groupby(["athlete_id", "sport"], sort=False):
        g = group.assign(
            _rank=group["source_format"].map(_FORMAT_RANK).fillna(9),
            distance_m=group["distance_m"].astype("float64"),
        ).sort_values(["start_utc"])
        starts = g["start_utc"].astype("int64").to_numpy()
        keeper: dict[object, object] = {}
        for pos, (i, row) in enumerate(g.iterrows()):
            hi = np.searchsorted(starts, (row["start_utc"] + window).value, side="right")
            for j in range(pos + 1, hi):
                other = g.iloc[j]
                if _same(row, other, cfg):
                    a, b = (i, other.name)
                    ra = (row["_rank"], row["activity_id"])
                    rb = (other["_rank"], other["activity_id"])
                    keep, drop = (a, b) if ra <= rb else (b, a)
                    root = keeper.get(keep, keep)
                    keeper[drop] = root
        for drop, keep in keeper.items():
            out[drop] = sessions.loc[keep, "activity_id"]  # type: ignore[index]
    return pd.Series([out.get(i) for i in sessions.index], index=sessions.index, dtype="object")
