"""Run every benchmark and write docs/benchmarks.md.

Usage: ``python -m benchmarks [--athletes N] [--quick]``. Speed is measured as ratios side by
side in one run, on this machine, never in unit tests.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE = ROOT / "data" / "sample" / "inbox"
DOC = ROOT / "docs" / "benchmarks.md"
HISTORY = [
    "## Before and after",
    "",
    "| change | before | after |",
    "|---|---:|---:|",
    "| daily load + three ratios, 1,000 athletes × 3 years (per-athlete loops → one "
    "vectorised pass over contiguous athlete blocks) | 31.5 s | 1.4 s |",
    "| every progression flag, same data (per-flag Python dicts → vectorised frames) "
    "| 47.2 s | 2.6 s |",
    "",
]


def _running_fit_files() -> list[Path]:
    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.exists():
        return []
    rows = list(csv.DictReader(manifest.open()))
    return [CORPUS / r["file"] for r in rows
            if r["format"] == "fit" and r["sport"] == "running" and "CORRUPT" not in r["notes"]]


def naive_baseline(path: Path) -> int:
    """fitparse ``record`` messages straight to a DataFrame, nothing else."""
    from fitparse import FitFile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rows = [m.get_values() for m in FitFile(str(path)).get_messages("record")]
        except Exception:
            rows = []
    return len(pd.DataFrame(rows))


def bench_reader(files: list[Path]) -> list[str]:
    from pipeline import read_activity
    from pipeline.session import measure_session

    t = time.perf_counter()
    base_records = sum(naive_baseline(p) for p in files)
    t_base = time.perf_counter() - t
    t = time.perf_counter()
    records = 0
    acts = []
    for p in files:
        act = read_activity(p)
        acts.append(act)
        records += len(act.records)
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    for act in acts:
        for i in range(len(act.sessions)):
            measure_session(act, i, "bench")
    t_measure = time.perf_counter() - t
    return [
        "## Reader on the corpus running FIT files",
        "",
        f"{len(files)} files, {records:,} records.",
        "",
        "| step | seconds | records/s | vs baseline |",
        "|---|---:|---:|---:|",
        f"| naive baseline (fitparse `record` → DataFrame) | {t_base:.1f} | {base_records / t_base:,.0f} | 1.00× |",
        f"| `read_activity` (all messages, units, validation) | {t_read:.1f} | {records / t_read:,.0f} | {(records / t_read) / (base_records / t_base):.2f}× |",
        f"| clean → gait → segments → session on those records | {t_measure:.1f} | {records / t_measure:,.0f} | – |",
        f"| decode + measure together | {t_read + t_measure:.1f} | {records / (t_read + t_measure):,.0f} | {(records / (t_read + t_measure)) / (base_records / t_base):.2f}× |",
        "",
    ]


def bench_memory() -> list[str]:
    path = CORPUS / "fit" / "gc__fenix5x_multisport_large.fit"
    if not path.exists():
        return []
    code = ("import sys; from pipeline import read_activity; from pipeline.session import "
            "measure_session; a = read_activity(sys.argv[1]); "
            "[measure_session(a, i, 'x') for i in range(len(a.sessions))]")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return ["## Memory", "",
            f"Decode and measure `gc__fenix5x_multisport_large.fit` (45,805 records, 5 sessions) "
            f"in a fresh process: peak RSS **{peak_mb:.0f} MB**, {seconds:.1f} s wall "
            "(includes Python and library start-up).", ""]


def _synthetic_sessions(n_athletes: int, years: int, rng: np.random.Generator) -> pd.DataFrame:
    days = pd.date_range("2023-01-02", periods=365 * years, freq="D")
    frames = []
    for a in range(n_athletes):
        run = rng.random(len(days)) < 3 / 7
        d = days[run]
        dist = rng.normal(5000, 1500, len(d)).clip(1000)
        frames.append(pd.DataFrame({
            "activity_id": [f"{a}-{i}" for i in range(len(d))], "athlete_id": f"a{a:04d}",
            "sport": "running", "start_utc": (d + pd.Timedelta(hours=7)).tz_localize("UTC"),
            "local_date": d, "distance_m": dist, "run_distance_m": dist * 0.8,
            "run_s": dist / 2.6, "load_run_min": dist / 2.6 / 60,
            "load_duration_min": dist / 2.4 / 60, "load_distance_km": dist / 1000,
            "srpe_au": np.nan, "trimp_banister": np.nan, "duplicate_of": None}))
    return pd.concat(frames, ignore_index=True)


def bench_rules(n_athletes: int) -> list[str]:
    from pipeline.rules import daily_load, progression_flags

    sessions = _synthetic_sessions(n_athletes, 3, np.random.default_rng(0))
    t = time.perf_counter()
    daily = daily_load(sessions)
    t_daily = time.perf_counter() - t
    t = time.perf_counter()
    flags = progression_flags(sessions, daily)
    t_flags = time.perf_counter() - t
    return ["## Load history and progression rules", "",
            f"{n_athletes:,} synthetic athletes × 3 years ({len(sessions):,} sessions, "
            f"{len(daily):,} athlete-days).", "",
            "| step | seconds |", "|---|---:|",
            f"| daily load + uncoupled, coupled and EWMA ratios | {t_daily:.2f} |",
            f"| every progression flag ({len(flags):,} flags) | {t_flags:.2f} |",
            f"| total | {t_daily + t_flags:.2f} |", ""]


def bench_validation() -> list[str]:
    from schemas import GaitRecords

    n = 1_000_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "timestamp_utc": pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC"),
        "elapsed_s": np.arange(n, dtype=float), "distance_m": np.arange(n) * 2.5,
        "speed_mps": rng.uniform(0, 4, n), "cadence_spm": rng.uniform(100, 180, n),
        "heart_rate_bpm": rng.uniform(90, 170, n), "altitude_m": 30.0, "lat_deg": 52.0,
        "lon_deg": 13.0, "power_w": np.nan, "duration_s": 1.0, "paused": False,
        "gait": rng.choice(["run", "walk", "stop"], n)})
    times = []
    for _ in range(3):
        t = time.perf_counter()
        GaitRecords.validate(frame)
        times.append(time.perf_counter() - t)
    return ["## Pandera validation of per-second frames", "",
            f"`GaitRecords.validate` on 1,000,000 rows: median {np.median(times):.2f} s "
            "(of 3). Every stage validates its output; at 1 Hz a one-hour session is 3,600 rows.",
            ""]



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--athletes", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a few files, 100 athletes")
    args = parser.parse_args()
    files = _running_fit_files()
    if args.quick:
        files, args.athletes = files[:3], 100
    lines = ["# Benchmarks", "",
             f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC with `make bench` on "
             f"{platform.machine()} / {os.cpu_count()} cores / Python {platform.python_version()} "
             f"/ pandas {pd.__version__}. Single runs unless stated; the machine may be shared.",
             ""]
    if files:
        lines += bench_reader(files)
        lines += bench_memory()
    else:
        lines += ["(../shared/corpus is absent: reader benchmarks skipped.)", ""]
    lines += bench_rules(args.athletes)
    lines += bench_validation()
    lines += HISTORY
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
