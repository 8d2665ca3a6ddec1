"""GPX decoding through gpxpy, tolerant of what real exporters write."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any
from xml.etree import ElementTree

import gpxpy
import gpxpy.gpx
import numpy as np
import pandas as pd

from pipeline.errors import CorruptFileError, EmptyActivityError, UnsupportedFileError

__all__ = ["GpxTrack", "decode_gpx"]

DECODER = f"gpxpy {version('gpxpy')}"

# Local element names of the extension values we read, whatever the namespace
# (Garmin TrackPointExtension v1/v2, gpxdata:, bare <heartrate>, <power>, PowerInWatts).
_EXTENSION_NAMES = {
    "hr": "hr", "heartrate": "hr", "heart_rate": "hr",
    "cad": "cad", "cadence": "cad", "runcadence": "cad",
    "power": "power", "powerinwatts": "power", "watts": "power",
    "speed": "speed",
}
_PREFIX_USE = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]")
_PREFIX_DECL = re.compile(rb"xmlns:([A-Za-z_][\w.-]*)\s*=")
_GPX_OPEN = re.compile(rb"<gpx\b")


@dataclass(frozen=True)
class GpxTrack:
    """One ``trk`` (or TCX ``Activity``): its points as columns, its declared type, and its
    laps (TCX only: start_utc, timer_s, distance_m)."""

    sport: str
    points: pd.DataFrame
    laps: pd.DataFrame | None = None


def _declare_missing_prefixes(data: bytes) -> tuple[bytes, list[str]]:
    """Declare namespace prefixes that the file uses but never declares.

    Some exporters write ``<gpxdata:cadence>`` without ``xmlns:gpxdata``; strict XML parsers
    reject the whole file for it. Declaring a placeholder namespace keeps the data readable.
    """
    used = {m.group(1) for m in _PREFIX_USE.finditer(data)}
    declared = {m.group(1) for m in _PREFIX_DECL.finditer(data)} | {b"xml", b"xmlns"}
    missing = sorted(used - declared)
    if not missing:
        return data, []
    decl = b"".join(b' xmlns:%s="urn:comeback:undeclared:%s"' % (p, p) for p in missing)
    fixed, n = _GPX_OPEN.subn(b"<gpx" + decl, data, count=1)
    if not n:
        return data, []
    return fixed, [f"undeclared namespace prefix '{p.decode()}' declared to read the file"
                   for p in missing]


def _sport(raw: str | None) -> str:
    text = (raw or "").strip().lower()
    if not text:
        return "unknown"
    for key, sport in (("run", "running"), ("jog", "running"), ("walk", "walking"),
                       ("hik", "hiking"), ("cycl", "cycling"), ("bik", "cycling"),
                       ("ride", "cycling"), ("swim", "swimming")):
        if key in text:
            return sport
    # Strava writes its activity type number: 1 ride, 9 run, 10 walk, 16 swim, 17 virtual ride.
    strava = {"1": "cycling", "9": "running", "10": "walking", "16": "swimming", "17": "cycling"}
    return strava.get(text, f"other:{text}")


def _extension_values(point: gpxpy.gpx.GPXTrackPoint) -> dict[str, float]:
    found: dict[str, float] = {}
    for ext in point.extensions or ():
        for element in ext.iter():
            name = element.tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()
            key = _EXTENSION_NAMES.get(name)
            if key and key not in found and element.text:
                try:
                    found[key] = float(element.text.strip())
                except ValueError:
                    continue
    return found


def _points_frame(track: gpxpy.gpx.GPXTrack) -> pd.DataFrame:
    rows: dict[str, list[Any]] = {k: [] for k in
                                  ("time", "lat", "lon", "ele", "hr", "cad", "power", "speed")}
    for segment in track.segments:
        for p in segment.points:
            if p.time is None:
                continue
            ext = _extension_values(p)
            rows["time"].append(p.time)
            rows["lat"].append(p.latitude)
            rows["lon"].append(p.longitude)
            rows["ele"].append(p.elevation)
            for key in ("hr", "cad", "power", "speed"):
                rows[key].append(ext.get(key, np.nan))
    times = pd.to_datetime(pd.Series(rows["time"], dtype="object"), utc=True)
    return pd.DataFrame({
        "timestamp_utc": times,
        "lat_deg": pd.to_numeric(pd.Series(rows["lat"]), errors="coerce"),
        "lon_deg": pd.to_numeric(pd.Series(rows["lon"]), errors="coerce"),
        "altitude_m": pd.to_numeric(pd.Series(rows["ele"], dtype="object"), errors="coerce"),
        "heart_rate_bpm": np.asarray(rows["hr"], dtype="float64"),
        "cadence_raw": np.asarray(rows["cad"], dtype="float64"),
        "power_w": np.asarray(rows["power"], dtype="float64"),
        "speed_mps": np.asarray(rows["speed"], dtype="float64"),
    })


def decode_gpx(data: bytes, path: str) -> tuple[list[GpxTrack], str | None, list[str]]:
    """Parse GPX bytes into timestamped tracks.

    Returns:
        ``(tracks, creator, warnings)``.

    Raises:
        CorruptFileError: not well-formed XML or not GPX.
        UnsupportedFileError: only routes or waypoints (a plan, not a recording).
        EmptyActivityError: no timestamped track point.
    """
    data = data.removeprefix(b"\xef\xbb\xbf")
    data, notes = _declare_missing_prefixes(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        notes.append("file is not UTF-8; read as Latin-1")
    try:
        gpx = gpxpy.parse(text)
    except (gpxpy.gpx.GPXException, ElementTree.ParseError, ValueError, TypeError,
            AttributeError, IndexError, KeyError) as exc:
        # gpxpy wraps the XML parser's error, but lets its own value parsing raise bare
        # ValueError/TypeError (times, numbers) or AttributeError/IndexError (odd trees).
        raise CorruptFileError(path, f"GPX cannot be parsed: {exc}") from exc
    tracks = [GpxTrack(_sport(t.type), _points_frame(t)) for t in gpx.tracks]
    tracks = [t for t in tracks if len(t.points) >= 2]
    if not tracks:
        if gpx.routes and not any(s.points for t in gpx.tracks for s in t.segments):
            raise UnsupportedFileError(path, "GPX holds a planned route, not a recorded track")
        if any(s.points for t in gpx.tracks for s in t.segments):
            raise EmptyActivityError(path, "GPX track points carry fewer than two timestamps")
        raise EmptyActivityError(path, "GPX file holds no track points")
    return tracks, gpx.creator, notes
