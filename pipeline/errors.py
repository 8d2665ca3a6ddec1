"""One exception family for everything Comeback raises on bad input.

The library is strict: it raises. `flows/` decides policy (an `InputFileError` quarantines a
file and the night continues; anything else fails the run). No third-party exception is
allowed to escape a reader: decoders' errors are wrapped with ``raise ... from exc``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ArgumentError",
    "CheckInError",
    "ComebackError",
    "ConfigError",
    "CorruptFileError",
    "EmptyActivityError",
    "InputFileError",
    "NotAnActivityError",
    "ProgramError",
    "StoreError",
    "TruncatedFileError",
    "UnsupportedFileError",
]


class ComebackError(Exception):
    """Base class of every error Comeback raises on purpose."""


class InputFileError(ComebackError):
    """An input file cannot be turned into an activity.

    Args:
        path: The file (or archive member) that failed, as given to the reader.
        reason: One plain sentence saying why.
    """

    kind = "input"

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = str(path) if path is not None else "<bytes>"
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[InputFileError], tuple[str, str]]:
        # Travels back from worker processes intact (the default would pass one message).
        return type(self), (self.path, self.reason)


class CorruptFileError(InputFileError):
    """The bytes claim a known format but cannot be decoded."""

    kind = "corrupt"


class TruncatedFileError(CorruptFileError):
    """The file ends before any usable activity data was decoded."""

    kind = "truncated"


class UnsupportedFileError(InputFileError):
    """Unknown format, or a valid file that is not a recorded activity (settings, route...)."""

    kind = "unsupported"


class NotAnActivityError(UnsupportedFileError):
    """A valid FIT file of another type (monitoring, sleep, settings...): wellness files
    among them are read for daily readiness instead."""


class EmptyActivityError(InputFileError):
    """A valid activity file that holds no usable timestamped samples."""

    kind = "empty"


class ConfigError(ComebackError):
    """A configuration or roster problem (unknown athlete, bad timezone...)."""


class ProgramError(ConfigError):
    """A return-to-run program table is invalid; the message names the file and line."""


class ArgumentError(ComebackError, ValueError):
    """A library function was called with a value it does not accept (an unknown method,
    decoder or constant set). Still a ``ValueError`` for callers that expect one."""


class StoreError(ComebackError):
    """The store's database refused an operation (not a database, locked, a broken
    schema); the message names the store and what the database said."""


class CheckInError(ConfigError):
    """A check-in file cannot be read at all (not CSV, an unbalanced quote, not text).

    Args:
        path: The file.
        line: The line where reading stopped, when the parser says (1 = the header).
        reason: One plain sentence saying why.
    """

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")
