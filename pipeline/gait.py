"""Gait: label every sample run / walk / stop / pause and build the bouts (spec §6.2–6.3)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.activity import NAT, Columns, to_columns
from pipeline.config import RUNNING_SPEED_MPS
from schemas import GaitRecords, Segments

__all__ = ["GaitConfig", "gait_labels", "label_gait", "segment_table", "segments_of",
           "watch_labels", "watch_split_labels"]


@dataclass(frozen=True)
class GaitConfig:
    """Classification thresholds (spec §6.2, §5.4) and minimum bout durations (§6.3).

    Cadence separates gaits better than speed (91–93 % vs 55–79 % accuracy, spec [R53]);
    slow return-to-run joggers overlap brisk walkers in speed.
    """

    run_cadence_spm: float = 140.0
    run_cadence_with_speed_spm: float = 130.0
    run_speed_with_cadence_mps: float = 1.9
    run_speed_mps: float = RUNNING_SPEED_MPS
    walk_speed_mps: float = 0.5
    walk_cadence_spm: float = 40.0
    min_run_s: float = 10.0
    min_walk_s: float = 10.0
    min_stop_s: float = 5.0


def _classify(speed: np.ndarray, cadence: np.ndarray, cfg: GaitConfig) -> np.ndarray:
    v = np.nan_to_num(speed, nan=0.0)
    has_c = np.isfinite(cadence) & (cadence > 0)
    c = np.nan_to_num(cadence, nan=0.0)
    with_c = np.where(
        (c >= cfg.run_cadence_spm)
        | ((c >= cfg.run_cadence_with_speed_spm) & (v >= cfg.run_speed_with_cadence_mps)),
        "run", np.where((v >= cfg.walk_speed_mps) | (c >= cfg.walk_cadence_spm), "walk", "stop"))
    without_c = np.where(v >= cfg.run_speed_mps, "run",
                         np.where(v >= cfg.walk_speed_mps, "walk", "stop"))
    return np.where(has_c, with_c, without_c)


def _merge_short(labels: np.ndarray, durations: np.ndarray, cfg: GaitConfig) -> np.ndarray:
    """Relabel bouts shorter than their minimum to the longer non-pause neighbour (§6.3)."""
    if len(labels) == 0:
        return labels
    change = np.r_[True, labels[1:] != labels[:-1]]
    seg_of = np.cumsum(change) - 1
    seg_label = list(labels[change])
    seg_dur = list(np.bincount(seg_of, weights=durations))
    seg_count = list(np.bincount(seg_of))
    minimum = {"run": cfg.min_run_s, "walk": cfg.min_walk_s, "stop": cfg.min_stop_s}
    while True:
        short = [(d, i) for i, (lab, d) in enumerate(zip(seg_label, seg_dur, strict=True))
                 if lab != "pause" and d < minimum[lab]]
        candidates = []
        for d, i in sorted(short):
            nbrs = [j for j in (i - 1, i + 1)
                    if 0 <= j < len(seg_label) and seg_label[j] != "pause"]
            if nbrs:
                candidates.append((d, i, max(nbrs, key=lambda j: seg_dur[j])))
        if not candidates:
            break
        _, i, j = candidates[0]
        seg_label[i] = seg_label[j]
        merged_label: list[str] = []
        merged_dur: list[float] = []
        merged_count: list[int] = []
        for lab, d, n in zip(seg_label, seg_dur, seg_count, strict=True):
            if merged_label and merged_label[-1] == lab:
                merged_dur[-1] += d
                merged_count[-1] += n
            else:
                merged_label.append(lab)
                merged_dur.append(d)
                merged_count.append(n)
        seg_label, seg_dur, seg_count = merged_label, merged_dur, merged_count
    return np.repeat(np.array(seg_label, dtype=object), seg_count).astype(str)


def watch_split_labels(records: pd.DataFrame, splits: pd.DataFrame) -> pd.Series:
    """The watch's own run/walk/stand labels per sample (None where no split covers it)."""
    times = pd.DatetimeIndex(records["timestamp_utc"]).as_unit("ns").asi8
    if splits is None or splits.empty:
        labels = np.full(len(times), None, dtype=object)
    else:
        labels = watch_labels(times, splits["split_type"].to_numpy(dtype=object),
                              pd.DatetimeIndex(splits["start_utc"]).as_unit("ns").asi8,
                              pd.DatetimeIndex(splits["end_utc"]).as_unit("ns").asi8)
    return pd.Series(labels, index=records.index, dtype="object")


def watch_labels(times_ns: np.ndarray, split_types: np.ndarray, starts_ns: np.ndarray,
                 ends_ns: np.ndarray) -> np.ndarray:
    """:func:`watch_split_labels` on arrays (times in UTC nanoseconds); an object array."""
    out = np.full(len(times_ns), None, dtype=object)
    kinds = {"rwd_run": "run", "rwd_walk": "walk", "rwd_stand": "stop"}
    for kind, start, end in zip(split_types, starts_ns.tolist(), ends_ns.tolist(), strict=True):
        if kind in kinds and start != NAT and end != NAT:
            out[(times_ns >= start) & (times_ns < end)] = kinds[kind]
    return out


def label_gait(clean: pd.DataFrame, config: GaitConfig | None = None, *,
               use_cadence: bool = True, watch_labels: pd.Series | None = None,
               validate: bool = True) -> pd.DataFrame:
    """Label each sample of a ``CleanRecords`` frame; returns a new ``GaitRecords`` frame.

    Args:
        clean: Cleaned records of one session.
        config: Thresholds; defaults to :class:`GaitConfig`.
        use_cadence: False classifies on speed only (a GPX without cadence behaves so anyway).
        watch_labels: The watch's own run/walk splits per sample, used where present.
        validate: Check the result against ``GaitRecords``.
    """
    labels = gait_labels(
        clean["speed_mps"].to_numpy(dtype="float64", na_value=np.nan),
        clean["cadence_spm"].to_numpy(dtype="float64", na_value=np.nan),
        clean["paused"].to_numpy(dtype=bool),
        clean["duration_s"].to_numpy(dtype="float64"), config, use_cadence=use_cadence,
        watch=watch_labels.to_numpy(dtype=object) if watch_labels is not None else None)
    out = clean.assign(gait=labels)
    return GaitRecords.validate(out) if validate else out


def gait_labels(speed_mps: np.ndarray, cadence_spm: np.ndarray, paused: np.ndarray,
                duration_s: np.ndarray, config: GaitConfig | None = None, *,
                use_cadence: bool = True, watch: np.ndarray | None = None) -> np.ndarray:
    """:func:`label_gait` on arrays: one label per sample, short bouts merged."""
    cfg = config or GaitConfig()
    cadence = cadence_spm if use_cadence else np.full(len(speed_mps), np.nan)
    labels = _classify(speed_mps, cadence, cfg)
    if watch is not None:
        labels = np.where(pd.notna(watch), watch, labels)
    labels = np.where(paused, "pause", labels)
    return _merge_short(labels.astype(str), duration_s, cfg)


def _per_segment(values: np.ndarray, first: np.ndarray, reduce: str) -> np.ndarray:
    """Mean or median of each segment's non-missing values (NaN where it has none)."""
    out = np.full(len(first), np.nan)
    bounds = np.r_[first, len(values)]
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        part = values[lo:hi]
        part = part[~np.isnan(part)]
        if len(part):
            out[i] = np.median(part) if reduce == "median" else part.mean()
    return out


def segment_table(gait: pd.DataFrame, activity_id: str, *, validate: bool = True) -> pd.DataFrame:
    """One row per bout of a ``GaitRecords`` frame (the Segments layer, checked if ``validate``)."""
    table = pd.DataFrame(segments_of(to_columns(gait), activity_id))
    return Segments.validate(table) if validate else table


def segments_of(gait: Columns, activity_id: str) -> Columns:
    """:func:`segment_table` on the columns of a ``GaitRecords`` frame, as columns.

    Ingest stacks a batch's segment columns into one frame; a frame per session cost more
    than measuring its bouts.
    """
    labels = gait["gait"].astype(str)
    first = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]]) if len(labels) else \
        np.array([], dtype=np.int64)
    # Distance carried forward over samples without it.
    dist = pd.Series(gait["distance_m"]).ffill().to_numpy()
    start_dist = dist[first]
    end_dist = np.r_[start_dist[1:], dist[-1]] if len(first) else np.array([])
    return {
        "activity_id": np.full(len(first), activity_id, dtype=object),
        "segment_index": np.arange(len(first)),
        "gait": labels[first],
        "start_s": gait["elapsed_s"][first],
        "duration_s": np.add.reduceat(gait["duration_s"], first) if len(first) else np.array([]),
        "distance_m": np.clip(end_dist - start_dist, 0, None),
        "cadence_spm_median": _per_segment(gait["cadence_spm"], first, "median"),
        "speed_mps_mean": _per_segment(gait["speed_mps"], first, "mean"),
    }
