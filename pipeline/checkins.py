"""Athlete check-ins (``checkins.csv``): validated, bad rows reported, good rows kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandera.errors import SchemaErrors

from pipeline.errors import CheckInError
from schemas import CheckInProblems, CheckIns

__all__ = ["CHECKIN_COLUMNS", "CheckInResult", "parse_checkins", "read_checkins"]

CHECKIN_COLUMNS = tuple(CheckIns.to_schema().columns)
_PROBLEM_COLUMNS = [c for c in CheckInProblems.to_schema().columns if c != "athlete_id"]
_YES_NO = ("swelling", "stiffness")
_BOOL = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False,
         "false": False, "0": False}


@dataclass(frozen=True)
class CheckInResult:
    """Valid rows, and one problem row per rejected value (line, column, reason)."""

    checkins: pd.DataFrame
    problems: pd.DataFrame


def _empty_checkins() -> pd.DataFrame:
    return CheckIns.validate(pd.DataFrame({c: pd.Series(dtype="object") for c in CHECKIN_COLUMNS})
                             .astype({"date": "datetime64[ns]"}))


def parse_checkins(raw: pd.DataFrame, source: str = "checkins.csv",
                   first_line: int = 2) -> CheckInResult:
    """Validate check-in rows given as text (as read from CSV, every cell a string or NaN)."""
    text = raw.copy()
    for col in CHECKIN_COLUMNS:
        if col not in text:
            text[col] = None
    text = text[list(CHECKIN_COLUMNS)].astype("object")
    text = text.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v))
                    or (isinstance(v, str) and not v.strip()) else (v.strip() if isinstance(v, str) else v))
    for col in ("warmup", "during", "next_day", "pre_session"):
        text[col] = text[col].map(lambda v: v.lower() if isinstance(v, str) else v)
    problems: list[dict[str, object]] = []
    lines = pd.Series(range(first_line, first_line + len(text)), index=text.index)
    dates = pd.to_datetime(text["date"], errors="coerce", format="ISO8601")
    for i in text.index[dates.isna()]:
        problems.append({"source": source, "line": int(lines[i]), "column": "date",
                         "value": text.at[i, "date"], "reason": "not a date (YYYY-MM-DD)"})
    frame = text.assign(date=dates)
    for col in _YES_NO:
        answer = text[col].map(lambda v: _BOOL.get(str(v).lower(), "bad") if v is not None else None)
        for i in text.index[answer == "bad"]:
            problems.append({"source": source, "line": int(lines[i]), "column": col,
                             "value": text.at[i, col], "reason": "answer yes or no"})
        frame[col] = answer.where(answer != "bad", None)
    for col in ("pain_during", "pain_after", "pain_next_morning", "rpe"):
        num = pd.to_numeric(frame[col], errors="coerce")
        for i in frame.index[num.isna() & frame[col].notna()]:
            problems.append({"source": source, "line": int(lines[i]), "column": col,
                             "value": frame.at[i, col], "reason": "not a number"})
        frame[col] = num
    bad = {p["line"] for p in problems}
    keep = frame[~lines.isin(bad)]
    keep = keep.astype({col: "boolean" for col in _YES_NO})
    try:
        valid = CheckIns.validate(keep, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases.dropna(subset=["index"])
        for _, case in cases.iterrows():
            idx = int(case["index"])
            problems.append({"source": source, "line": int(lines[idx]),
                             "column": str(case["column"]), "value": case["failure_case"],
                             "reason": f"fails {case['check']}"})
        valid = CheckIns.validate(keep.drop(index=cases["index"].astype(int).unique()))
    report = pd.DataFrame(problems, columns=_PROBLEM_COLUMNS)
    return CheckInResult(checkins=valid.reset_index(drop=True),
                         problems=report.sort_values("line").reset_index(drop=True))


def _parser_line(message: str) -> int | None:
    """The file line a pandas parser error names: its C reader counts rows from 0 at the
    header ("row 3" is line 4), its Python reader counts lines from 1."""
    if found := re.search(r"\brow (\d+)", message):
        return int(found.group(1)) + 1
    if found := re.search(r"\bline (\d+)", message):
        return int(found.group(1))
    return None


def read_checkins(path: str | Path, athlete_id: str | None = None) -> CheckInResult:
    """Read one ``checkins.csv``; a missing athlete_id cell is filled from the folder.

    Raises:
        CheckInError: the file cannot be read as CSV at all. Bad rows inside a readable file
            are not errors: they are returned as problems, and the good rows kept.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except OSError as exc:
        raise CheckInError(path, None, f"cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise CheckInError(path, None, "is not UTF-8 text") from exc
    except pd.errors.ParserError as exc:
        raise CheckInError(path, _parser_line(str(exc)), f"cannot be read as CSV ({exc})") from exc
    if athlete_id is not None:
        if "athlete_id" not in raw:
            raw["athlete_id"] = athlete_id
        raw["athlete_id"] = raw["athlete_id"].where(raw["athlete_id"].str.strip() != "", athlete_id)
    if raw.empty:
        return CheckInResult(_empty_checkins(), pd.DataFrame(columns=_PROBLEM_COLUMNS))
    return parse_checkins(raw, source=str(path))
