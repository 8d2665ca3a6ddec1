"""Read each corpus file once per test session (fitparse decodes ~5,000 records/s)."""

from __future__ import annotations

from functools import cache

from pipeline import Activity, read_activity
from pipeline.errors import InputFileError
from tests.conftest import CORPUS


@cache
def read_corpus(name: str) -> Activity | InputFileError:
    try:
        return read_activity(CORPUS / name)
    except InputFileError as exc:
        return exc
