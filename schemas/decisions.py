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
