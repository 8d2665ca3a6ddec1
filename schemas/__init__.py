"""Pandera contracts, one model per data layer. Imports only pandas and pandera."""

from schemas.checkins import CheckInProblems, CheckIns
from schemas.decisions import Decisions, NextSessions, Reviews
from schemas.files import FileLedger
from schemas.flags import Flags
from schemas.load import DailyLoad
from schemas.records import CleanRecords, GaitRecords, RawRecords, as_built
from schemas.sessions import Segments, Sessions

__all__ = [
    "CheckInProblems",
    "CheckIns",
    "CleanRecords",
    "DailyLoad",
    "Decisions",
    "FileLedger",
    "Flags",
    "GaitRecords",
    "NextSessions",
    "RawRecords",
    "Reviews",
    "Segments",
    "Sessions",
    "as_built",
]
