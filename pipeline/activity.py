"""The reader's result: one frozen dataclass per decoded file (STYLE §6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from pipeline.errors import ArgumentError

__all__ = ["NAT", "Activity", "Columns", "Device", "MessageTable", "Provenance", "SessionSummary",
           "centred_median", "sport_kind", "to_columns", "to_frame", "utc_index"]

RECORD_COLUMNS = (
    "timestamp_utc",
    "elapsed_s",
    "distance_m",
    "speed_mps",
    "cadence_spm",
    "heart_rate_bpm",
    "altitude_m",
    "lat_deg",
    "lon_deg",
    "power_w",
)
TIMER_EVENT_COLUMNS = ("timestamp_utc", "event_type", "trigger")
LAP_COLUMNS = ("start_utc", "elapsed_s", "timer_s", "distance_m")
SPLIT_COLUMNS = ("split_type", "start_utc", "end_utc", "elapsed_s", "timer_s", "distance_m")
# Sports whose cadence counts steps (cycling cadence counts pedal revolutions).
FOOT_SPORTS = frozenset({"running", "walking", "hiking", "generic", "training", "unknown"})

# What an activity counts as (``schemas.ACTIVITY_KINDS``): only ``run`` is running load;
# ``walk`` completes a walking stage; ``cross_training`` has a load series of its own.
# FIT sport names (and the GPX/TCX types read into them) by kind. ``generic`` and
# ``unknown`` are not here: the recording itself decides (pipeline.session.session_kind).
_SPORT_KINDS = {
    "running": "run",
    "walking": "walk", "hiking": "walk",
    **{sport: "cross_training" for sport in (
        "cycling", "e_biking", "swimming", "rowing", "fitness_equipment", "training",
        "cross_country_skiing", "alpine_skiing", "snowboarding", "snowshoeing", "paddling",
        "kayaking", "rafting", "stand_up_paddleboarding", "inline_skating", "ice_skating",
        "rock_climbing", "mountaineering", "floor_climbing", "hiit", "boxing",
        "tennis", "soccer", "basketball", "water_skiing", "surfing", "windsurfing",
        "kitesurfing", "wakeboarding", "racket", "dance", "yoga",
        "pilates", "strength_training", "cardio_training", "elliptical", "stair_climbing")},
}


def sport_kind(sport: str) -> str | None:
    """The kind a sport name says an activity is; None when only the data can tell
    (``generic``, ``unknown``). Any other named sport (diving, a multisport transition,
    a GPX type no one maps) is ``other``."""
    if sport in ("generic", "unknown"):
        return None
    return _SPORT_KINDS.get(sport.removeprefix("other:"), "other")


# Records as numpy arrays by column name, ``timestamp_utc`` as int64 UTC nanoseconds. The
# per-sample stages work on these and build a frame once: each pandas call on a frame costs
# 0.1–0.3 ms however few its rows, which is most of the time of a short session.
Columns = dict[str, np.ndarray]


def utc_index(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 UTC nanoseconds as a tz-aware index."""
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def centred_median(values: np.ndarray, window: int, min_periods: int = 1) -> np.ndarray:
    """Centred rolling median over the samples present, as pandas computes it
    (``rolling(window, center=True, min_periods=...).median()``: missing values skipped, a
    window with fewer than ``min_periods`` present is missing, two middle values averaged).

    The same numbers on arrays: pandas' fixed cost per call was a third of a short
    session's cleaning (0.43 → 0.34 ms for two 5-sample windows, 0.38 → 0.25 ms for one of
    31, on a 1,600-sample session). ``window`` is odd.
    """
    values = np.asarray(values, dtype="float64")
    if window % 2 == 0:
        raise ArgumentError(f"centred median needs an odd window, not {window}")
    if not len(values):
        return values.copy()
    pad = np.full(window // 2, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, values, pad]), window)
    ordered = np.sort(windows, axis=1)  # missing values sort last
    present = window - np.isnan(windows).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum((present - 1) // 2, 0)[:, None], 1)[:, 0]
    high = np.take_along_axis(ordered, np.maximum(present // 2, 0)[:, None], 1)[:, 0]
    median = np.where(present % 2 == 1, low, (low + high) / 2)
    return np.where(present >= max(min_periods, 1), median, np.nan)


def to_columns(frame: pd.DataFrame) -> Columns:
    """A records frame as arrays: float64 channels, bool flags, str labels, int64 ns times."""
    cols: Columns = {}
    for name in frame.columns:
        column = frame[name]
        if name == "timestamp_utc":
            cols[name] = pd.DatetimeIndex(column).as_unit("ns").asi8
        elif column.dtype == bool or name == "gait":
            cols[name] = column.to_numpy()
        else:
            cols[name] = column.to_numpy(dtype="float64", na_value=np.nan)
    return cols


def to_frame(cols: Columns, names: Iterable[str]) -> pd.DataFrame:
    """The named columns as a records frame (``timestamp_utc`` back to UTC timestamps)."""
    return pd.DataFrame({n: utc_index(cols[n]) if n == "timestamp_utc" else cols[n]
                         for n in names})


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """An empty frame with the given columns (used for absent laps, events, splits)."""
    return pd.DataFrame(columns=list(columns), dtype="object")


NAT = np.iinfo("int64").min  # a missing time in int64 nanoseconds (what NaT is underneath)


class MessageTable:
    """A file's laps, timer events or splits as columns; ``frame`` builds the DataFrame.

    Time columns are int64 UTC nanoseconds. Ingest reads the columns (a frame of a few
    rows costs 0.1–0.4 ms to build, more than measuring depends on); analysts get frames.
    """

    def __init__(self, columns: tuple[str, ...], values: dict[str, np.ndarray],
                 time_column: str, time_columns: tuple[str, ...] = ()) -> None:
        self.columns = columns
        self.values = values
        self.time_column = time_column
        self.time_columns = time_columns or (time_column,)

    @classmethod
    def empty(cls, columns: tuple[str, ...], time_column: str) -> MessageTable:
        return cls(columns, {}, time_column)

    def __len__(self) -> int:
        return len(self.values[self.time_column]) if self.values else 0

    def column(self, name: str) -> np.ndarray:
        """One column (times as int64 UTC nanoseconds); empty when there are no rows."""
        return self.values[name] if self.values else np.array([], dtype=object)

    @cached_property
    def frame(self) -> pd.DataFrame:
        if not len(self):
            return empty_frame(self.columns)
        return pd.DataFrame({c: utc_index(self.values[c]) if c in self.time_columns
                             else self.values[c] for c in self.columns})

    def between(self, start_ns: int, end_ns: int | None) -> MessageTable:
        """The rows timed in [start, end) (the table itself when all are)."""
        if not len(self):
            return self
        times = self.values[self.time_column]
        mask = (times >= start_ns) & ((times < end_ns) if end_ns is not None else True)
        if mask.all():
            return self
        return MessageTable(self.columns, {c: v[mask] for c, v in self.values.items()},
                            self.time_column, self.time_columns)


@dataclass(frozen=True)
class Device:
    """The recording device as the file names it."""

    manufacturer: str | None = None
    product: str | None = None
    serial: str | None = None

    def label(self) -> str | None:
        parts = [p for p in (self.manufacturer, self.product) if p]
        return " ".join(parts) if parts else None


@dataclass(frozen=True)
class Provenance:
    """Where the data came from and how much to trust it.

    Attributes:
        format: ``fit``, ``gpx`` or ``tcx``.
        sha256: Hex digest of the decoded (decompressed) bytes.
        decoder: Library and version that decoded the file.
        crc_ok: FIT file CRC verified (None for formats without a CRC).
        truncated: Decoding stopped early; every record before the damage was kept.
        compression: ``gzip`` when the bytes arrived gzipped.
        cadence_scale: Per-file cadence decision (spec §5.5 step 1).
        warnings: Plain sentences about anything unusual that was tolerated.
    """

    format: str
    sha256: str
    decoder: str
    crc_ok: bool | None = None
    truncated: bool = False
    compression: str | None = None
    cadence_scale: str = "unknown"
    warnings: tuple[str, ...] = ()


class _Frames:
    """The frames of a recording, built on first use from its columns and message tables."""

    record_columns: Columns
    timer_event_table: MessageTable
    split_table: MessageTable
    lap_table: MessageTable

    @cached_property
    def records(self) -> pd.DataFrame:
        """The samples as a ``RawRecords`` frame."""
        return to_frame(self.record_columns, RECORD_COLUMNS)

    @property
    def timer_events(self) -> pd.DataFrame:
        return self.timer_event_table.frame

    @property
    def splits(self) -> pd.DataFrame:
        return self.split_table.frame

    @property
    def laps(self) -> pd.DataFrame:
        return self.lap_table.frame


@dataclass(frozen=True)
class SessionSummary(_Frames):
    """One sport session of a file (a FIT ``session`` message or one GPX ``trk``).

    Times are seconds; cadence is steps/min; ``workout_rpe`` is CR-10 (0–10) and
    ``workout_feel`` the watch's 0–100 scale, both None when the watch did not ask.
    """

    index: int
    sport: str
    sub_sport: str | None
    start_utc: pd.Timestamp
    elapsed_s: float
    timer_s: float
    distance_m: float | None
    avg_cadence_spm: float | None
    workout_rpe: float | None
    workout_feel: float | None
    record_columns: Columns = field(repr=False)
    timer_event_table: MessageTable = field(repr=False)
    split_table: MessageTable = field(repr=False)
    lap_table: MessageTable = field(repr=False)


@dataclass(frozen=True)
class Activity(_Frames):
    """Everything decoded from one file, in SI units with UTC timestamps.

    ``records`` holds all samples of the file; each of ``sessions`` holds its own slice
    (a multisport or chained FIT file yields several). Samples are kept as columns
    (``record_columns``); the frames are built when first asked for.
    """

    record_columns: Columns = field(repr=False)
    sessions: tuple[SessionSummary, ...]
    lap_table: MessageTable = field(repr=False)
    timer_event_table: MessageTable = field(repr=False)
    split_table: MessageTable = field(repr=False)
    device: Device
    local_offset_s: float | None
    provenance: Provenance

    @property
    def sport(self) -> str:
        return self.sessions[0].sport if self.sessions else "unknown"
