"""TCX (Garmin Training Center XML v2) decoding through lxml.

Elements are found by their local names in any namespace: exporters bind the ActivityExtension
namespace to different prefixes (``ns3:``, ``x:``, none). The parser resolves no entities and
fetches nothing (a file cannot make Comeback read other files or the network).
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import pandas as pd
from lxml import etree

from pipeline.errors import CorruptFileError, EmptyActivityError, UnsupportedFileError
from pipeline.parse.gpx import GpxTrack

__all__ = ["DECODER", "decode_tcx"]

DECODER = f"lxml {version('lxml')}"

# TCX Sport attribute (Running | Biking | Other) as the FIT sport names the kinds read.
_SPORTS = {"running": "running", "biking": "cycling", "other": "other:other"}
_POINT_FIELDS = {  # local name → column; the first one found in a trackpoint wins
    "Time": "time", "LatitudeDegrees": "lat", "LongitudeDegrees": "lon",
    "AltitudeMeters": "ele", "DistanceMeters": "dist", "Cadence": "cad", "RunCadence": "run_cad",
    "Speed": "speed", "Watts": "power"}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True,
                           remove_comments=True)


def _text(element: etree._Element | None) -> str | None:
    return element.text.strip() if element is not None and element.text else None


def _number(text: str | None) -> float:
    try:
        return float(text) if text else np.nan
    except ValueError:
        return np.nan


def _points(activity: etree._Element) -> pd.DataFrame:
    rows: dict[str, list[object]] = {k: [] for k in (*_POINT_FIELDS.values(), "hr")}
    for point in activity.iter("{*}Trackpoint"):
        found: dict[str, str | None] = {}
        for element in point.iter(etree.Element):  # not comments or entity references
            name = etree.QName(element).localname
            if name == "HeartRateBpm":
                found.setdefault("hr", _text(element.find("{*}Value")))
            elif name in _POINT_FIELDS:
                found.setdefault(_POINT_FIELDS[name], _text(element))
        for key, values in rows.items():
            values.append(found.get(key))
    times = pd.to_datetime(pd.Series(rows["time"], dtype="object"), utc=True, errors="coerce",
                           format="ISO8601")
    numbers = {k: np.array([_number(v) for v in rows[k]], dtype="float64")  # type: ignore[arg-type]
               for k in rows if k != "time"}
    # RunCadence (ActivityExtension v2) is the running cadence; the trackpoint's own Cadence
    # is a bike's (the schema says so), though some watches put running cadence there too.
    cadence = np.where(np.isnan(numbers["run_cad"]), numbers["cad"], numbers["run_cad"])
    frame = pd.DataFrame({
        "timestamp_utc": times, "lat_deg": numbers["lat"], "lon_deg": numbers["lon"],
        "altitude_m": numbers["ele"], "heart_rate_bpm": numbers["hr"], "cadence_raw": cadence,
        "power_w": numbers["power"], "speed_mps": numbers["speed"], "distance_m": numbers["dist"]})
    return frame[frame["timestamp_utc"].notna()].reset_index(drop=True)


def _laps(activity: etree._Element) -> pd.DataFrame:
    starts, timers, distances = [], [], []
    for lap in activity.iter("{*}Lap"):
        starts.append(lap.get("StartTime"))
        timers.append(_number(_text(lap.find("{*}TotalTimeSeconds"))))
        distances.append(_number(_text(lap.find("{*}DistanceMeters"))))
    return pd.DataFrame({
        "start_utc": pd.to_datetime(pd.Series(starts, dtype="object"), utc=True, errors="coerce",
                                    format="ISO8601"),
        "timer_s": np.asarray(timers, dtype="float64"),
        "distance_m": np.asarray(distances, dtype="float64")}).dropna(subset=["start_utc"])


def decode_tcx(data: bytes, path: str) -> tuple[list[GpxTrack], str | None, list[str]]:
    """Parse TCX bytes into one track per ``Activity`` (with its laps).

    Returns:
        ``(tracks, creator, warnings)``; each track's points carry the watch's own
        ``distance_m`` where the file has it.

    Raises:
        CorruptFileError: not well-formed XML, or not a TrainingCenterDatabase.
        UnsupportedFileError: a course or workout file (a plan, not a recording).
        EmptyActivityError: no activity with two timestamped trackpoints.
    """
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise CorruptFileError(path, f"TCX cannot be parsed: {exc}") from exc
    if etree.QName(root).localname != "TrainingCenterDatabase":
        raise CorruptFileError(path, f"TCX root element is <{etree.QName(root).localname}>, "
                               "not <TrainingCenterDatabase>")
    activities = list(root.iter("{*}Activity"))
    if not activities:
        if root.find("{*}Courses") is not None or root.find("{*}Workouts") is not None:
            raise UnsupportedFileError(path, "TCX holds a course or workout, not a recording")
        raise EmptyActivityError(path, "TCX file holds no activity")
    tracks, notes = [], []
    for activity in activities:
        sport = _SPORTS.get((activity.get("Sport") or "").strip().lower(), "unknown")
        points = _points(activity)
        if len(points) >= 2:
            tracks.append(GpxTrack(sport, points, _laps(activity)))
        elif len(points):
            notes.append("an activity with a single timestamped trackpoint was skipped")
    if not tracks:
        raise EmptyActivityError(path, "TCX trackpoints carry fewer than two timestamps")
    creator = _text(root.find(".//{*}Creator/{*}Name"))
    return tracks, creator, notes
