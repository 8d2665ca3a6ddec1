"""Daily readiness: what the watch's wellness files and the athlete's wellness.csv say about
each morning (resting heart rate, overnight HRV, sleep, general soreness)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class ReadinessReadings(pa.DataFrameModel):
    """One day as one source gives it: a wellness FIT file, or a wellness.csv row."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    source: Series[str]  # the inbox file it came from
    file_key: Series[str]
    resting_hr_bpm: Series[float] = pa.Field(ge=25, le=120, nullable=True)
    hrv_ms: Series[float] = pa.Field(gt=0, lt=300, nullable=True)
    sleep_h: Series[float] = pa.Field(ge=0, le=24, nullable=True)
    soreness_0_10: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    note: Series[str] = pa.Field(nullable=True)

    class Config:
        coerce = True
        unique = ("athlete_id", "date", "source")


class Readiness(pa.DataFrameModel):
    """Athlete × day with any reading: the day's values (wellness.csv wins over the watch,
    field by field) and the resting heart rate against the athlete's 7 days before."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    resting_hr_bpm: Series[float] = pa.Field(ge=25, le=120, nullable=True)
    hrv_ms: Series[float] = pa.Field(gt=0, lt=300, nullable=True)
    sleep_h: Series[float] = pa.Field(ge=0, le=24, nullable=True)
    soreness_0_10: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    note: Series[str] = pa.Field(nullable=True)
    sources: Series[str]
    resting_hr_median_7d_bpm: Series[float] = pa.Field(nullable=True)
    resting_hr_rise_bpm: Series[float] = pa.Field(nullable=True)

    class Config:
        coerce = True
        unique = ("athlete_id", "date")
