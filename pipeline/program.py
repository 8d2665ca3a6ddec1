"""Return-to-run programs as data, stage compliance, and the next prescribed session.

The default is Crowell et al. 2023 (spec §3.4), shipped as ``programs/crowell2023.csv``.
``programs/gentle.csv`` starts before it with the S9 entry walk and a 1 min run / 2 min walk
stage. The roster column ``program`` names a built-in programme (``crowell2023``,
``gentle``) or a clinician's own stage table (a CSV path, relative to the inbox).

A stage whose ``run_s`` is 0 is a walking stage: it is completed by a walking session of the
prescribed duration.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pipeline.athletes import Athlete
from pipeline.errors import ProgramError
from pipeline.session import IntervalStructure

__all__ = ["BUILTIN_PROGRAMS", "Compliance", "Program", "Stage", "builtin_program",
           "default_program", "load_program", "next_run_date", "program_file", "program_for",
           "stage_compliance", "tolerance_s"]

_COLUMNS = ("stage", "run_s", "walk_s", "repeats", "total_m", "total_s", "target_rpe", "label")
BUILTIN_PROGRAMS = ("crowell2023", "gentle")
# Running allowed inside a walking stage before it counts as exceeded [PRODUCT]: a minute
# covers a jog across a road, not a run.
WALK_STAGE_RUN_ALLOWANCE_S = 60.0


@dataclass(frozen=True)
class Stage:
    """One stage: run/walk bouts repeated until a count, a distance or a time is reached."""

    number: int
    run_s: float | None
    walk_s: float
    repeats: int | None
    total_m: float | None
    total_s: float | None
    target_rpe: float | None
    label: str

    @property
    def is_walk(self) -> bool:
        """A walking stage (run 0), such as the S9 entry walk."""
        return self.run_s == 0

    def describe(self) -> str:
        if self.is_walk:
            total = f" for {self.total_s / 60:.0f} min" if self.total_s else (
                f" for {self.total_m / 1000:.2f} km" if self.total_m else "")
            return f"Stage {self.number}: brisk walk{total}, no running"
        bouts = ("continuous run" if self.run_s is None
                 else f"{self.run_s:.0f} s run : {self.walk_s:.0f} s walk")
        if self.repeats and self.run_s is not None:
            bouts += f" × {self.repeats}"
        total = (f" until {self.total_m / 1000:.2f} km" if self.total_m
                 else f" until {self.total_s / 60:.0f} min" if self.total_s else "")
        rpe = f", RPE {self.target_rpe:g} ({self.label})" if self.target_rpe is not None else ""
        return f"Stage {self.number}: {bouts}{total}{rpe}"


@dataclass(frozen=True)
class Program:
    """An ordered stage table and where it came from."""

    name: str
    source: str
    stages: tuple[Stage, ...]
    warmup_min_s: float | None = None  # the programme's minimum warm-up, if it states one

    def stage(self, number: int) -> Stage:
        return self.stages[min(max(number, 1), len(self.stages)) - 1]

    @property
    def last(self) -> int:
        return len(self.stages)


def _num(value: str, where: str, column: str, *, integer: bool = False) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = int(text) if integer else float(text)
    except ValueError as exc:
        raise ProgramError(f"{where}: column {column} must be a number, got '{text}'") from exc
    if number < 0:
        raise ProgramError(f"{where}: column {column} must not be negative")
    return number


def load_program(path: str | Path) -> Program:
    """Read a stage table (CSV, ``#`` comment lines hold the source).

    Raises:
        ProgramError: naming the file and line of the first problem.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ProgramError(f"{path}: cannot be read ({exc.strerror})") from exc
    source = " ".join(ln.lstrip("# ").strip() for ln in lines
                      if ln.startswith("#") and not ln.startswith("# warmup_min_s:"))
    warmup = [ln.split(":", 1)[1] for ln in lines if ln.startswith("# warmup_min_s:")]
    warmup_min_s = _num(warmup[0], str(path), "warmup_min_s") if warmup else None
    numbered = [(i, ln) for i, ln in enumerate(lines, start=1) if ln.strip() and not ln.startswith("#")]
    if not numbered:
        raise ProgramError(f"{path}: no stage table")
    header_line = numbered[0][0]
    reader = csv.reader([ln for _, ln in numbered])
    columns = [c.strip() for c in next(reader)]
    missing = [c for c in ("stage", "run_s", "walk_s") if c not in columns]
    if missing:
        raise ProgramError(f"{path}, line {header_line}: missing columns {', '.join(missing)}")
    stages: list[Stage] = []
    for (line, _), values in zip(numbered[1:], reader, strict=True):
        where = f"{path}, line {line}"
        if len(values) != len(columns):
            raise ProgramError(f"{where}: expected {len(columns)} fields, got {len(values)}")
        row = dict(zip(columns, values, strict=True))
        number = _num(row["stage"], where, "stage", integer=True)
        if number != len(stages) + 1:
            raise ProgramError(f"{where}: stages must be numbered 1, 2, 3… in order")
        repeats = _num(row.get("repeats", ""), where, "repeats", integer=True)
        total_m = _num(row.get("total_m", ""), where, "total_m")
        total_s = _num(row.get("total_s", ""), where, "total_s")
        run_s = _num(row["run_s"], where, "run_s")
        if repeats is None and total_m is None and total_s is None:
            raise ProgramError(f"{where}: give repeats, total_m or total_s (when to stop)")
        rpe = _num(row.get("target_rpe", ""), where, "target_rpe")
        if rpe is not None and rpe > 10:
            raise ProgramError(f"{where}: target_rpe is on the 0–10 scale")
        stages.append(Stage(number=int(number), run_s=run_s,
                            walk_s=_num(row["walk_s"], where, "walk_s") or 0.0,
                            repeats=int(repeats) if repeats is not None else None,
                            total_m=total_m, total_s=total_s, target_rpe=rpe,
                            label=row.get("label", "").strip()))
    if not stages:
        raise ProgramError(f"{path}: the table has a header but no stages")
    return Program(name=path.stem, source=source, stages=tuple(stages), warmup_min_s=warmup_min_s)


def builtin_program(name: str) -> Program:
    """A programme shipped with Comeback, by name (see ``BUILTIN_PROGRAMS``)."""
    if name not in BUILTIN_PROGRAMS:
        raise ProgramError(f"no built-in programme {name!r}; built-in: {', '.join(BUILTIN_PROGRAMS)}")
    with resources.as_file(resources.files("pipeline") / "programs" / f"{name}.csv") as p:
        return load_program(p)


def default_program() -> Program:
    """Crowell et al. 2023 Table 1, the program used when the roster names none."""
    return builtin_program("crowell2023")


def program_file(athlete: Athlete, program_dir: Path | None) -> Path | None:
    """The athlete's own program file (relative names are in ``program_dir``), or None for
    a built-in programme (the default, or one named in ``BUILTIN_PROGRAMS``)."""
    if not athlete.program or athlete.program in BUILTIN_PROGRAMS:
        return None
    path = Path(athlete.program)
    return program_dir / path if not path.is_absolute() and program_dir is not None else path


def program_for(athlete: Athlete, program_dir: Path | None,
                cache: dict[str, Program] | None = None) -> Program:
    """The athlete's programme: their own file, a built-in one by name, or the default.

    Raises:
        ProgramError: the file cannot be read or its table is invalid.
    """
    cache = {} if cache is None else cache
    key = athlete.program or ""
    if key not in cache:
        path = program_file(athlete, program_dir)
        cache[key] = (load_program(path) if path is not None
                      else builtin_program(key) if key else default_program())
    return cache[key]


def tolerance_s(prescribed_s: float) -> float:
    """Bout tolerance: ±max(15 s, 20 %) (spec §6.5)."""
    return max(15.0, 0.2 * prescribed_s)


@dataclass(frozen=True)
class Compliance:
    """How a session's detected structure compares with its prescribed stage (spec §3.4–3.6)."""

    completed: bool
    exceeded: bool
    evidence: str


def stage_compliance(structure: IntervalStructure, stage: Stage) -> Compliance:
    """Completed: bouts within tolerance and ≥ 95 % of the total. Exceeded: a run bout longer,
    a walk shorter, or more than 110 % of the total (STAGE_EXCEEDED)."""
    if stage.is_walk:
        return _walk_compliance(structure, stage)
    runs, recs = list(structure.run_bouts_s), list(structure.recoveries_s)
    distance = structure.main_set_distance_m or 0.0
    notes, exceeded, matches = [], False, bool(runs)
    if stage.run_s is not None:
        tol_run, tol_walk = tolerance_s(stage.run_s), tolerance_s(stage.walk_s)
        longest = max(runs, default=0.0)
        if longest > stage.run_s + tol_run:
            exceeded = True
            notes.append(f"run bout {longest:.0f} s vs prescribed {stage.run_s:.0f} s")
        shortest_rec = min(recs, default=stage.walk_s)
        if stage.walk_s and shortest_rec < stage.walk_s - tol_walk:
            exceeded = True
            notes.append(f"walk {shortest_rec:.0f} s vs prescribed {stage.walk_s:.0f} s")
        # The final run may stop short: the main set ends when the total is reached.
        checked = runs[:-1] if (stage.total_m or stage.total_s) and len(runs) > 1 else runs
        matches = bool(runs) and all(abs(r - stage.run_s) <= tol_run for r in checked) and all(
            abs(w - stage.walk_s) <= tol_walk for w in recs)
        if stage.repeats is not None:
            matches &= len(runs) == stage.repeats
    done = matches
    if stage.total_m:
        share = distance / stage.total_m
        done &= share >= 0.95
        if share > 1.10:
            exceeded = True
            notes.append(f"main set {distance / 1000:.2f} km vs stage total "
                         f"{stage.total_m / 1000:.2f} km ({share:.0%})")
    elif stage.total_s:
        # The main set's time: the warm-up and cool-down walks are not part of it, except the
        # last cycle's walk, with which the cool-down begins.
        main_s = (structure.run_s + structure.walk_s - structure.warmup_s - structure.cooldown_s
                  + min(structure.cooldown_s, stage.walk_s))
        share = structure.run_s / stage.total_s if stage.run_s is None else main_s / stage.total_s
        done &= share >= 0.95
        if share > 1.10:
            exceeded = True
            notes.append(f"{share:.0%} of the stage's {stage.total_s / 60:.0f} min")
    evidence = "; ".join(notes) if notes else (
        f"{structure.pattern or 'no run detected'}, main set {distance / 1000:.2f} km")
    return Compliance(completed=bool(done), exceeded=exceeded, evidence=evidence)


def _walk_compliance(structure: IntervalStructure, stage: Stage) -> Compliance:
    """A walking stage: moving time ≥ 95 % of the prescribed duration (or distance), and no
    more than a minute of running (more is running a stage early)."""
    moving_s = structure.walk_s + structure.run_s
    share = (moving_s / stage.total_s if stage.total_s else 1.0)
    exceeded = structure.run_s > WALK_STAGE_RUN_ALLOWANCE_S
    evidence = f"walked {structure.walk_s / 60:.0f} min"
    if stage.total_s:
        evidence += f" of the stage's {stage.total_s / 60:.0f} min"
    if structure.run_s:
        evidence += f"; ran {structure.run_s / 60:.1f} min in a walking stage"
    return Compliance(completed=share >= 0.95 and not exceeded, exceeded=exceeded,
                      evidence=evidence)


def next_run_date(last_run: dt.date | None, rest_until: dt.date | None,
                  min_rest_days: int = 1) -> dt.date | None:
    """Earliest date for the next run: after a full rest day (S1) and after any soreness rest."""
    candidates = []
    if last_run is not None:
        candidates.append(last_run + dt.timedelta(days=min_rest_days + 1))
    if rest_until is not None:
        candidates.append(rest_until + dt.timedelta(days=1))
    return max(candidates) if candidates else None
