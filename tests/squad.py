"""Hand-built athletes for decision tests: sessions measured by the real pipeline from
synthetic traces, so ``evaluate()`` sees exactly what ingest would store."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd

from pipeline.activity import (
    LAP_COLUMNS,
    SPLIT_COLUMNS,
    TIMER_EVENT_COLUMNS,
    Activity,
    Device,
    MessageTable,
    Provenance,
    SessionSummary,
    to_columns,
)
from pipeline.athletes import Athlete
from pipeline.session import measure_session, sessions_frame
from schemas import CheckIns, Segments, Sessions
from tests.synthetic import trace

ATHLETE = Athlete("kim", "Kim Test", "UTC", "female", 55.0, 185.0, None,
                  dt.date(2026, 4, 1), 1)

# Crowell stage 1 at 2.6 m/s run, 1.4 m/s walk: 3 × 180 s run, main set 1.74 km (108 %).
STAGE1 = [("walk", 300), ("run", 180), ("walk", 120), ("run", 180), ("walk", 120),
          ("run", 180), ("walk", 300)]
# Crowell stage 2 (2.41 km): 4 × 180 s run, main set 2.38 km (99 %).
STAGE2 = [("walk", 300)] + [("run", 180), ("walk", 120)] * 3 + [("run", 180), ("walk", 300)]
CONTINUOUS = [("walk", 300), ("run", 1300), ("walk", 180)]  # stage 6: 3.38 km continuous
BRISK_WALK = [("walk", 1800)]


def _activity(bouts: list[tuple[str, int]], start: pd.Timestamp, sport: str) -> Activity:
    records = trace(bouts, start=start)
    columns = to_columns(records)
    sha = hashlib.sha256(f"{start.isoformat()}{bouts}".encode()).hexdigest()
    empty = {"timer_event_table": MessageTable.empty(TIMER_EVENT_COLUMNS, "timestamp_utc"),
             "split_table": MessageTable.empty(SPLIT_COLUMNS, "start_utc"),
             "lap_table": MessageTable.empty(LAP_COLUMNS, "start_utc")}
    elapsed = float(records["elapsed_s"].iloc[-1])
    summary = SessionSummary(index=0, sport=sport, sub_sport=None, start_utc=start,
                             elapsed_s=elapsed, timer_s=elapsed,
                             distance_m=float(records["distance_m"].iloc[-1]),
                             avg_cadence_spm=None, workout_rpe=None, workout_feel=None,
                             record_columns=columns, **empty)
    return Activity(record_columns=columns, sessions=(summary,), device=Device("test"),
                    local_offset_s=0.0,
                    provenance=Provenance("fit", sha, "synthetic", cadence_scale="spm"),
                    **empty)


def measured(plan: list[tuple[str, list[tuple[str, int]]]], athlete: Athlete = ATHLETE,
             sport: str = "running") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sessions and Segments of ``(YYYY-MM-DD, bouts)`` sessions, each at 07:00 UTC."""
    results = [measure_session(_activity(bouts, pd.Timestamp(f"{day} 07:00", tz="UTC"), sport),
                               0, athlete.athlete_id, athlete) for day, bouts in plan]
    sessions = Sessions.validate(sessions_frame([r.row for r in results]))
    segments = Segments.validate(pd.concat([r.segments for r in results], ignore_index=True))
    return sessions, segments


def checkins(rows: list[dict[str, object]], athlete: Athlete = ATHLETE) -> pd.DataFrame:
    """CheckIns rows; every column not given is unanswered."""
    columns = list(CheckIns.to_schema().columns)
    frame = pd.DataFrame([{"athlete_id": athlete.athlete_id, **r} for r in rows])
    frame = frame.reindex(columns=columns).assign(date=lambda f: pd.to_datetime(f["date"]))
    return CheckIns.validate(frame.astype({"swelling": "boolean", "stiffness": "boolean"}))


CLEAN = {"warmup": "none", "during": "none", "next_day": "none", "pain_during": 1.0,
         "pain_after": 1.0, "pain_next_morning": 0.0}
