"""Comeback's library: pure functions on DataFrames. Never imports Prefect."""

from pipeline.activity import Activity, Device, Provenance, SessionSummary
from pipeline.errors import ComebackError, InputFileError
from pipeline.load import compute_acwr
from pipeline.parse import read_activity

__all__ = [
    "Activity",
    "ComebackError",
    "Device",
    "InputFileError",
    "Provenance",
    "SessionSummary",
    "compute_acwr",
    "read_activity",
]
