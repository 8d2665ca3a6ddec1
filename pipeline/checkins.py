"""Athlete check-ins (``checkins.csv``): validated, bad rows reported, good rows kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandera.errors import SchemaErrors

from pipeline.errors import CheckInError
from schemas import CheckInFileRows, CheckInProblems, CheckIns

__all__ = ["CHECKIN_COLUMNS", "CheckInResult", "file_row_times", "merge_checkins",
           "parse_checkins", "read_checkins"]

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


def file_row_times(athlete_id: str, checkins: pd.DataFrame, file_time_utc: pd.Timestamp,
                   known: pd.DataFrame) -> pd.DataFrame:
    """When each row of a checkins.csv was first seen with its present answers: rows
    unchanged since an earlier read keep that time; new or edited rows take the file's
    modification time. A validated ``CheckInFileRows`` frame."""
    digest = pd.util.hash_pandas_object(checkins[list(CHECKIN_COLUMNS)].astype(str),
                                        index=False).astype(str)
    rows = pd.DataFrame({"athlete_id": athlete_id, "date": checkins["date"].to_numpy(),
                         "row_sha256": digest.to_numpy()})
    if len(known):
        seen = known[["date", "row_sha256", "first_seen_utc"]].assign(
            date=pd.to_datetime(known["date"]))
        rows = rows.merge(seen, on=["date", "row_sha256"], how="left")
    else:
        rows["first_seen_utc"] = pd.NaT
    first = pd.to_datetime(rows["first_seen_utc"], utc=True)
    rows["first_seen_utc"] = first.fillna(file_time_utc)
    return CheckInFileRows.validate(rows)


def merge_checkins(from_file: pd.DataFrame, file_rows: pd.DataFrame | None,
                   submissions: pd.DataFrame) -> pd.DataFrame:
    """The effective check-ins: for each athlete, day and answer, the latest given of the
    checkins.csv row (timed when it was first seen with its present answers,
    :func:`file_row_times`) and the rows sent from the athlete's page (timed when sent). An
    answer left empty keeps the earlier one, so the during-run answers sent after a run and
    the next-day answer sent the morning after make one check-in. Both stay in their
    history: the file, and ``checkin_submissions``."""
    if submissions is None or submissions.empty:
        return from_file
    timed = from_file.assign(_at=pd.Timestamp(0, tz="UTC"))
    if file_rows is not None and len(file_rows) and len(timed):
        at = file_rows.set_index(pd.to_datetime(file_rows["date"]))["first_seen_utc"]
        timed["_at"] = pd.to_datetime(timed["date"]).map(at).fillna(timed["_at"]).to_numpy()
    parts = [timed, submissions.rename(columns={"submitted_utc": "_at"})]
    both = pd.concat([p[[*CHECKIN_COLUMNS, "_at"]] for p in parts if len(p)], ignore_index=True)
    ordered = both.sort_values("_at", kind="stable").drop(columns="_at")
    latest = ordered.groupby(["athlete_id", "date"], sort=True, as_index=False).last()  # skips NA
    return CheckIns.validate(latest.astype({c: "boolean" for c in _YES_NO}))
