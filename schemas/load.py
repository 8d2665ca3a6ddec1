"""Daily load per athlete per local calendar day, zero-filled, with the ratios (spec §1)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series


class DailyLoad(pa.DataFrameModel):
    """Athlete × day. Loads of one measure per column; ratios on running minutes."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    n_sessions: Series[int] = pa.Field(ge=0)
    run_min: Series[float] = pa.Field(ge=0)
    duration_min: Series[float] = pa.Field(ge=0)
    distance_km: Series[float] = pa.Field(ge=0)
    srpe_au: Series[float] = pa.Field(ge=0, nullable=True)
    trimp: Series[float] = pa.Field(ge=0, nullable=True)
    unrecorded: Series[bool]
    acute: Series[float] = pa.Field(nullable=True)
    chronic: Series[float] = pa.Field(nullable=True)
    ratio_uncoupled: Series[float] = pa.Field(ge=0, nullable=True)
    ratio_coupled: Series[float] = pa.Field(ge=0, nullable=True)
    ratio_ewma: Series[float] = pa.Field(ge=0, nullable=True)
    ratio_reason: Series[str] = pa.Field(nullable=True)
    low_confidence: Series[bool]

    class Config:
        coerce = True
        unique = ("athlete_id", "date")


class CrossTrainingDaily(pa.DataFrameModel):
    """Athlete × day with cross-training: minutes, and the day's load in one measure."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    n_sessions: Series[int] = pa.Field(ge=1)
    sports: Series[str]
    duration_min: Series[float] = pa.Field(ge=0)
    trimp: Series[float] = pa.Field(ge=0, nullable=True)
    srpe_au: Series[float] = pa.Field(ge=0, nullable=True)
    load: Series[float] = pa.Field(ge=0)
    load_measure: Series[str] = pa.Field(isin=["trimp", "srpe", "duration"])

    class Config:
        coerce = True
        unique = ("athlete_id", "date")
