"""Soreness decisions: one row per athlete per session day (spec §4.3–4.5)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

VERDICTS = ("DROP", "HOLD", "STAY", "ADVANCE", "ADVANCE_OK", "UNDECIDED")


class Decisions(pa.DataFrameModel):
    """What the soreness rules decided and why; UNDECIDED says what is missing."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    activity_id: Series[str] = pa.Field(nullable=True)
    verdict: Series[str] = pa.Field(isin=list(VERDICTS))
    rules: Series[str] = pa.Field(nullable=True)
    days_off: Series[int] = pa.Field(ge=0)
    rest_until: Series[pd.Timestamp] = pa.Field(nullable=True)
    stage_before: Series[int] = pa.Field(ge=1)
    stage_after: Series[int] = pa.Field(ge=1)
    review: Series[str] = pa.Field(nullable=True)
    reason: Series[str]

    class Config:
        coerce = True


NEXT_STATUSES = ("ready", "review", "undecided")


class NextSessions(pa.DataFrameModel):
    """The next prescribed session per athlete, and why (one row per athlete)."""

    athlete_id: Series[str] = pa.Field(unique=True)
    status: Series[str] = pa.Field(isin=list(NEXT_STATUSES))
    date: Series[pd.Timestamp] = pa.Field(nullable=True)
    stage: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    prescription: Series[str] = pa.Field(nullable=True)
    run_s: Series[float] = pa.Field(ge=0, nullable=True)
    walk_s: Series[float] = pa.Field(ge=0, nullable=True)
    repeats: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    total_m: Series[float] = pa.Field(ge=0, nullable=True)
    target_rpe: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    why: Series[str]

    class Config:
        coerce = True
