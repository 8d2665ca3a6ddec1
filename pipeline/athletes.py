"""The athletes roster (``athletes.csv``): who they are, where their program starts, and the
per-athlete rule settings a clinician may give without Python.

Optional setting columns (empty = the default): ``run_days_limit`` (S2, 1–7 run days per
rolling 7 days, default 3), ``pain_ceiling`` (S8, 2 or 3 /10, default 3), ``frequency_goal``
(S5, run days a week after the programme, 3–6, default 5), ``injured_area`` (free text shown
in the report) and ``cadence_target`` (steps per minute, e.g. ``172``, or a rise over the
athlete's baseline, e.g. ``+5%``) and ``cross_training_in_load`` (``yes`` adds the athlete's
cross-training minutes to the running-minute series the ratios read; default ``no``: running
load is running only). A bad setting is reported (file, line, column, reason) and
the default is used: a typo in one cell never stops the night.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from pipeline.errors import ConfigError
from schemas import CheckInProblems

__all__ = ["ROSTER_COLUMNS", "SETTING_COLUMNS", "Athlete", "CadenceTarget", "Roster",
           "read_roster", "read_roster_checked"]

ROSTER_COLUMNS = ("athlete_id", "name", "timezone", "sex", "hr_rest_bpm", "hr_max_bpm",
                  "program", "program_start", "start_stage")
SETTING_COLUMNS = ("run_days_limit", "pain_ceiling", "frequency_goal", "injured_area",
                   "cadence_target", "cross_training_in_load")
SEXES = ("male", "female", "female_gc")
_PROBLEM_COLUMNS = list(CheckInProblems.to_schema().columns)


@dataclass(frozen=True)
class CadenceTarget:
    """A cadence target: absolute steps per minute, or a percentage over the baseline
    (median running cadence of the athlete's first 3 sessions with cadence)."""

    spm: float | None = None
    rise_pct: float | None = None

    def resolve(self, baseline_spm: float | None) -> float | None:
        if self.spm is not None:
            return self.spm
        if baseline_spm is None or self.rise_pct is None:
            return None
        return baseline_spm * (1.0 + self.rise_pct / 100.0)

    def describe(self) -> str:
        return f"{self.spm:.0f} spm" if self.spm is not None else f"+{self.rise_pct:g} % over baseline"


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
    run_days_limit: int | None = None
    pain_ceiling: float | None = None
    frequency_goal: int | None = None
    injured_area: str | None = None
    cadence_target: CadenceTarget | None = None
    cross_training_in_load: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _number(value: str) -> float | None:
    return float(value) if value.strip() else None


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return int(text)
    return parse


def _pain_ceiling(text: str) -> float:
    if text not in ("2", "3", "2.0", "3.0"):
        raise ValueError("2 or 3 (out of 10)")
    return float(text)


def _cadence_target(text: str) -> CadenceTarget:
    if text.startswith("+") and text.endswith("%"):
        try:
            pct = float(text[1:-1])
        except ValueError:
            pct = -1.0
        if not 0 < pct <= 15:
            raise ValueError("a rise over the baseline from +1% to +15%, e.g. +5%")
        return CadenceTarget(rise_pct=pct)
    try:
        spm = float(text)
    except ValueError:
        spm = -1.0
    if not 120 <= spm <= 220:
        raise ValueError("steps per minute from 120 to 220, or a rise such as +5%")
    return CadenceTarget(spm=spm)


def _yes_no(text: str) -> bool:
    answer = text.strip().lower()
    if answer not in ("yes", "no", "true", "false", "1", "0"):
        raise ValueError("yes or no")
    return answer in ("yes", "true", "1")


_SETTINGS: dict[str, Callable[[str], object]] = {
    "run_days_limit": _whole(1, 7), "pain_ceiling": _pain_ceiling,
    "frequency_goal": _whole(3, 6), "injured_area": str, "cadence_target": _cadence_target,
    "cross_training_in_load": _yes_no}


def _settings(row: dict[str, str | None], aid: str, source: str, line: int,
              problems: list[dict[str, object]]) -> dict[str, object]:
    """The row's setting cells parsed; a bad cell becomes a problem and its default."""
    values: dict[str, object] = {}
    for column, parse in _SETTINGS.items():
        text = (row.get(column) or "").strip()
        if not text:
            continue
        try:
            values[column] = parse(text)
        except ValueError as exc:
            problems.append({"athlete_id": aid, "source": source, "line": line,
                             "column": column, "value": text,
                             "reason": f"expected {exc}; the default is used"})
    return values


@dataclass(frozen=True)
class Roster:
    """The athletes by id, and the setting cells that were refused (CheckInProblems rows)."""

    athletes: dict[str, Athlete]
    problems: pd.DataFrame


def read_roster(path: str | Path) -> dict[str, Athlete]:
    """Read ``athletes.csv`` (bad setting cells fall back to defaults; see
    :func:`read_roster_checked` for the problems)."""
    return read_roster_checked(path).athletes


def read_roster_checked(path: str | Path) -> Roster:
    """Read ``athletes.csv``.

    Raises:
        ConfigError: naming the file and line of a missing column, an unknown timezone, a bad
            number or date, or a repeated athlete id (the identity columns: without them no
            athlete can be evaluated). Bad setting cells are returned as problems instead.
    """
    path = Path(path)
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    roster: dict[str, Athlete] = {}
    problems: list[dict[str, object]] = []
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
            settings = _settings(row, aid, str(path), line, problems)
            try:
                start = (row.get("program_start") or "").strip()
                roster[aid] = Athlete(
                    athlete_id=aid, name=(row.get("name") or aid).strip(), timezone=tz, sex=sex,
                    hr_rest_bpm=_number(row.get("hr_rest_bpm") or ""),
                    hr_max_bpm=_number(row.get("hr_max_bpm") or ""),
                    program=(row.get("program") or "").strip() or None,
                    program_start=dt.date.fromisoformat(start) if start else None,
                    start_stage=int(row.get("start_stage") or 1),
                    **settings,  # type: ignore[arg-type]
                )
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
    return Roster(roster, CheckInProblems.validate(pd.DataFrame(problems, columns=_PROBLEM_COLUMNS)))
