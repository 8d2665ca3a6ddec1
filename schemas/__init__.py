"""Pandera contracts, one model per data layer. Imports only pandas and pandera."""

from schemas.checkins import CheckIns
from schemas.decisions import Decisions
from schemas.flags import Flags
from schemas.load import DailyLoad
from schemas.records import CleanRecords, GaitRecords, RawRecords, as_built
from schemas.sessions import Segments, Sessions

__all__ = [
    "CheckIns",
    "CleanRecords",
    "DailyLoad",
    "Decisions",
    "Flags",
    "GaitRecords",
    "RawRecords",
    "Segments",
    "Sessions",
    "as_built",
]
