"""Athlete check-ins: the Delaware soreness questions, pain and RPE (spec §4.2).

Missing answers stay missing (null), never "none".
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

WARMUP_ANSWERS = ("none", "resolved", "persisted")
DURING_ANSWERS = ("none", "returned", "new")
NEXT_DAY_ANSWERS = ("none", "muscular", "non_muscular")
PRE_SESSION_ANSWERS = ("no", "yes")


class CheckIns(pa.DataFrameModel):
    """One answer set per athlete per session day (``date`` = local date of the session)."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    warmup: Series[str] = pa.Field(isin=list(WARMUP_ANSWERS), nullable=True)
    during: Series[str] = pa.Field(isin=list(DURING_ANSWERS), nullable=True)
    next_day: Series[str] = pa.Field(isin=list(NEXT_DAY_ANSWERS), nullable=True)
    pre_session: Series[str] = pa.Field(isin=list(PRE_SESSION_ANSWERS), nullable=True)
    pain_during: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    pain_after: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    pain_next_morning: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    swelling: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    stiffness: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    rpe: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    note: Series[str] = pa.Field(nullable=True)

    class Config:
        coerce = True
        unique = ("athlete_id", "date")


class CheckInProblems(pa.DataFrameModel):
    """An input value (or a whole file) that was refused: where, what, and why.

    Check-in files and the roster's per-athlete settings report here; ``source`` names the
    file, ``line`` and ``column`` the cell.
    """

    athlete_id: Series[str]
    source: Series[str]
    line: Series[pd.Int64Dtype] = pa.Field(ge=1, nullable=True)
    column: Series[str] = pa.Field(nullable=True)
    value: Series[str] = pa.Field(nullable=True)
    reason: Series[str]

    class Config:
        coerce = True
