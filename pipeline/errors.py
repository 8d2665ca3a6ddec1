"""One exception family for everything Comeback raises on bad input.

The library is strict: it raises. `flows/` decides policy (an `InputFileError` quarantines a
file and the night continues; anything else fails the run). No third-party exception is
allowed to escape a reader: decoders' errors are wrapped with ``raise ... from exc``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CheckInError",
    "ComebackError",
    "ConfigError",
    "CorruptFileError",
    "EmptyActivityError",
    "InputFileError",
    "ProgramError",
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


class EmptyActivityError(InputFileError):
    """A valid activity file that holds no usable timestamped samples."""

    kind = "empty"


class ConfigError(ComebackError):
    """A configuration or roster problem (unknown athlete, bad timezone...)."""


class ProgramError(ConfigError):
    """A return-to-run program table is invalid; the message names the file and line."""


class CheckInError(ComebackError):
    """A check-in answer set is invalid (used by the interactive `checkin` command)."""
