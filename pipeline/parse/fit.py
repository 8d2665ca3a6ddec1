"""FIT decoding: the vectorised path where it applies, fitparse (the reference) otherwise.

fitparse salvages what precedes any damage; the fast path takes intact and truncated files
and declines the rest (a bad CRC, undecodable data), which fitparse then reads.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import warnings
from collections.abc import Iterable, Iterator
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
from fitparse import UncachedFitFile
from fitparse.processors import UTC_REFERENCE
from fitparse.utils import FitCRCError, FitEOFError, FitHeaderError, FitParseError

from pipeline.activity import FOOT_SPORTS, NAT
from pipeline.errors import (
    CorruptFileError,
    EmptyActivityError,
    NotAnActivityError,
    TruncatedFileError,
)
from pipeline.parse.fastfit import RECORD_FIELDS, WANTED_MESSAGES, decode_records_fast
from pipeline.units import (
    FIT_POWER_ON_LIMIT,
    cadence256_to_spm,
    fit_cadence_to_spm,
    semicircles_to_degrees,
)

__all__ = ["FitContent", "Wellness", "decode_fit", "decode_wellness", "utc_timestamp"]

_FIT_EPOCH = dt.datetime(1989, 12, 31)  # FIT date_time 0 (UTC_REFERENCE in Unix seconds)

REFERENCE_DECODER = f"fitparse {version('python-fitparse')}"
FAST_DECODER = f"numpy records + {REFERENCE_DECODER}"


class FitContent:
    """Raw material decoded from a FIT file, before it is shaped into an Activity.

    ``records`` holds one entry per record message for each of ``RECORD_FIELDS``: lists of
    fitparse values from the reference decoder, float64 arrays (timestamps in raw FIT seconds)
    from the fast one. ``record_columns`` turns either into the same canonical columns.
    """

    def __init__(self) -> None:
        self.records: dict[str, Any] = {k: [] for k in RECORD_FIELDS}
        self.sessions: list[dict[str, Any]] = []
        self.laps: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.splits: list[dict[str, Any]] = []
        self.activity: dict[str, Any] = {}
        self.file_id: dict[str, Any] = {}
        self.crc_ok: bool | None = True
        self.truncated = False
        self.warnings: list[str] = []
        self.decoder = REFERENCE_DECODER


def _values(message: Any) -> dict[str, Any]:
    return {f.name: f.value for f in message.fields}


def _collect(messages: Iterable[Any], content: FitContent) -> None:
    """Sort fitparse data messages into ``content`` (records too, when they come this way)."""
    for message in messages:
        name = message.name
        if name not in WANTED_MESSAGES:
            continue
        if name == "record":
            values = _values(message)
            for key in RECORD_FIELDS:
                content.records[key].append(values.get(key))
        elif name == "session":
            content.sessions.append(_values(message))
        elif name == "lap":
            content.laps.append(_values(message))
        elif name == "event":
            content.events.append(_values(message))
        elif name == "split":
            content.splits.append(_values(message))
        elif name == "activity" and not content.activity:
            content.activity = _values(message)
        elif name == "file_id" and not content.file_id:
            content.file_id = _values(message)


def _decode_fast(data: bytes) -> FitContent | None:
    """The vectorised path, or None when it declines (or fails in any way) on this file."""
    try:
        fast = decode_records_fast(data)
        content = FitContent()
        _collect(fast.messages, content)
        fast.check_developer_fields()
        content.records = fast.columns
        content.decoder = FAST_DECODER
        if fast.truncated:
            content.truncated = True
            content.warnings.append("file ends early; records before the end kept")
        return content
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # any failure of the fast path (even a panic) means: use fitparse
        return None


# What fitparse raises on damaged bytes besides its own errors: it unpacks with struct and
# looks fields up in its profile without guarding either (found by the suite's fuzzing).
_DECODER_FAULTS = (FitParseError, struct.error, KeyError, IndexError, TypeError, ValueError,
                   AttributeError, OverflowError, UnicodeDecodeError)


def _messages(data: bytes) -> Iterator[Any]:
    """fitparse's data messages, one at a time (so only its own code runs under ``next``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = UncachedFitFile(io.BytesIO(data), check_developer_data=False)
        yield from fit.get_messages()


def _note_damage(exc: BaseException, content: FitContent, path: str) -> None:
    """What fitparse stopping with ``exc`` means for the content decoded so far."""
    if isinstance(exc, FitCRCError):
        # The CRC is checked at the end: every message was decoded before this.
        content.crc_ok = False
        content.warnings.append(f"file CRC does not match ({exc}); data kept")
    elif isinstance(exc, FitEOFError):
        content.truncated = True
        content.warnings.append(f"file ends early ({exc}); records before the end kept")
    elif isinstance(exc, FitHeaderError):
        if not content.file_id:
            raise CorruptFileError(path, f"invalid FIT header: {exc}") from exc
        content.truncated = True
        content.warnings.append(f"a chained FIT header is invalid ({exc}); first part kept")
    else:
        if not content.file_id and not content.records["timestamp"]:
            raise CorruptFileError(path, f"FIT data cannot be decoded: {exc!r}") from exc
        content.truncated = True
        content.warnings.append(f"decoding stopped at damaged data ({exc!r}); records before it kept")


def _decode_reference(data: bytes, path: str) -> FitContent:
    """fitparse over the whole file, keeping everything decoded before any damage.

    Only the decoder's own work is guarded: sorting the messages it yields is our code,
    outside the ``try``, so a bug there propagates instead of quarantining a good file.
    """
    content = FitContent()
    messages = _messages(data)
    while True:
        try:
            message = next(messages)
        except StopIteration:
            break
        except _DECODER_FAULTS as exc:
            _note_damage(exc, content, path)
            break
        _collect((message,), content)
    return content


def decode_fit(data: bytes, path: str, decoder: str = "auto") -> FitContent:
    """Decode every message Comeback uses; keep everything decoded before any damage.

    Args:
        data: The FIT file's bytes.
        path: How to name the file in errors.
        decoder: ``auto`` tries the vectorised path and falls back to fitparse on anything
            it declines; ``fitparse`` uses the reference decoder only.

    Raises:
        CorruptFileError: the header is invalid or nothing could be decoded.
        TruncatedFileError: the file ends before any record.
    """
    content = _decode_fast(data) if decoder == "auto" else None
    if content is None:
        content = _decode_reference(data, path)
    file_type = content.file_id.get("type")
    n_records = len(content.records["timestamp"])
    if file_type is not None and file_type != "activity" and not n_records:
        raise NotAnActivityError(path, f"FIT file of type '{file_type}', not an activity")
    if not n_records:
        if content.truncated:
            raise TruncatedFileError(path, "file ends before any activity record")
        raise EmptyActivityError(path, "FIT activity holds no records")
    return content


# The messages of a watch's wellness files (FIT SDK profile: monitoring_hr_data 211,
# sleep_level 275, hrv_status_summary 370), and monitoring_info for the local offset.
_WELLNESS_MESSAGES = ("monitoring_hr_data", "sleep_level", "hrv_status_summary",
                      "monitoring_info", "file_id")


class Wellness:
    """What a non-activity FIT file says about readiness: ``(UTC time, value)`` pairs."""

    def __init__(self) -> None:
        self.resting_hr_bpm: list[tuple[pd.Timestamp, float]] = []
        self.sleep_levels: list[tuple[pd.Timestamp, str]] = []
        self.hrv_ms: list[tuple[pd.Timestamp, float]] = []
        self.local_offset_s: float | None = None
        self.file_type: str | None = None

    def __len__(self) -> int:
        return len(self.resting_hr_bpm) + len(self.sleep_levels) + len(self.hrv_ms)


def _wellness_message(message: Any, out: Wellness) -> None:
    values = _values(message)
    when = utc_timestamp(values.get("timestamp"))
    name = message.name
    if name == "file_id":
        out.file_type = str(values.get("type")) if values.get("type") is not None else None
    elif when is None:
        return
    elif name == "monitoring_info":
        local = utc_timestamp(values.get("local_timestamp"))
        if local is not None and out.local_offset_s is None:
            offset = (local - when).total_seconds()
            if abs(offset) <= 14 * 3600:
                out.local_offset_s = float(round(offset / 900.0) * 900.0)
    elif name == "monitoring_hr_data":
        bpm = values.get("resting_heart_rate", values.get("current_day_resting_heart_rate"))
        if isinstance(bpm, int | float) and 25 <= bpm <= 120:
            out.resting_hr_bpm.append((when, float(bpm)))
    elif name == "sleep_level" and values.get("sleep_level") is not None:
        out.sleep_levels.append((when, str(values["sleep_level"])))
    elif name == "hrv_status_summary":
        ms = values.get("last_night_average")
        if isinstance(ms, int | float) and 0 < ms < 300:
            out.hrv_ms.append((when, float(ms)))


def decode_wellness(data: bytes, path: str) -> Wellness:
    """Resting heart rate, sleep levels and overnight HRV from a monitoring, sleep or HRV
    FIT file, through fitparse; everything decoded before any damage is kept.

    Raises:
        CorruptFileError: nothing could be decoded.
        NotAnActivityError: the file holds none of them (a settings file, a monitoring file
            with steps only).
    """
    out = Wellness()
    messages = _messages(data)
    while True:
        try:
            message = next(messages)
        except StopIteration:
            break
        except _DECODER_FAULTS as exc:
            if out.file_type is None:
                raise CorruptFileError(path, f"FIT data cannot be decoded: {exc!r}") from exc
            break
        if message.name in _WELLNESS_MESSAGES:
            _wellness_message(message, out)
    if not len(out):
        raise NotAnActivityError(path, f"FIT file of type '{out.file_type}', not an activity, "
                                 "and no resting heart rate, sleep or HRV in it")
    return out


def utc_timestamp(value: Any) -> pd.Timestamp | None:
    """A decoded FIT date_time as a UTC timestamp; None for power-on seconds or missing."""
    if isinstance(value, dt.datetime):
        return pd.Timestamp(value, tz="UTC") if value.tzinfo is None else pd.Timestamp(value)
    return None


def power_on_anchor(content: FitContent) -> pd.Timestamp | None:
    """Absolute time of power-on second 0, from ``activity.local_timestamp``, when known.

    Devices whose clock was never set write seconds since power-on (< 0x10000000). The
    activity message's ``local_timestamp`` is absolute (local time) and pairs with its
    relative ``timestamp``, which pins the timeline; the UTC offset stays unknown.
    """
    rel = content.activity.get("timestamp")
    local = content.activity.get("local_timestamp")
    if isinstance(rel, int) and rel < FIT_POWER_ON_LIMIT and isinstance(local, dt.datetime):
        return pd.Timestamp(local, tz="UTC") - pd.Timedelta(seconds=rel)
    return None


def to_timestamps(values: list[Any] | np.ndarray, anchor: pd.Timestamp | None) -> np.ndarray:
    """FIT date_time values to UTC nanoseconds; power-on seconds use ``anchor`` or become NAT.

    ``values`` are fitparse values (datetimes, ints for power-on seconds, None) or raw FIT
    seconds as float64 with NaN for missing.
    """
    if isinstance(values, np.ndarray):
        seconds = values
    else:
        seconds = np.array([
            (v.replace(tzinfo=None) - _FIT_EPOCH).total_seconds() if isinstance(v, dt.datetime)
            else float(v) if isinstance(v, int) else np.nan for v in values], dtype="float64")
    known = ~np.isnan(seconds)
    whole = np.where(known, seconds, 0).astype("int64")  # FIT date_time is whole seconds
    absolute = known & (seconds >= FIT_POWER_ON_LIMIT)
    ns = np.full(len(seconds), NAT, dtype="int64")
    ns[absolute] = (whole[absolute] + UTC_REFERENCE) * 1_000_000_000
    if anchor is not None:
        relative = known & ~absolute
        ns[relative] = anchor.value + whole[relative] * 1_000_000_000
    return ns


def _num(values: list[Any] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    return np.array([np.nan if v is None or isinstance(v, tuple) else v for v in values],
                    dtype="float64")


def record_columns(content: FitContent, anchor: pd.Timestamp | None) -> dict[str, np.ndarray]:
    """Record messages as canonical columns (cadence still one-leg rpm × 2, scale undecided).

    ``timestamp_utc`` is int64 UTC nanoseconds with NAT where unknown; the rest is float64.
    """
    r = content.records
    speed = _num(r["enhanced_speed"])
    speed = np.where(np.isnan(speed), _num(r["speed"]), speed)
    altitude = _num(r["enhanced_altitude"])
    altitude = np.where(np.isnan(altitude), _num(r["altitude"]), altitude)
    cadence = _num(r["cadence"])
    fraction = np.nan_to_num(_num(r["fractional_cadence"]), nan=0.0)
    # spec §5.2: one-leg rpm → steps/min; cadence256 only where cadence is missing.
    spm = np.where(np.isnan(cadence), cadence256_to_spm(_num(r["cadence256"])),
                   fit_cadence_to_spm(cadence, fraction))
    return {
        "timestamp_utc": to_timestamps(r["timestamp"], anchor),
        "distance_m": _num(r["distance"]),
        "speed_mps": speed,
        "cadence_spm": spm,
        "heart_rate_bpm": _num(r["heart_rate"]),
        "altitude_m": altitude,
        "lat_deg": semicircles_to_degrees(_num(r["position_lat"])),
        "lon_deg": semicircles_to_degrees(_num(r["position_long"])),
        "power_w": _num(r["power"]),
    }


def sport_of(session: dict[str, Any]) -> str:
    sport = session.get("sport")
    return str(sport) if sport is not None else "unknown"


def is_foot_sport(sport: str) -> bool:
    return sport in FOOT_SPORTS
