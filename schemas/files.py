"""The ledger: every input file seen, once, with what became of it."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

FILE_STATUSES = ("ingested", "duplicate", "quarantined")


class FileLedger(pa.DataFrameModel):
    """One file (or archive member) by its bytes' SHA-256 as received (``file_key``)."""

    file_key: Series[str] = pa.Field(unique=True)
    name: Series[str]
    athlete_id: Series[str] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(isin=list(FILE_STATUSES))
    reason: Series[str] = pa.Field(nullable=True)
    error_kind: Series[str] = pa.Field(nullable=True)
    sha256: Series[str] = pa.Field(nullable=True)
    format: Series[str] = pa.Field(nullable=True)
    n_sessions: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    truncated: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    warnings: Series[str] = pa.Field(nullable=True)
    first_seen: Series[str] = pa.Field(nullable=True)

    class Config:
        coerce = True
