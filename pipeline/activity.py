"""The reader's result: one frozen dataclass per decoded file (STYLE §6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Activity", "Columns", "Device", "Provenance", "SessionSummary", "to_columns",
           "to_frame", "utc_index"]

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


# Records as numpy arrays by column name, ``timestamp_utc`` as int64 UTC nanoseconds. The
# per-sample stages work on these and build a frame once: each pandas call on a frame costs
# 0.1–0.3 ms however few its rows, which is most of the time of a short session.
Columns = dict[str, np.ndarray]


def utc_index(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 UTC nanoseconds as a tz-aware index."""
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


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
        format: ``fit`` or ``gpx``.
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


@dataclass(frozen=True)
class SessionSummary:
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
    records: pd.DataFrame = field(repr=False)
    timer_events: pd.DataFrame = field(repr=False)
    splits: pd.DataFrame = field(repr=False)
    laps: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class Activity:
    """Everything decoded from one file, in SI units with UTC timestamps.

    ``records`` holds all samples of the file; each of ``sessions`` holds its own slice
    (a multisport or chained FIT file yields several).
    """

    records: pd.DataFrame = field(repr=False)
    sessions: tuple[SessionSummary, ...]
    laps: pd.DataFrame = field(repr=False)
    timer_events: pd.DataFrame = field(repr=False)
    splits: pd.DataFrame = field(repr=False)
    device: Device
    local_offset_s: float | None
    provenance: Provenance

    @property
    def sport(self) -> str:
        return self.sessions[0].sport if self.sessions else "unknown"
