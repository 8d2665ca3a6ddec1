"""Daily readiness: resting heart rate, overnight HRV and sleep.

Two sources: the watch's wellness FIT files (monitoring, sleep, HRV; read by
:func:`pipeline.parse.read_wellness`) and an optional ``wellness.csv`` per athlete
(``date,resting_hr_bpm,hrv_ms,sleep_h,soreness_0_10,note``) for watches that export neither.
Each source's days are stored as readings; :func:`daily_readiness` makes one row per day
from them, and :func:`apply_day_resting_hr` gives Banister TRIMP the day's own resting heart
rate where one is known.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.athletes import Athlete
from pipeline.errors import CheckInError
from pipeline.load import banister_trimp
from pipeline.parse.fit import Wellness
from pipeline.session import local_date
from schemas import Readiness, ReadinessReadings

__all__ = ["WELLNESS_COLUMNS", "apply_day_resting_hr", "daily_readiness", "read_wellness_csv",
           "wellness_readings"]

WELLNESS_COLUMNS = ("date", "resting_hr_bpm", "hrv_ms", "sleep_h", "soreness_0_10", "note")
_READING_COLUMNS = list(ReadinessReadings.to_schema().columns)
_VALUES = ("resting_hr_bpm", "hrv_ms", "sleep_h", "soreness_0_10", "note")
# The FIT sleep_level values that are sleep (the others: awake, unmeasurable).
_ASLEEP = frozenset({"light", "deep", "rem", "2", "3", "4"})
# Sleep messages this far apart belong to different nights.
_NIGHT_GAP = pd.Timedelta(hours=4)
_CSV_RANGES = {"resting_hr_bpm": (25.0, 120.0), "hrv_ms": (1.0, 299.0), "sleep_h": (0.0, 24.0),
               "soreness_0_10": (0.0, 10.0)}


def _readings(rows: Any) -> pd.DataFrame:
    """Rows (dicts, or a frame) as validated ReadinessReadings."""
    frame = pd.DataFrame(rows, columns=_READING_COLUMNS)
    return ReadinessReadings.validate(frame.astype({"note": "object"}))


def _nights(levels: list[tuple[pd.Timestamp, str]]) -> list[tuple[pd.Timestamp, float]]:
    """(wake-up time, hours asleep) per night. Each level lasts until the next message;
    messages more than 4 hours apart belong to different nights."""
    nights: list[tuple[pd.Timestamp, float]] = []
    night: list[tuple[pd.Timestamp, str]] = []
    for t, level in [*sorted(levels), (None, "")]:
        if night and (t is None or t - night[-1][0] > _NIGHT_GAP):
            asleep = sum((b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(night)
                         if a[1].lower() in _ASLEEP)
            nights.append((night[-1][0], asleep / 3600.0))
            night = []
        if t is not None:
            night.append((t, level))
    return nights


def wellness_readings(wellness: Wellness, athlete_id: str, source: str, key: str,
                      athlete: Athlete | None) -> pd.DataFrame:
    """One reading per local day of a wellness FIT file: the day's last resting heart rate,
    the overnight HRV and the hours asleep of the night that ended that morning."""
    tz = athlete.timezone if athlete else None

    def day(t: pd.Timestamp) -> pd.Timestamp:
        return pd.Timestamp(local_date(t, wellness.local_offset_s, tz))

    days: dict[pd.Timestamp, dict[str, object]] = {}
    for field, pairs in (("resting_hr_bpm", wellness.resting_hr_bpm),
                         ("hrv_ms", wellness.hrv_ms),
                         ("sleep_h", [(t, round(h, 2)) for t, h in
                                      _nights(wellness.sleep_levels)])):
        for t, value in sorted(pairs):
            days.setdefault(day(t), {})[field] = value  # the day's last value
    return _readings([{"athlete_id": athlete_id, "date": d, "source": source, "file_key": key,
                       **values} for d, values in sorted(days.items())])


def read_wellness_csv(path: Path, athlete_id: str, key: str,
                      ) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """An athlete's ``wellness.csv``: the readings, and each refused cell (line, column,
    value, reason) as a check-in problem row. A row with a bad date is refused whole; a
    bad value is left empty and its row kept.

    Raises:
        CheckInError: the file cannot be read or has no ``date`` column.
    """
    source = f"{athlete_id}/wellness.csv"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckInError(str(path), 1, f"cannot be read ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    if "date" not in (reader.fieldnames or []):
        raise CheckInError(str(path), 1, "wellness.csv needs a 'date' column")
    rows: list[dict[str, object]] = []
    problems: list[dict[str, object]] = []
    seen: set[pd.Timestamp] = set()

    def refuse(line: int, column: str | None, value: str, reason: str) -> None:
        problems.append({"athlete_id": athlete_id, "source": source, "line": line,
                         "column": column, "value": value, "reason": reason})

    for line, raw in enumerate(reader, start=2):
        text_date = (raw.get("date") or "").strip()
        try:
            date = pd.Timestamp(text_date).normalize() if text_date else None
        except ValueError:
            date = None
        if date is None:
            refuse(line, "date", text_date, "expected a date such as 2026-04-01; row ignored")
            continue
        if date in seen:
            refuse(line, "date", text_date, "this date has a row already; the later row wins")
        seen.add(date)
        row: dict[str, object] = {"athlete_id": athlete_id, "date": date, "source": source,
                                  "file_key": key, "note": (raw.get("note") or "").strip() or None}
        for column, (low, high) in _CSV_RANGES.items():
            cell = (raw.get(column) or "").strip()
            if not cell:
                continue
            try:
                value = float(cell)
            except ValueError:
                value = np.nan
            if not low <= value <= high:
                refuse(line, column, cell, f"expected a number from {low:g} to {high:g}; left empty")
                continue
            row[column] = value
        rows.append(row)
    readings = pd.DataFrame(rows, columns=_READING_COLUMNS).drop_duplicates(
        ["athlete_id", "date", "source"], keep="last")
    return _readings(readings), problems


def daily_readiness(readings: pd.DataFrame) -> pd.DataFrame:
    """One row per athlete and day with a reading (``Readiness``).

    wellness.csv wins over the watch field by field (a person's entry corrects the device);
    several watch files of one day give their last value. The resting heart rate is compared
    with the median of the athlete's previous 7 days (at least 3 of them known).
    """
    cols = list(Readiness.to_schema().columns)
    if readings.empty:
        return Readiness.validate(pd.DataFrame({c: pd.Series(dtype="object") for c in cols}))
    readings = _readings(readings.reindex(columns=_READING_COLUMNS))
    ordered = readings.assign(_csv=readings["source"].str.endswith("wellness.csv")).sort_values(
        ["athlete_id", "date", "_csv", "source"], kind="stable")
    grouped = ordered.groupby(["athlete_id", "date"], sort=True)
    day = grouped[list(_VALUES)].last()  # the last non-missing value: wellness.csv sorts last
    day["sources"] = grouped["source"].agg(lambda s: ", ".join(dict.fromkeys(s)))
    day = day.reset_index()
    medians = []
    for _, mine in day.groupby("athlete_id", sort=False):
        rhr = mine.set_index("date")["resting_hr_bpm"].astype("float64")
        medians.append(rhr.rolling("7D", closed="left", min_periods=3).median().to_numpy())
    day["resting_hr_median_7d_bpm"] = np.concatenate(medians)
    day["resting_hr_rise_bpm"] = day["resting_hr_bpm"] - day["resting_hr_median_7d_bpm"]
    return Readiness.validate(day[cols].astype({"note": "object"}))


def apply_day_resting_hr(sessions: pd.DataFrame, readiness: pd.DataFrame,
                         roster: Mapping[str, Athlete],
                         records_of: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    """Banister TRIMP with the day's resting heart rate where the readiness table knows it
    (the roster's fixed value otherwise), recomputed from the stored records only for the
    sessions whose resting value changes. Returns the sessions that changed."""
    if sessions.empty or readiness.empty:
        return sessions.iloc[:0]
    known = readiness.dropna(subset=["resting_hr_bpm"]).set_index(["athlete_id", "date"])
    key = pd.MultiIndex.from_arrays([sessions["athlete_id"],
                                     pd.to_datetime(sessions["local_date"]).dt.normalize()])
    day_rest = known["resting_hr_bpm"].reindex(key).to_numpy()
    changed: list[dict[Any, Any]] = []
    for s, rest in zip(sessions.to_dict("records"), day_rest, strict=True):
        athlete = roster.get(str(s["athlete_id"]))
        if athlete is None or athlete.hr_max_bpm is None or athlete.sex is None:
            continue
        want = float(rest) if pd.notna(rest) else athlete.hr_rest_bpm
        used = s["trimp_hr_rest_bpm"]
        if want is None or pd.isna(s["heart_rate_bpm_mean"]) or (pd.notna(used) and want == used):
            continue
        if pd.isna(used) and pd.isna(rest):
            continue  # measured without a resting value, and none known for the day
        rec = records_of(str(s["activity_id"]))
        moving = ~rec["paused"].to_numpy(dtype=bool)
        trimp = banister_trimp(rec["heart_rate_bpm"].to_numpy(dtype="float64")[moving],
                               rec["duration_s"].to_numpy(dtype="float64")[moving],
                               want, athlete.hr_max_bpm, athlete.sex)
        changed.append({**s, "trimp_banister": trimp, "trimp_hr_rest_bpm": want})
    return pd.DataFrame(changed, columns=sessions.columns)
