"""Read a watch export (FIT, GPX or TCX, any of them gzipped) into an Activity.

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
    NAT,
    RECORD_COLUMNS,
    SPLIT_COLUMNS,
    TIMER_EVENT_COLUMNS,
    Activity,
    Columns,
    Device,
    MessageTable,
    Provenance,
    SessionSummary,
    to_columns,
    to_frame,
    utc_index,
)
from pipeline.cadence import decide_cadence_scale
from pipeline.errors import (
    ArgumentError,
    CorruptFileError,
    EmptyActivityError,
    UnsupportedFileError,
)
from pipeline.parse import fit as _fit
from pipeline.parse import gpx as _gpx
from pipeline.parse import tcx as _tcx
from pipeline.units import fit_cadence_to_spm, haversine_m

__all__ = ["MAX_DECOMPRESSED_BYTES", "detect_format", "read_activity", "read_wellness"]

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
        if b"<TrainingCenterDatabase" in head or (b"<Activities" in head
                                                  and b"<Activity Sport=" in head):
            return "tcx"  # (the second: a TCX that lost its root, refused as corrupt)
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


def _finalise(cols: Columns) -> Columns:
    """Sort, drop repeated timestamps, fill distance/speed, express as canonical columns."""
    times = cols["timestamp_utc"]
    known = np.flatnonzero(times != NAT)
    rows = known[np.argsort(times[known], kind="stable")]
    t = times[rows]
    keep = np.r_[t[1:] != t[:-1], True] if len(t) else np.array([], dtype=bool)
    rows, t = rows[keep], t[keep]  # a repeated timestamp keeps its last sample

    def column(name: str) -> np.ndarray:  # a copy, in time order
        return cols[name][rows] if name in cols else np.full(len(rows), np.nan)

    lat, lon = column("lat_deg"), column("lon_deg")
    lat[(lat < -90) | (lat > 90)] = np.nan
    lon[(lon < -180) | (lon > 180)] = np.nan
    dist = column("distance_m")
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
    speed = column("speed_mps")
    with np.errstate(divide="ignore", invalid="ignore"):
        derived = np.r_[np.nan, np.diff(dist) / np.diff(seconds)] if len(t) else speed
    speed = np.where(np.isnan(speed), derived, speed)
    speed[speed < 0] = np.nan
    hr = column("heart_rate_bpm")
    hr[(hr <= 0) | (hr > 255)] = np.nan
    power = column("power_w")
    power[power < 0] = np.nan
    return {
        "timestamp_utc": t,
        "elapsed_s": seconds,
        "distance_m": dist,
        "speed_mps": speed,
        "cadence_spm": column("cadence_spm"),
        "heart_rate_bpm": hr,
        "altitude_m": column("altitude_m"),
        "lat_deg": lat,
        "lon_deg": lon,
        "power_w": power,
    }


def _messages(time_column: str, columns: tuple[str, ...],
              values: dict[str, list[Any] | np.ndarray],
              times: dict[str, np.ndarray]) -> MessageTable:
    """Laps, timer events or splits with a known time, as a table of columns."""
    known = times[time_column] != NAT
    if not known.any():
        return MessageTable.empty(columns, time_column)
    data = {c: ns[known] for c, ns in times.items()}
    # Object columns are built one value per row: a field that a damaged definition made an
    # array (a list per message) must stay one cell, not become a second dimension.
    data.update({c: (np.asarray(vals, dtype="float64") if isinstance(vals, np.ndarray)
                     else np.fromiter(vals, dtype=object, count=len(vals)))[known]
                 for c, vals in values.items()})
    return MessageTable(columns, data, time_column, tuple(times))


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _floats(messages: list[dict[str, Any]], field: str) -> np.ndarray:
    return np.array([_float(m.get(field)) for m in messages], dtype="float64")  # None → NaN


def _fit_records(content: _fit.FitContent, path: str,
                 notes: list[str]) -> tuple[Columns, pd.Timestamp | None]:
    """Record columns with absolute timestamps, and the power-on anchor if one was needed."""
    anchor = _fit.power_on_anchor(content)
    cols = _fit.record_columns(content, anchor)
    if anchor is not None:
        notes.append("device clock was not set (timestamps since power-on); anchored to the "
                     "activity's local time, UTC offset unknown")
    known = cols["timestamp_utc"] != NAT
    if not known.any():
        raise CorruptFileError(path, "timestamps are seconds since device power-on and the "
                               "file holds no absolute time to anchor them")
    if not known.all():
        notes.append(f"{int((~known).sum())} records without a usable timestamp dropped")
        cols = {name: values[known] for name, values in cols.items()}
    return cols, anchor


def _fit_local_offset(content: _fit.FitContent, anchor: pd.Timestamp | None) -> float | None:
    """UTC offset from the activity message's local timestamp, to the nearest 15 minutes."""
    if anchor is not None:
        return 0.0
    a_ts, a_local = content.activity.get("timestamp"), content.activity.get("local_timestamp")
    if (utc := _fit.utc_timestamp(a_ts)) is not None and (
            local := _fit.utc_timestamp(a_local)) is not None:
        offset = (local - utc).total_seconds()
        if abs(offset) <= 14 * 3600:
            return float(round(offset / 900.0) * 900.0)
    return None


def _fit_tables(content: _fit.FitContent, anchor: pd.Timestamp | None) -> tuple[MessageTable, MessageTable, MessageTable]:
    """Timer events, laps and splits as message tables (timer events, laps, splits)."""
    def times(messages: list[dict[str, Any]], field: str) -> np.ndarray:
        return _fit.to_timestamps([m.get(field) for m in messages], anchor)

    timer_msgs = [e for e in content.events if e.get("event") == "timer"]
    events = _messages("timestamp_utc", TIMER_EVENT_COLUMNS, {
        "event_type": [str(e.get("event_type")) for e in timer_msgs],
        "trigger": [e.get("timer_trigger") for e in timer_msgs]},
        {"timestamp_utc": times(timer_msgs, "timestamp")})
    laps = _messages("start_utc", LAP_COLUMNS, {
        "elapsed_s": _floats(content.laps, "total_elapsed_time"),
        "timer_s": _floats(content.laps, "total_timer_time"),
        "distance_m": _floats(content.laps, "total_distance")},
        {"start_utc": times(content.laps, "start_time")})
    splits = _messages("start_utc", SPLIT_COLUMNS, {
        "split_type": [str(s.get("split_type")) for s in content.splits],
        "elapsed_s": _floats(content.splits, "total_elapsed_time"),
        "timer_s": _floats(content.splits, "total_timer_time"),
        "distance_m": _floats(content.splits, "total_distance")},
        {"start_utc": times(content.splits, "start_time"),
         "end_utc": times(content.splits, "end_time")})
    return events, laps, splits


def _fit_session_cadence(msg: dict[str, Any], sport: str, factor: float) -> float | None:
    """The session message's average cadence in steps per minute (foot sports only)."""
    cad = msg.get("avg_running_cadence", msg.get("avg_cadence"))
    if not isinstance(cad, int | float) or not _fit.is_foot_sport(sport) or factor != factor:
        return None
    return float(fit_cadence_to_spm(cad, _float(msg.get("avg_fractional_cadence")) or 0.0)) * factor


def _fit_device(fid: dict[str, Any]) -> Device:
    product = fid.get("garmin_product") or fid.get("product")
    return Device(
        manufacturer=str(fid["manufacturer"]) if fid.get("manufacturer") is not None else None,
        product=str(product) if product is not None else None,
        serial=str(fid["serial_number"]) if fid.get("serial_number") is not None else None,
    )


def _fit_activity(data: bytes, path: str, sha: str, compression: str | None,
                  decoder: str) -> Activity:
    content = _fit.decode_fit(data, path, decoder)
    notes = list(content.warnings)
    cols, anchor = _fit_records(content, path, notes)
    events, laps, splits = _fit_tables(content, anchor)

    session_start = _fit.to_timestamps([m.get("start_time") for m in content.sessions], anchor)
    order = [i for i in np.argsort(session_start, kind="stable") if session_start[i] != NAT]
    session_msgs = [content.sessions[i] for i in order]
    start_ns = session_start[order]
    if not session_msgs:
        notes.append("no session message (file not finalised); summary derived from records")
        session_msgs = [{"start_time": None, "sport": None}]
        start_ns = np.array([cols["timestamp_utc"].min()])
    starts = list(utc_index(start_ns))
    session_of = np.clip(np.searchsorted(start_ns, cols["timestamp_utc"], side="right") - 1,
                         0, len(starts) - 1)
    sports = [_fit.sport_of(s) for s in session_msgs]
    foot = np.array([_fit.is_foot_sport(sp) for sp in sports])[session_of]
    scale, factor = decide_cadence_scale(np.where(foot, cols["cadence_spm"], np.nan),
                                         cols["speed_mps"], "fit")
    cols["cadence_spm"] = np.where(foot, cols["cadence_spm"] * factor, np.nan)
    if scale in ("implausible", "spm"):
        notes.append(f"cadence scale decided from the data: {scale}")
    records = _finalise(cols)
    if len(records["timestamp_utc"]) < 2:
        raise EmptyActivityError(path, "FIT activity holds fewer than two timestamped records")

    sessions: list[SessionSummary] = []
    for i, (msg, start) in enumerate(zip(session_msgs, starts, strict=True)):
        part = session_of == i
        if not part.any():
            continue
        # One session holding every record is the whole activity: finalise once.
        recs = records if part.all() else _finalise({k: v[part] for k, v in cols.items()})
        elapsed = _float(msg.get("total_elapsed_time")) or float(recs["elapsed_s"][-1])
        rpe = _float(msg.get("workout_rpe"))
        end_ns = int(start_ns[i + 1]) if i + 1 < len(starts) else None
        sessions.append(SessionSummary(
            index=len(sessions), sport=sports[i],
            sub_sport=str(msg["sub_sport"]) if msg.get("sub_sport") is not None else None,
            start_utc=start, elapsed_s=elapsed,
            timer_s=_float(msg.get("total_timer_time")) or elapsed,
            distance_m=_float(msg.get("total_distance")) or (
                float(np.nanmax(recs["distance_m"])) if not np.isnan(recs["distance_m"]).all()
                else None),
            avg_cadence_spm=_fit_session_cadence(msg, sports[i], factor),
            workout_rpe=rpe / 10.0 if rpe is not None else None,  # FIT stores CR-10 × 10
            workout_feel=_float(msg.get("workout_feel")),
            record_columns=recs,
            timer_event_table=events.between(start.value, end_ns),
            split_table=splits.between(start.value, end_ns),
            lap_table=laps.between(start.value, end_ns),
        ))
    provenance = Provenance(format="fit", sha256=sha, decoder=content.decoder, crc_ok=content.crc_ok,
                            truncated=content.truncated, compression=compression,
                            cadence_scale=scale, warnings=tuple(notes))
    return Activity(record_columns=records, sessions=tuple(sessions), lap_table=laps,
                    timer_event_table=events, split_table=splits,
                    device=_fit_device(content.file_id), local_offset_s=_fit_local_offset(content, anchor),
                    provenance=provenance)


def _lap_table(laps: pd.DataFrame | None) -> MessageTable:
    if laps is None or laps.empty:
        return MessageTable.empty(LAP_COLUMNS, "start_utc")
    return MessageTable(LAP_COLUMNS, {
        "start_utc": pd.DatetimeIndex(laps["start_utc"]).as_unit("ns").asi8,
        "elapsed_s": laps["timer_s"].to_numpy(dtype="float64"),  # TCX gives timer time only
        "timer_s": laps["timer_s"].to_numpy(dtype="float64"),
        "distance_m": laps["distance_m"].to_numpy(dtype="float64")}, "start_utc")


def _track_activity(tracks: list[_gpx.GpxTrack], creator: str | None, notes: list[str],
                    fmt: str, decoder: str, sha: str, compression: str | None) -> Activity:
    """An Activity from GPX tracks or TCX activities: one session each."""
    # Finalise every track first (this derives speed from positions where the file has none),
    # then decide the cadence scale once for the file from its foot-sport samples (§5.5).
    finalised = [(_fit.is_foot_sport(t.sport), to_frame(_finalise(to_columns(t.points.assign(
        cadence_spm=t.points["cadence_raw"],
        distance_m=t.points.get("distance_m", np.nan)))),
        RECORD_COLUMNS)) for t in tracks]
    scale, factor = decide_cadence_scale(
        np.concatenate([r["cadence_spm"].to_numpy() if foot else np.full(len(r), np.nan)
                        for foot, r in finalised]),
        np.concatenate([r["speed_mps"].to_numpy() for _, r in finalised]), fmt)
    sessions: list[SessionSummary] = []
    frames = []
    for track, (foot, raw) in zip(tracks, finalised, strict=True):
        recs = raw.assign(cadence_spm=raw["cadence_spm"] * factor if foot else np.nan)
        frames.append(recs)
        gaps = recs["elapsed_s"].diff().fillna(0.0)
        elapsed = float(recs["elapsed_s"].iloc[-1])
        laps = _lap_table(track.laps)
        lap_timer = float(np.nansum(laps.column("timer_s"))) if len(laps) else 0.0
        sessions.append(SessionSummary(
            index=len(sessions), sport=track.sport, sub_sport=None,
            start_utc=recs["timestamp_utc"].iloc[0], elapsed_s=elapsed,
            timer_s=lap_timer or elapsed - float(gaps[gaps > _PAUSE_GAP_S].sum()),
            distance_m=float(recs["distance_m"].max()) if recs["distance_m"].notna().any() else None,
            avg_cadence_spm=None, workout_rpe=None, workout_feel=None,
            record_columns=to_columns(recs),
            timer_event_table=MessageTable.empty(TIMER_EVENT_COLUMNS, "timestamp_utc"),
            split_table=MessageTable.empty(SPLIT_COLUMNS, "start_utc"),
            lap_table=laps,
        ))
    records = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        records = records.sort_values("timestamp_utc").drop_duplicates("timestamp_utc")
        records = records.assign(elapsed_s=(records["timestamp_utc"] - records["timestamp_utc"]
                                            .iloc[0]).dt.total_seconds()).reset_index(drop=True)
    provenance = Provenance(format=fmt, sha256=sha, decoder=decoder, crc_ok=None,
                            truncated=False, compression=compression, cadence_scale=scale,
                            warnings=tuple(notes))
    all_laps = [t.laps for t in tracks if t.laps is not None and len(t.laps)]
    return Activity(record_columns=to_columns(records), sessions=tuple(sessions),
                    lap_table=_lap_table(pd.concat(all_laps) if all_laps else None),
                    timer_event_table=MessageTable.empty(TIMER_EVENT_COLUMNS, "timestamp_utc"),
                    split_table=MessageTable.empty(SPLIT_COLUMNS, "start_utc"),
                    device=Device(product=creator),
                    local_offset_s=None, provenance=provenance)


def _content(source: str | Path | bytes, name: str | None,
             ) -> tuple[bytes, str, str | None, str]:
    """The file's bytes (gunzipped), its name for errors, its compression and format."""
    path = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
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
    return data, path, compression, kind


def read_wellness(source: str | Path | bytes, name: str | None = None) -> _fit.Wellness:
    """Decode a watch's wellness FIT file (monitoring, sleep, HRV; gzipped too).

    Raises:
        InputFileError: not a FIT file, damaged beyond reading, or holding no resting heart
            rate, sleep or HRV (``NotAnActivityError``).
    """
    data, path, _, kind = _content(source, name)
    if kind != "fit":
        raise UnsupportedFileError(path, "a wellness file is a FIT file")
    return _fit.decode_wellness(data, path)


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
            unsupported. Anything else is a bug in Comeback and propagates.
        ArgumentError: ``decoder`` is neither ``auto`` nor ``fitparse``.
    """
    if decoder not in ("auto", "fitparse"):
        raise ArgumentError(f"decoder must be 'auto' or 'fitparse', not {decoder!r}")
    data, path, compression, kind = _content(source, name)
    # The decoders wrap their own errors; anything else raised here is a bug and propagates.
    sha = hashlib.sha256(data).hexdigest()
    if kind == "fit":
        return _fit_activity(data, path, sha, compression, decoder)
    if kind == "gpx":
        return _track_activity(*_gpx.decode_gpx(data, path), "gpx", _gpx.DECODER, sha,
                               compression)
    if kind == "tcx":
        return _track_activity(*_tcx.decode_tcx(data, path), "tcx", _tcx.DECODER, sha,
                               compression)
    if kind == "empty":
        raise EmptyActivityError(path, "file is empty")
    if kind == "zip":
        raise UnsupportedFileError(path, "zip archive: read its members with "
                                         "pipeline.inbox.read_zip_members")
    if kind == "gzip":
        raise UnsupportedFileError(path, "nested gzip is not supported")
    raise UnsupportedFileError(path, "unknown format (not FIT, GPX or TCX)")
