"""Cleaning: RawRecords → CleanRecords (spec §6.1).

Speed spikes and impossible accelerations become missing, heart rate outside 30–230 bpm
becomes missing, cadence is repaired (spec §5.5 steps 2–3), and pauses become explicit rows:
time between a FIT timer stop and the next start, and any gap longer than the pause
threshold. Every row then covers ``duration_s`` seconds, so durations add up to elapsed time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.activity import Columns, centred_median, to_columns, to_frame
from pipeline.cadence import repaired_cadence
from schemas import CleanRecords, RawRecords

__all__ = ["CleanConfig", "clean_columns", "clean_records", "timer_pauses"]


@dataclass(frozen=True)
class CleanConfig:
    """Cleaning thresholds (spec §6.1, all [PRODUCT] defaults).

    Attributes:
        v_max_mps: Faster than this is a GPS spike (8 m/s for a return-to-run population).
        max_accel_mps2: A change larger than this per second between valid samples is a spike.
        pause_gap_s: A gap longer than this between samples is a pause (GoldenCheetah's 25 s).
        smooth_samples: Centred rolling-median window for speed and cadence.
        hr_min_bpm / hr_max_bpm: Heart rate outside this range is invalid (spec §2.3).
    """

    v_max_mps: float = 8.0
    max_accel_mps2: float = 3.0
    pause_gap_s: float = 25.0
    smooth_samples: int = 5
    hr_min_bpm: float = 30.0
    hr_max_bpm: float = 230.0


def _ffill_index(valid: np.ndarray) -> np.ndarray:
    """For each position, the index of the last valid position at or before it (0 if none)."""
    return np.maximum.accumulate(np.where(valid, np.arange(len(valid)), 0))


def _despike(speed: np.ndarray, seconds: np.ndarray, cfg: CleanConfig) -> np.ndarray:
    v = np.where(speed <= cfg.v_max_mps, speed, np.nan)
    valid = ~np.isnan(v)
    last = _ffill_index(valid)
    prev = np.r_[np.nan, v[last][:-1]]
    prev_t = np.r_[np.nan, np.where(valid[last], seconds[last], np.nan)[:-1]]
    with np.errstate(invalid="ignore"):
        jump = np.abs(v - prev) > cfg.max_accel_mps2 * np.maximum(seconds - prev_t, 1.0)
    return np.where(jump, np.nan, v)


def timer_pauses(times_ns: np.ndarray, kinds: np.ndarray) -> list[tuple[int, int]]:
    """(stop, restart) pairs from FIT timer events, as UTC nanoseconds in time order.

    Events sharing a second keep the file's order (a stable sort): a restart and the next
    stop logged in one second are two pauses, not one.
    """
    order = np.argsort(times_ns, kind="stable")
    pauses: list[tuple[int, int]] = []
    stopped_at = None
    for t, kind in zip(times_ns[order].tolist(), kinds[order], strict=True):
        if kind in ("stop", "stop_all", "stop_disable", "stop_disable_all") and stopped_at is None:
            stopped_at = t
        elif kind == "start" and stopped_at is not None:
            if t > stopped_at:
                pauses.append((stopped_at, t))
            stopped_at = None
    return pauses


def clean_records(raw: pd.DataFrame, timer_events: pd.DataFrame | None = None,
                  config: CleanConfig | None = None, *, validate: bool = True) -> pd.DataFrame:
    """Clean one session's records.

    Args:
        raw: A ``RawRecords`` frame (one session). Not modified.
        timer_events: The session's FIT timer events (``timestamp_utc``, ``event_type``).
        config: Thresholds; defaults to :class:`CleanConfig`.
        validate: Check ``raw`` and the result against their Pandera models. A batch that
            validates its stored tables once turns this off (docs/benchmarks.md).

    Returns:
        A new ``CleanRecords`` frame with pause rows inserted and ``duration_s`` per row.
    """
    if validate:
        RawRecords.validate(raw)
    pauses = [] if timer_events is None or timer_events.empty else timer_pauses(
        pd.DatetimeIndex(timer_events["timestamp_utc"]).as_unit("ns").asi8,
        timer_events["event_type"].to_numpy(dtype=object))
    frame = to_frame(*clean_columns(to_columns(raw), pauses, config))
    return CleanRecords.validate(frame) if validate else frame


def clean_columns(raw: Columns, timer_pauses: Sequence[tuple[int, int]] = (),
                  config: CleanConfig | None = None) -> tuple[Columns, list[str]]:
    """:func:`clean_records` on arrays; returns the clean columns and their order.

    ``timer_pauses`` are (stop, restart) pairs in UTC nanoseconds (:func:`timer_pauses`).
    """
    cfg = config or CleanConfig()
    ts = raw["timestamp_utc"]
    names = [c for c in raw if c not in ("timestamp_utc", "paused", "duration_s", "gait")]
    cols = {c: raw[c].copy() for c in names}
    t0 = ts[0]
    seconds = (ts - t0) / 1e9
    speed = _despike(cols["speed_mps"], seconds, cfg)
    hr = cols["heart_rate_bpm"]
    cols["heart_rate_bpm"] = np.where((hr >= cfg.hr_min_bpm) & (hr <= cfg.hr_max_bpm), hr, np.nan)
    cadence = repaired_cadence(cols["cadence_spm"], speed)
    # Centred medians over the samples present (edges use what the window holds).
    cols["speed_mps"] = centred_median(speed, cfg.smooth_samples)
    cols["cadence_spm"] = centred_median(cadence, cfg.smooth_samples)
    # Pause rows: timer stops first, then long gaps not already explained by a timer stop.
    nominal = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 1.0
    nominal = min(max(nominal, 1.0), cfg.pause_gap_s)
    paused = np.zeros(len(ts), dtype=bool)
    timer_stops: list[int] = []
    for stop, start in timer_pauses:
        if t0 <= stop <= ts[-1]:
            paused |= (ts >= stop) & (ts < start)
            timer_stops.append(stop)
    step = pd.Timedelta(seconds=nominal).value
    gap_rows = [int(ts[i]) + step for i in np.flatnonzero(np.diff(ts) / 1e9 > cfg.pause_gap_s)
                if not any(ts[i] <= p <= ts[i + 1] for p in timer_stops)]
    pause_rows = np.array(timer_stops + gap_rows, dtype="int64")
    if len(pause_rows):
        ts = np.r_[ts, pause_rows]
        paused = np.r_[paused, np.ones(len(pause_rows), dtype=bool)]
        cols = {c: np.r_[v, np.full(len(pause_rows), np.nan)] for c, v in cols.items()}
        order = np.lexsort((paused, ts))  # by time, a pause row after a sample at that time
        ts, paused = ts[order], paused[order]
        keep = np.r_[ts[1:] != ts[:-1], True]  # one row per time: the pause row wins
        ts, paused = ts[keep], paused[keep]
        cols = {c: v[order][keep] for c, v in cols.items()}
    seconds = (ts - t0) / 1e9
    cols["elapsed_s"] = seconds
    for col in ("speed_mps", "cadence_spm", "heart_rate_bpm", "power_w"):
        cols[col] = np.where(paused, np.nan, cols[col])
    cols.update(timestamp_utc=ts, paused=paused, duration_s=np.r_[np.diff(seconds), nominal])
    return cols, ["timestamp_utc", *names, "paused", "duration_s"]
