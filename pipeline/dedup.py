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

_FORMAT_RANK = {"fit": 0, "gpx": 1, "tcx": 2}  # the richer file is kept


@dataclass(frozen=True)
class DedupConfig:
    """Matching tolerances [PRODUCT].

    Attributes:
        start_tolerance_s: Starts within this many seconds (after removing whole hours).
        max_hour_shift: Whole-hour clock shifts considered (±14 h covers every UTC offset).
        elapsed_rel / elapsed_abs_s: Elapsed times within this fraction, or within this
            many seconds (an export that lost its last point or two on a short session).
        distance_rel / distance_abs_m: Distances within this fraction or this many metres
            (when both are known; a GPX distance summed from positions is not the watch's
            odometer). Measured on the corpus pairs in docs/decisions.md.
        shifted_elapsed_s / shifted_distance_rel: Stricter tolerances for a whole-hour
            shift, because the same loop run morning and evening can start on whole hours;
            a shifted copy of one recording differs in nothing but its clock.
    """

    start_tolerance_s: float = 60.0
    max_hour_shift: int = 14
    elapsed_rel: float = 0.05
    elapsed_abs_s: float = 30.0
    distance_rel: float = 0.05
    distance_abs_m: float = 100.0
    shifted_elapsed_s: float = 5.0
    shifted_distance_rel: float = 0.01


def _close(a: float, b: float, rel: float, floor: float = 0.0) -> bool:
    if np.isnan(a) or np.isnan(b):
        return True
    return abs(a - b) <= max(rel * max(abs(a), abs(b), 1e-9), floor)


def _same(start_a: int, start_b: int, ea: float, eb: float, da: float, db: float,
          cfg: DedupConfig) -> bool:
    """Two sessions (start in ns, elapsed s, distance m) are one recording."""
    delta = abs(start_a - start_b) / 1e9
    hours = round(delta / 3600)
    if hours > cfg.max_hour_shift or abs(delta - hours * 3600) > cfg.start_tolerance_s:
        return False
    if hours:
        return (abs(ea - eb) <= max(cfg.shifted_elapsed_s, 0.005 * max(ea, eb))
                and _close(da, db, cfg.shifted_distance_rel))
    return (_close(ea, eb, cfg.elapsed_rel, cfg.elapsed_abs_s)
            and _close(da, db, cfg.distance_rel, cfg.distance_abs_m))


def find_duplicates(sessions: pd.DataFrame, config: DedupConfig | None = None) -> pd.Series:
    """For each session, the ``activity_id`` it duplicates, or None.

    The richer source is kept (FIT over GPX, then the earlier id); every other copy points
    at it. Sessions are compared in start order (ties in the order given).

    Args:
        sessions: Columns ``activity_id, athlete_id, kind, start_utc, elapsed_s,
            distance_m, source_format`` (the Sessions layer). Only sessions of the same kind
            are compared: a FIT file's sport and a GPX file's type are often named apart.
    """
    cfg = config or DedupConfig()
    out: list[object] = [None] * len(sessions)
    window_ns = pd.Timedelta(hours=cfg.max_hour_shift, seconds=cfg.start_tolerance_s).value
    ids = sessions["activity_id"].to_numpy(dtype=object)
    rank = sessions["source_format"].map(_FORMAT_RANK).fillna(9).to_numpy(dtype="float64")
    start = pd.DatetimeIndex(sessions["start_utc"]).as_unit("ns").asi8
    elapsed = sessions["elapsed_s"].to_numpy(dtype="float64", na_value=np.nan)
    distance = sessions["distance_m"].to_numpy(dtype="float64", na_value=np.nan)
    groups = sessions.groupby(["athlete_id", "kind"], sort=False).indices
    for members in groups.values():
        rows = np.asarray(members)[np.argsort(start[members], kind="stable")]
        starts = start[rows]
        keeper: dict[int, int] = {}
        for pos, i in enumerate(rows.tolist()):
            hi = int(np.searchsorted(starts, start[i] + window_ns, side="right"))
            for j in rows[pos + 1:hi].tolist():
                if _same(start[i], start[j], elapsed[i], elapsed[j], distance[i], distance[j],
                         cfg):
                    keep, drop = (i, j) if (rank[i], ids[i]) <= (rank[j], ids[j]) else (j, i)
                    keeper[drop] = keeper.get(keep, keep)
        for drop, keep in keeper.items():
            out[drop] = ids[keep]
    return pd.Series(out, index=sessions.index, dtype="object")
