"""Pandera contracts, one model per data layer. Imports only pandas and pandera."""

from schemas.checkins import CheckInProblems, CheckIns
from schemas.decisions import Decisions, NextSessions, Reviews
from schemas.files import FileLedger
from schemas.flags import Flags
from schemas.load import CrossTrainingDaily, DailyLoad
from schemas.readiness import Readiness, ReadinessReadings
from schemas.records import CleanRecords, GaitRecords, RawRecords, as_built
from schemas.sessions import ACTIVITY_KINDS, Segments, Sessions
from schemas.web import (
    ALERT_KINDS,
    Alerts,
    CheckInFileRows,
    CheckInSubmissions,
    WebTokens,
    WebUsers,
)

__all__ = [
    "ACTIVITY_KINDS",
    "ALERT_KINDS",
    "Alerts",
    "CheckInFileRows",
    "CheckInProblems",
    "CheckInSubmissions",
    "CheckIns",
    "CleanRecords",
    "CrossTrainingDaily",
    "DailyLoad",
    "Decisions",
    "FileLedger",
    "Flags",
    "GaitRecords",
    "NextSessions",
    "RawRecords",
    "Readiness",
    "ReadinessReadings",
    "Reviews",
    "Segments",
    "Sessions",
    "WebTokens",
    "WebUsers",
    "as_built",
]
