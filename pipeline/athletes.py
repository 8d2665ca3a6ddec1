"""The athletes roster (``athletes.csv``): who they are and where their program starts."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import ConfigError

__all__ = ["ROSTER_COLUMNS", "Athlete", "read_roster"]

ROSTER_COLUMNS = ("athlete_id", "name", "timezone", "sex", "hr_rest_bpm", "hr_max_bpm",
                  "program", "program_start", "start_stage")
SEXES = ("male", "female", "female_gc")


@dataclass(frozen=True)
class Athlete:
    """One roster row. ``sex`` None means unknown: TRIMP is then missing, never male."""

    athlete_id: str
    name: str
    timezone: str
    sex: str | None = None
    hr_rest_bpm: float | None = None
    hr_max_bpm: float | None = None
    program: str | None = None
    program_start: dt.date | None = None
    start_stage: int = 1

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _number(value: str) -> float | None:
    return float(value) if value.strip() else None


def read_roster(path: str | Path) -> dict[str, Athlete]:
    """Read ``athletes.csv``.

    Raises:
        ConfigError: naming the file and line of a missing column, an unknown timezone, a bad
            number or date, or a repeated athlete id.
    """
    path = Path(path)
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    roster: dict[str, Athlete] = {}
    with fh:
        reader = csv.DictReader(fh)
        missing = set(ROSTER_COLUMNS[:3]) - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{path}: missing columns {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            where = f"{path}, line {line}"
            aid = (row.get("athlete_id") or "").strip()
            if not aid or not aid.replace("-", "").replace("_", "").isalnum():
                raise ConfigError(f"{where}: athlete_id must be letters, digits, - or _")
            if aid in roster:
                raise ConfigError(f"{where}: athlete_id '{aid}' appears twice")
            tz = (row.get("timezone") or "").strip()
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigError(f"{where}: unknown timezone '{tz}'") from exc
            sex = (row.get("sex") or "").strip().lower() or None
            if sex is not None and sex not in SEXES:
                sex = None  # other / unspecified: TRIMP needs an explicit constant set
            try:
                start = (row.get("program_start") or "").strip()
                roster[aid] = Athlete(
                    athlete_id=aid, name=(row.get("name") or aid).strip(), timezone=tz, sex=sex,
                    hr_rest_bpm=_number(row.get("hr_rest_bpm") or ""),
                    hr_max_bpm=_number(row.get("hr_max_bpm") or ""),
                    program=(row.get("program") or "").strip() or None,
                    program_start=dt.date.fromisoformat(start) if start else None,
                    start_stage=int(row.get("start_stage") or 1),
                )
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
    return roster
