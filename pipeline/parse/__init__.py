"""Read a watch export (FIT or GPX, either gzipped) into an Activity.

The format is detected from the content, never from the file name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.activity import (
    LAP_COLUMNS,
    RECORD_COLUMNS,
    SPLIT_COLUMNS,
    TIMER_EVENT_COLUMNS,
    Activity,
    Device,
    Provenance,
    SessionSummary,
    empty_frame,
)
from pipeline.cadence import decide_cadence_scale
from pipeline.errors import (
    CorruptFileError,
    EmptyActivityError,
    InputFileError,
    UnsupportedFileError,
)
from pipeline.parse import fit as _fit
from pipeline.parse import gpx as _gpx
from pipeline.units import FIT_POWER_ON_LIMIT, haversine_m

__all__ = ["MAX_DECOMPRESSED_BYTES", "detect_format", "read_activity"]

# A gzipped watch export never expands this far; beyond it the member is refused (bomb).
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
_PAUSE_GAP_S = 25.0


def detect_format(data: bytes) -> str:
    """Name the container or format of ``data``: fit, gpx, tcx, gzip, zip, empty or unknown."""
    if not data:
        return "empty"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if len(data) >= 12 and data[8:12] == b".FIT" and data[0] in (12, 14):
        return "fit"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        if b"<gpx" in head:
            return "gpx"
        if b"<TrainingCenterDatabase" in head:
            return "tcx"
    return "unknown"


def _gunzip(data: bytes, path: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(MAX_DECOMPRESSED_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(path, f"gzip data cannot be decompressed: {exc}") from exc
    if len(out) > MAX_DECOMPRESSED_BYTES:
        raise UnsupportedFileError(path, "gzip expands beyond 256 MB; refused as unsafe")
    return out


def _column(frame: pd.DataFrame, name: str, rows: np.ndarray) -> np.ndarray:
    if name not in frame:
        return np.full(len(rows), np.nan)
    return frame[name].to_numpy(dtype="float64", na_value=np.nan)[rows]


def _finalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort, drop repeated timestamps, fill distance/speed, express as canonical columns."""
    times = pd.DatetimeIndex(frame["timestamp_utc"].astype("datetime64[ns, UTC]")).asi8
    known = np.flatnonzero(times != np.iinfo("int64").min)
    rows = known[np.argsort(times[known], kind="stable")]
    t = times[rows]
    keep = np.r_[t[1:] != t[:-1], True] if len(t) else np.array([], dtype=bool)
    rows, t = rows[keep], t[keep]  # a repeated timestamp keeps its last sample
    lat, lon = _column(frame, "lat_deg", rows), _column(frame, "lon_deg", rows)
    lat[(lat < -90) | (lat > 90)] = np.nan
    lon[(lon < -180) | (lon > 180)] = np.nan
    dist = _column(frame, "distance_m", rows)
    if np.isnan(dist).all() and (~np.isnan(lat)).sum() >= 2:
        # GPS positions zigzag around the true path; a centred 3-point mean removes most of
        # that before summing (FR945 GPX vs FIT: +1.06 % raw, +0.24 % smoothed, -0.5 % with 5).
        pos = pd.DataFrame({"lat": lat, "lon": lon}).ffill()
        pos = pos.rolling(3, center=True, min_periods=1).mean()
        step = haversine_m(pos["lat"].shift().to_numpy(), pos["lon"].shift().to_numpy(),
                           pos["lat"].to_numpy(), pos["lon"].to_numpy())
        dist = np.cumsum(np.nan_to_num(step, nan=0.0))
        dist[np.isnan(lat) & pd.Series(lat).ffill().isna().to_numpy()] = np.nan
    dist[dist < 0] = np.nan
    seconds = (t - t[0]) / 1e9 if len(t) else np.array([], dtype="float64")
    speed = _column(frame, "speed_mps", rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        derived = np.r_[np.nan, np.diff(dist) / np.diff(seconds)] if len(t) else speed
    speed = np.where(np.isnan(speed), derived, speed)
    speed[speed < 0] = np.nan
    hr = _column(frame, "heart_rate_bpm", rows)
    hr[(hr <= 0) | (hr > 255)] = np.nan
    power = _column(frame, "power_w", rows)
    power[power < 0] = np.nan
    return pd.DataFrame({
        "timestamp_utc": pd.DatetimeIndex(t.view("datetime64[ns]")).tz_localize("UTC"),
        "elapsed_s": seconds,
        "distance_m": dist,
        "speed_mps": speed,
        "cadence_spm": _column(frame, "cadence_spm", rows),
        "heart_rate_bpm": hr,
        "altitude_m": _column(frame, "altitude_m", rows),
        "lat_deg": lat,
        "lon_deg": lon,
        "power_w": power,
    })[list(RECORD_COLUMNS)]


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)) if rows else empty_frame(columns)


def _slice(frame: pd.DataFrame, column: str, start: pd.Timestamp,
           end: pd.Timestamp | None) -> pd.DataFrame:
    if frame.empty:
        return frame
    times = pd.DatetimeIndex(pd.to_datetime(frame[column], utc=True)).as_unit("ns").asi8
    mask = (times >= start.value) & ((times < end.value) if end is not None else True)
    if mask.all():  # one session holds them all: the frame itself (frames are never mutated)
        return frame
    return frame[mask].reset_index(drop=True)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _fit_activity(data: bytes, path: str, sha: str, compression: str | None,
                  decoder: str) -> Activity:
    content = _fit.decode_fit(data, path, decoder)
    notes = list(content.warnings)
    anchor = _fit.power_on_anchor(content)
    raw = _fit.records_frame(content, anchor)
    if anchor is not None:
        notes.append("device clock was not set (timestamps since power-on); anchored to the "
                     "activity's local time, UTC offset unknown")
    if raw["timestamp_utc"].isna().all():
        raise CorruptFileError(path, "timestamps are seconds since device power-on and the "
                               "file holds no absolute time to anchor them")
    if raw["timestamp_utc"].isna().any():
        notes.append(f"{int(raw['timestamp_utc'].isna().sum())} records without a usable "
                     "timestamp dropped")

    def ts(value: Any) -> pd.Timestamp | None:
        if isinstance(value, int) and anchor is not None and value < FIT_POWER_ON_LIMIT:
            return anchor + pd.Timedelta(seconds=value)
        return _fit.utc_timestamp(value)

    local_offset: float | None = None
    a_ts, a_local = content.activity.get("timestamp"), content.activity.get("local_timestamp")
    if anchor is not None:
        local_offset = 0.0
    elif (utc := _fit.utc_timestamp(a_ts)) is not None and (
            local := _fit.utc_timestamp(a_local)) is not None:
        offset = (local - utc).total_seconds()
        if abs(offset) <= 14 * 3600:
            local_offset = float(round(offset / 900.0) * 900.0)

    events = _frame([{"timestamp_utc": ts(e.get("timestamp")), "event_type": str(e.get("event_type")),
                      "trigger": e.get("timer_trigger")}
                     for e in content.events
                     if e.get("event") == "timer" and ts(e.get("timestamp")) is not None],
                    TIMER_EVENT_COLUMNS)
    laps = _frame([{"start_utc": ts(lp.get("start_time")), "elapsed_s": _float(lp.get("total_elapsed_time")),
                    "timer_s": _float(lp.get("total_timer_time")),
                    "distance_m": _float(lp.get("total_distance"))}
                   for lp in content.laps if ts(lp.get("start_time")) is not None], LAP_COLUMNS)
    splits = _frame([{"split_type": str(s.get("split_type")), "start_utc": ts(s.get("start_time")),
                      "end_utc": ts(s.get("end_time")),
                      "elapsed_s": _float(s.get("total_elapsed_time")),
                      "timer_s": _float(s.get("total_timer_time")),
                      "distance_m": _float(s.get("total_distance"))}
                     for s in content.splits if ts(s.get("start_time")) is not None], SPLIT_COLUMNS)

    session_msgs = sorted((s for s in content.sessions if ts(s.get("start_time")) is not None),
                          key=lambda s: ts(s.get("start_time")))  # type: ignore[arg-type,return-value]
    valid = raw.dropna(subset=["timestamp_utc"]).reset_index(drop=True)
    if not session_msgs:
        notes.append("no session message (file not finalised); summary derived from records")
        session_msgs = [{"start_time": None, "sport": None}]
    starts = [ts(s.get("start_time")) or valid["timestamp_utc"].min() for s in session_msgs]
    idx = np.searchsorted(np.array([s.value for s in starts]),
                          valid["timestamp_utc"].astype("int64").to_numpy(), side="right") - 1
    valid["_session"] = np.clip(idx, 0, len(starts) - 1)
    sports = [_fit.sport_of(s) for s in session_msgs]
    foot = pd.Series(np.array([_fit.is_foot_sport(sp) for sp in sports])[valid["_session"]],
                     index=valid.index)
    scale, factor = decide_cadence_scale(valid["cadence_spm"].where(foot).to_numpy(),
                                         valid["speed_mps"].to_numpy(), "fit")
    valid["cadence_spm"] = (valid["cadence_spm"] * factor).where(foot)
    if scale in ("implausible", "spm"):
        notes.append(f"cadence scale decided from the data: {scale}")
    records = _finalise(valid)
    if len(records) < 2:
        raise EmptyActivityError(path, "FIT activity holds fewer than two timestamped records")

    sessions: list[SessionSummary] = []
    for i, (msg, start) in enumerate(zip(session_msgs, starts, strict=True)):
        part = valid[valid["_session"] == i]
        if part.empty:
            continue
        # One session holding every record is the whole activity: finalise once.
        recs = records if len(part) == len(valid) else _finalise(part)
        elapsed = _float(msg.get("total_elapsed_time")) or float(recs["elapsed_s"].iloc[-1])
        timer = _float(msg.get("total_timer_time")) or elapsed
        cad = msg.get("avg_running_cadence", msg.get("avg_cadence"))
        avg_cad = None
        if isinstance(cad, int | float) and _fit.is_foot_sport(sports[i]) and factor == factor:
            avg_cad = 2.0 * (cad + (_float(msg.get("avg_fractional_cadence")) or 0.0)) * factor
        rpe = _float(msg.get("workout_rpe"))
        end = starts[i + 1] if i + 1 < len(starts) else None
        sessions.append(SessionSummary(
            index=len(sessions), sport=sports[i],
            sub_sport=str(msg["sub_sport"]) if msg.get("sub_sport") is not None else None,
            start_utc=start, elapsed_s=elapsed, timer_s=timer,
            distance_m=_float(msg.get("total_distance")) or (
                float(recs["distance_m"].max()) if recs["distance_m"].notna().any() else None),
            avg_cadence_spm=avg_cad,
            workout_rpe=rpe / 10.0 if rpe is not None else None,  # FIT stores CR-10 × 10
            workout_feel=_float(msg.get("workout_feel")),
            records=recs,
            timer_events=_slice(events, "timestamp_utc", start, end),
            splits=_slice(splits, "start_utc", start, end),
            laps=_slice(laps, "start_utc", start, end),
        ))
    fid = content.file_id
    device = Device(
        manufacturer=str(fid["manufacturer"]) if fid.get("manufacturer") is not None else None,
        product=str(fid.get("garmin_product") or fid.get("product"))
        if (fid.get("garmin_product") or fid.get("product")) is not None else None,
        serial=str(fid["serial_number"]) if fid.get("serial_number") is not None else None,
    )
    provenance = Provenance(format="fit", sha256=sha, decoder=content.decoder, crc_ok=content.crc_ok,
                            truncated=content.truncated, compression=compression,
                            cadence_scale=scale, warnings=tuple(notes))
    return Activity(records=records, sessions=tuple(sessions), laps=laps, timer_events=events,
                    splits=splits, device=device, local_offset_s=local_offset,
                    provenance=provenance)


def _gpx_activity(data: bytes, path: str, sha: str, compression: str | None) -> Activity:
    tracks, creator, notes = _gpx.decode_gpx(data, path)
    # Finalise every track first (this derives speed from positions where the file has none),
    # then decide the cadence scale once for the file from its foot-sport samples (§5.5).
    finalised = [(_fit.is_foot_sport(t.sport), _finalise(t.points.assign(
        cadence_spm=t.points["cadence_raw"], distance_m=np.nan))) for t in tracks]
    scale, factor = decide_cadence_scale(
        np.concatenate([r["cadence_spm"].to_numpy() if foot else np.full(len(r), np.nan)
                        for foot, r in finalised]),
        np.concatenate([r["speed_mps"].to_numpy() for _, r in finalised]), "gpx")
    sessions: list[SessionSummary] = []
    frames = []
    for track, (foot, raw) in zip(tracks, finalised, strict=True):
        recs = raw.assign(cadence_spm=raw["cadence_spm"] * factor if foot else np.nan)
        frames.append(recs)
        gaps = recs["elapsed_s"].diff().fillna(0.0)
        elapsed = float(recs["elapsed_s"].iloc[-1])
        sessions.append(SessionSummary(
            index=len(sessions), sport=track.sport, sub_sport=None,
            start_utc=recs["timestamp_utc"].iloc[0], elapsed_s=elapsed,
            timer_s=elapsed - float(gaps[gaps > _PAUSE_GAP_S].sum()),
            distance_m=float(recs["distance_m"].max()) if recs["distance_m"].notna().any() else None,
            avg_cadence_spm=None, workout_rpe=None, workout_feel=None, records=recs,
            timer_events=empty_frame(TIMER_EVENT_COLUMNS), splits=empty_frame(SPLIT_COLUMNS),
            laps=empty_frame(LAP_COLUMNS),
        ))
    records = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        records = records.sort_values("timestamp_utc").drop_duplicates("timestamp_utc")
        records = records.assign(elapsed_s=(records["timestamp_utc"] - records["timestamp_utc"]
                                            .iloc[0]).dt.total_seconds()).reset_index(drop=True)
    provenance = Provenance(format="gpx", sha256=sha, decoder=_gpx.DECODER, crc_ok=None,
                            truncated=False, compression=compression, cadence_scale=scale,
                            warnings=tuple(notes))
    return Activity(records=records, sessions=tuple(sessions), laps=empty_frame(LAP_COLUMNS),
                    timer_events=empty_frame(TIMER_EVENT_COLUMNS),
                    splits=empty_frame(SPLIT_COLUMNS), device=Device(product=creator),
                    local_offset_s=None, provenance=provenance)


def read_activity(source: str | Path | bytes, name: str | None = None, *,
                  decoder: str = "auto") -> Activity:
    """Decode one watch export into an :class:`Activity`.

    Args:
        source: A path, or the file's bytes.
        name: How to name the file in errors when ``source`` is bytes (e.g. an archive member).
        decoder: For FIT: ``auto`` (vectorised records, fitparse for anything the fast path
            declines) or ``fitparse`` (the reference decoder only). Both give the same
            Activity on every file the fast path accepts.

    Returns:
        The activity, with records that validate against ``schemas.RawRecords``.

    Raises:
        InputFileError: a subclass saying why the file is corrupt, truncated, empty or
            unsupported. No other exception escapes.
    """
    path = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    if decoder not in ("auto", "fitparse"):
        raise ValueError(f"decoder must be 'auto' or 'fitparse', not {decoder!r}")
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise UnsupportedFileError(path, f"cannot be read: {exc.strerror}") from exc
    compression = None
    kind = detect_format(data)
    if kind == "gzip":
        data = _gunzip(data, path)
        compression = "gzip"
        kind = detect_format(data)
    try:
        sha = hashlib.sha256(data).hexdigest()
        if kind == "fit":
            return _fit_activity(data, path, sha, compression, decoder)
        if kind == "gpx":
            return _gpx_activity(data, path, sha, compression)
    except InputFileError:
        raise
    except Exception as exc:  # a decoder or pandas bug on hostile input: still the file's fault
        raise CorruptFileError(path, f"cannot be decoded: {exc!r}") from exc
    if kind == "empty":
        raise EmptyActivityError(path, "file is empty")
    if kind == "tcx":
        raise UnsupportedFileError(path, "TCX files are not supported yet; export FIT or GPX")
    if kind == "zip":
        raise UnsupportedFileError(path, "zip archive: unpack it with pipeline.archive")
    if kind == "gzip":
        raise UnsupportedFileError(path, "nested gzip is not supported")
    raise UnsupportedFileError(path, "unknown format (not FIT or GPX)")
