"""Soreness decisions: one row per athlete per session day (spec §4.3–4.5)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

VERDICTS = ("DROP", "HOLD", "STAY", "ADVANCE", "ADVANCE_OK", "UNDECIDED")
PHASES = ("programme", "post_programme")
CHANGES = ("frequency", "volume")


class Decisions(pa.DataFrameModel):
    """What the rules decided for each session day, the inputs they read, and why.

    ``rules`` lists every rule that fired (soreness rules and progression gates);
    ``inputs`` the values they read; ``explanation`` says in a coach's words why the athlete
    advanced or did not. UNDECIDED says what is missing.
    """

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
    phase: Series[str] = pa.Field(isin=list(PHASES), nullable=True)
    run_days_limit: Series[pd.Int64Dtype] = pa.Field(ge=1, le=7, nullable=True)
    completions: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    days_since_change: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    in_review: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    cadence_spm: Series[float] = pa.Field(gt=0, nullable=True)
    cadence_target_spm: Series[float] = pa.Field(gt=0, nullable=True)
    inputs: Series[str] = pa.Field(nullable=True)
    explanation: Series[str] = pa.Field(nullable=True)

    class Config:
        coerce = True


class Reviews(pa.DataFrameModel):
    """A person's acknowledgement of a clinician review: who, when, and what they noted.

    An acknowledgement closes every review opened on or before its date; the programme then
    continues from the level the athlete is at.
    """

    athlete_id: Series[str]
    acknowledged_utc: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs={"unit": "ns", "tz": "UTC"})
    by: Series[str] = pa.Field(nullable=True)
    note: Series[str] = pa.Field(nullable=True)
    review: Series[str] = pa.Field(nullable=True)

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
    phase: Series[str] = pa.Field(isin=list(PHASES), nullable=True)
    run_days_per_week: Series[pd.Int64Dtype] = pa.Field(ge=1, le=7, nullable=True)
    change: Series[str] = pa.Field(isin=list(CHANGES), nullable=True)

    class Config:
        coerce = True
