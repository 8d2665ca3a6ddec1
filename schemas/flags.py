"""Flags: one row per broken rule, with its evidence and source (spec §3.6)."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

SEVERITIES = ("info", "caution", "alert")


class Flags(pa.DataFrameModel):
    """A rule a session (or day) broke, in words a coach reads and numbers an analyst checks."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    activity_id: Series[str] = pa.Field(nullable=True)
    rule_id: Series[str]
    severity: Series[str] = pa.Field(isin=list(SEVERITIES))
    message: Series[str]
    evidence: Series[str]
    value: Series[float] = pa.Field(nullable=True)
    threshold: Series[float] = pa.Field(nullable=True)
    source: Series[str]
    rule_version: Series[str]

    class Config:
        coerce = True
