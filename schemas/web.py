"""The athlete–coach loop: personal check-in links, coach accounts, check-ins from the page,
and the alerts sent to the coach. Secrets are stored only as hashes."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.checkins import CheckIns

ALERT_KINDS = ("RAN_DURING_REST", "SPIKE_LARGE", "PAIN_GATE", "REVIEW", "CHECKIN_MISSING")
_UTC: dict[str, str] = {"unit": "ns", "tz": "UTC"}


class WebTokens(pa.DataFrameModel):
    """An athlete's personal check-in link: the SHA-256 of its random token, never the token.
    A link works until it is revoked (a new link revokes the old) or expires."""

    athlete_id: Series[str]
    token_sha256: Series[str] = pa.Field(unique=True, str_length={"min_value": 64, "max_value": 64})
    created_utc: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=_UTC)
    revoked_utc: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs=_UTC)
    expires_utc: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs=_UTC)

    class Config:
        coerce = True


class WebUsers(pa.DataFrameModel):
    """A coach's or physiotherapist's log-in: the name and an argon2 hash of the password."""

    name: Series[str] = pa.Field(unique=True)
    password_hash: Series[str] = pa.Field(str_startswith="$argon2")
    created_utc: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=_UTC)

    class Config:
        coerce = True


class CheckInSubmissions(CheckIns):
    """Every check-in sent from the athlete's page, kept (the effective check-in of a day is
    the latest of these and the checkins.csv row)."""

    submitted_utc: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=_UTC)

    class Config:
        coerce = True
        unique = None


class CheckInFileRows(pa.DataFrameModel):
    """When each checkins.csv row was first seen with its present answers: the time a file
    row counts with against the page's check-ins of the same day (an unchanged row keeps its
    time however often the file is rewritten)."""

    athlete_id: Series[str]
    date: Series[pd.Timestamp]
    row_sha256: Series[str]
    first_seen_utc: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=_UTC)

    class Config:
        coerce = True
        unique = ("athlete_id", "date")


class Alerts(pa.DataFrameModel):
    """One safety event for the coach, sent once: its key never repeats."""

    alert_key: Series[str] = pa.Field(unique=True)
    athlete_id: Series[str]
    kind: Series[str] = pa.Field(isin=list(ALERT_KINDS))
    date: Series[pd.Timestamp]
    message: Series[str]
    created_utc: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=_UTC)
    sent_utc: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs=_UTC)
    attempts: Series[int] = pa.Field(ge=0)
    last_error: Series[str] = pa.Field(nullable=True)

    class Config:
        coerce = True
