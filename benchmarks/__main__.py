"""Run every benchmark and write docs/benchmarks.md.

Usage: ``python -m benchmarks [--athletes N] [--quick]``. Speed is measured as ratios side by
side in one run, on this machine, never in unit tests.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib
import itertools
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE = ROOT / "data" / "sample" / "inbox"
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS: dict[str, str] = {}  # this run's "after" figures for the before/after table
RECORDS: dict[str, int] = {}  # records per file set, as the baseline counted them this run
CLUB_ATHLETES = 10  # the club inbox for the parallel benchmarks: 10 × the sample squad
ROUNDS = 3  # baseline and ingest measured side by side, this many times


def history() -> list[str]:
    """Before (measured with the code before each change) and after (this run)."""
    after = RESULTS.get
    return [
        "## Before and after",
        "",
        "Before: measured on this machine with the code before the change. After: this run.",
        "",
        "| change | before | after |",
        "|---|---:|---:|",
        "| FIT decoding, corpus running files (fitparse for every message → numpy for "
        f"records, fitparse for the rest) | 6,984 records/s (1.08×) | {after('decode', '–')} |",
        "| end-to-end ingest, corpus running files, 25 files (per-file transactions and "
        "Pandera calls → batches; threads → 2 measuring processes) | 13.0 s (0.9×) | "
        f"{after('ingest corpus', '–')} |",
        "| end-to-end ingest, sample squad FIT files, 2 measuring processes (first round "
        "→ stages on numpy columns, frames built once or on first use; then segments as "
        "columns, records validated as built, tasks of up to 24 and chunks of up to 96 "
        "files, stores in the working directory) | 1.24 s (11.4×) → 0.65–1.05 s (14.6–25.1× "
        f"across runs) | {after('ingest sample', '–')} |",
        "| decode, clean, gait, segments and session of one sample file, `measure_file` "
        "(pandas → numpy in the hot paths; then stages on columns, lazy frames for records, "
        "laps, events and splits, session rows stacked once per chunk; then segments as "
        "columns, medians on arrays) | 23 ms → 14 ms → 4.6–6.0 ms | "
        f"{after('measure_file', '–')} |",
        "| a night with one new file, club store of 11,200 activities whose inbox keeps "
        "11,200 files (every file read and hashed, every check-in file re-read, sessions "
        "updated without an index → path, size and time scan, check-in fingerprints, stale "
        "athletes, index on activity id; before: the flow body at 4ea1c74, same machine) "
        f"| 3.16 s | {after('night new', '–')} |",
        "| a night with nothing new, same club | 2.43 s | "
        f"{after('night nothing', '–')} |",
        "| re-read check-ins and recompute the one athlete, same club | 2.25 s | "
        f"{after('recompute one', '–')} |",
        "| Dask: 2 workers against 1, nightly flow (sample squad, 8-file tasks → club inbox "
        "of 970 files, the flow's 48-file tasks) | 1.09× | "
        f"{after('flow club', '–')} |",
        "| store write per file (row-wise `itertuples` → column-wise values, one insert per "
        "table per chunk) | 14 ms | 4 ms |",
        "| records to Parquet per sample activity (`to_parquet` of the frame → Arrow arrays "
        "from the columns, labels dictionary-encoded) | 2.8 ms | 1.3 ms |",
        "| duplicate matching, 100–140 sessions (`iterrows`/`iloc` → numpy columns) "
        "| 14–29 ms | 2 ms |",
        "| peak RSS, gc__fenix5x_multisport_large.fit (before: decode + measure only; after: "
        f"ingest into a store) | 212 MB | {after('rss', '–')} |",
        "| `make run` on the sample squad | 42–48 s | about 15 s |",
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


def _variant(data: bytes, k: int) -> bytes:
    """A FIT file's bytes made distinct (profile version ``k`` in the header, both CRCs
    recomputed): the same records, another file to the ledger."""
    import fastcrc

    out = bytearray(data)
    struct.pack_into("<H", out, 2, k)
    if out[0] >= 14:
        struct.pack_into("<H", out, 12, fastcrc.crc16.arc(bytes(out[:12])))
    struct.pack_into("<H", out, len(out) - 2, fastcrc.crc16.arc(bytes(out[:-2])))
    return bytes(out)


def _activity_fits() -> list[Path]:
    """The sample squad's activity FIT files (not its daily wellness files, which carry no
    records and would make an ingest look slower per record than it is)."""
    return sorted(p for p in SAMPLE.rglob("*.fit") if not p.name.endswith("_wellness.fit"))


def club_inbox(root: Path, athletes: int) -> Path:
    """An inbox of ``athletes`` × the sample squad's FIT files, every file distinct bytes."""
    inbox = root / "club"
    fits = _activity_fits()
    template = next(ln for ln in (SAMPLE / "athletes.csv").read_text().splitlines()
                    if ln.startswith("cara,"))
    rows = [(SAMPLE / "athletes.csv").read_text().splitlines()[0]]
    for a in range(athletes):
        aid = f"c{a:03d}"
        rows.append(template.replace("cara,", f"{aid},", 1))
        (inbox / aid).mkdir(parents=True)
        for i, path in enumerate(fits):
            (inbox / aid / f"{i:03d}_{path.name}").write_bytes(_variant(path.read_bytes(), a))
    (inbox / "athletes.csv").write_text("\n".join(rows) + "\n")
    return inbox


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


def _baseline(files: list[Path]) -> tuple[int, float]:
    t = time.perf_counter()
    records = sum(naive_baseline(p) for p in files)
    return records, time.perf_counter() - t


def _ingest_seconds(files: list[Path], executor: Any = None) -> float:
    from pipeline.ingest import ingest_files
    from pipeline.store import Store

    units = [(p.read_bytes(), p.name, "bench") for p in files]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        t = time.perf_counter()
        ingest_files(store, units, {}, executor=executor)
        return time.perf_counter() - t


def _measure_file_ms(files: list[Path]) -> float:
    """Decode and measure one file (no store), per file, best of 3 passes."""
    from pipeline.measure import measure_file

    data = [p.read_bytes() for p in files]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for d in data:
            measure_file(d, "f.fit", "a", None)
        best = min(best, time.perf_counter() - t)
    return best / len(data) * 1e3


def bench_ingest(sets: dict[str, list[Path]], pool: Any, pool_start_s: float) -> list[str]:
    """End-to-end ingest (decode → clean → gait → session → store) against the baseline."""
    from pipeline.parse.fit import decode_fit

    lines = ["## End-to-end ingest against the naive fitparse baseline", "",
             "Baseline: fitparse `record` messages straight to a DataFrame, nothing else. "
             "Ingest: decode, clean, gait, segments, session, Pandera validation, duplicate "
             "matching and the write to a fresh embedded store (SQLite + Parquet). Records/s "
             "count the baseline's records for both. The two are measured side by side in "
             f"{ROUNDS} rounds (each round: the baseline once, then each ingest twice) and each "
             "figure is the median of its runs: this machine's speed drifts by ±20 % from "
             "minute to minute, and interleaving lets both sides see the same drift.", "",
             "| files | records | step | seconds | records/s | vs baseline |",
             "|---|---:|---|---:|---:|---:|"]
    for label, files in sets.items():
        _ingest_seconds(files[:2])  # warm imports and caches
        runs: dict[str, list[float]] = {"base": [], "one": [], "two": []}
        for _ in range(ROUNDS):
            records, seconds = _baseline(files)
            runs["base"].append(seconds)
            runs["one"] += [_ingest_seconds(files) for _ in range(2)]
            runs["two"] += [_ingest_seconds(files, pool) for _ in range(2)]
        RECORDS[label] = records
        t_base, t_one, t_two = (float(np.median(runs[k])) for k in ("base", "one", "two"))
        rate = records / t_base
        t_dec = time.perf_counter()
        for p in files:
            with contextlib.suppress(Exception):
                decode_fit(p.read_bytes(), p.name)
        t_dec = time.perf_counter() - t_dec
        rows = [("naive baseline", t_base), ("FIT decoding only (fast path + fallback)", t_dec),
                ("ingest, 1 process", t_one), ("ingest, 2 measuring processes", t_two)]
        for step, sec in rows:
            lines.append(f"| {label} ({len(files)}) | {records:,} | {step} | {sec:.2f} | "
                         f"{records / sec:,.0f} | {(records / sec) / rate:.1f}× |")
        lines.append(f"| | | speed-up of 2 processes over 1 | | | {t_one / t_two:.2f}× |")
        spread = [min(runs["base"]) / max(runs["two"]), max(runs["base"]) / min(runs["two"])]
        lines.append(f"| | | 2 processes against the baseline, slowest and fastest pairing "
                     f"| | | {spread[0]:.1f}–{spread[1]:.1f}× |")
        if label.startswith("corpus"):
            RESULTS["decode"] = f"{records / t_dec:,.0f} records/s ({t_base / t_dec:.0f}×)"
        else:
            RESULTS["measure_file"] = f"{_measure_file_ms(files):.1f} ms"
        key = "ingest corpus" if label.startswith("corpus") else "ingest sample"
        RESULTS[key] = f"{t_two:.2f} s ({t_base / t_two:.1f}×)"
    lines += ["", f"The measuring pool (2 processes forked from a server that imported Comeback "
              f"once) started in {pool_start_s:.1f} s before the timed runs; a night pays it "
              "once.", ""]
    return lines


def bench_parallel(club: Path, records_per_athlete: int) -> list[str]:
    """Ingest of the club inbox's files: one process, the measuring pool, a Dask cluster."""
    from distributed import Client, LocalCluster

    from flows.nightly import measuring_pool

    files = sorted(club.rglob("*.fit"))
    records = records_per_athlete * len(list(club.glob("c*")))
    rows = []
    t_one = float(np.median([_ingest_seconds(files) for _ in range(3)]))
    rows.append(("one process (no executor)", "–", t_one))
    t = time.perf_counter()
    pool = measuring_pool(2)
    list(pool.map(abs, range(4)))  # the workers fork from a server that imported Comeback
    start = time.perf_counter() - t
    t_pool = float(np.median([_ingest_seconds(files, pool) for _ in range(3)]))
    pool.shutdown()
    rows.append(("measuring pool, 2 processes", f"{start:.1f}", t_pool))
    for n in (1, 2):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        client.run(importlib.import_module, "pipeline.measure")  # before the clock starts
        start = time.perf_counter() - t
        executor = client.get_executor()
        t_dask = float(np.median([_ingest_seconds(files, executor) for _ in range(3)]))
        client.close()
        cluster.close()
        rows.append((f"Dask local cluster, {n} worker{'s' * (n > 1)}", f"{start:.1f}", t_dask))
    lines = ["## Parallel ingest", "",
             f"The club inbox: {len(files):,} distinct FIT files ({records:,} records; the "
             "sample squad's files for each of "
             f"{len(list(club.glob('c*')))} athletes, bytes made distinct) ingested into a "
             "fresh embedded store by `ingest_files` with each executor; median of 3. The "
             "pool or cluster is started (and has imported Comeback) before the clock starts; "
             "its start is shown apart.", "",
             "| executor | start (s) | seconds | records/s | speed-up |",
             "|---|---:|---:|---:|---:|"]
    for label, start_s, sec in rows:
        base = t_one if not label.startswith("Dask") else rows[2][2]
        lines.append(f"| {label} | {start_s} | {sec:.2f} | {records / sec:,.0f} | "
                     f"{base / sec:.2f}× |")
    lines += ["", "Speed-ups are against one process for the pool and against one Dask worker "
              "for the cluster. The pool's start is near zero here because the forkserver that "
              "imported Comeback for the first benchmark is still running (a night starts it "
              "once: about 1.2 s, see above).", ""]
    return lines


def bench_memory() -> list[str]:
    path = CORPUS / "fit" / "gc__fenix5x_multisport_large.fit"
    if not path.exists():
        return []
    code = ("import sys, tempfile; from pipeline.ingest import ingest_files; "
            "from pipeline.store import Store; d = tempfile.mkdtemp(); "
            "o = ingest_files(Store(d), [(open(sys.argv[1], 'rb').read(), 'f.fit', 'a')], {}); "
            "assert o[0].status == 'ingested', o; "
            "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0])")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=ROOT,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t
    # VmHWM of the process itself (ru_maxrss would carry over the forking parent's peak).
    peak_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
    RESULTS["rss"] = f"{peak_mb:.0f} MB"
    return ["## Memory", "",
            f"Ingest `gc__fenix5x_multisport_large.fit` (45,805 records, 5 sessions) into a "
            f"fresh store in a fresh process: peak RSS **{peak_mb:.0f} MB** (limit 400 MB), "
            f"{seconds:.1f} s wall (includes Python and library start-up).", ""]


def _clone_sessions(template: pd.DataFrame, athletes: int, weeks: int) -> pd.DataFrame:
    """A history of ``weeks`` for each of ``athletes``, repeating the template's weeks."""
    span = pd.Timedelta(weeks=int(np.ceil((template["start_utc"].max()
                                           - template["start_utc"].min()).days / 7) + 1))
    reps = int(np.ceil(weeks / (span.days / 7)))
    frames = []
    for a in range(athletes):
        for r in range(reps):
            shift = span * (r - reps + 1)
            frames.append(template.assign(
                athlete_id=f"a{a:03d}", activity_id=template["activity_id"] + f"-{a}-{r}",
                start_utc=template["start_utc"] + shift,
                local_date=template["local_date"] + shift,
                duplicate_of=template["duplicate_of"].map(
                    lambda d, a=a, r=r: None if d is None else f"{d}-{a}-{r}")))
    return pd.concat(frames, ignore_index=True)


def _squad_store(root: Path, athletes: int, weeks: int) -> tuple[Any, dict[str, Any]]:
    """A store of ``athletes`` × ``weeks`` cloned from the measured sample squad."""
    import dataclasses

    from pipeline.athletes import read_roster
    from pipeline.inbox import iter_exports
    from pipeline.ingest import ingest_items
    from pipeline.recompute import refresh_checkins
    from pipeline.store import ActivityWrite, Store

    sample = Store(root / "sample")
    roster = read_roster(SAMPLE / "athletes.csv")
    ingest_items(sample, list(iter_exports(SAMPLE)), roster)
    refresh_checkins(sample, SAMPLE, roster)
    sessions = sample.table("sessions")
    template = sessions[sessions["athlete_id"] == "cara"]
    segments = sample.table("segments")
    big = _clone_sessions(template.drop(columns=["file_key"]), athletes, weeks)
    ids = pd.DataFrame({"activity_id": big["activity_id"],
                        "_base": big["activity_id"].str.rsplit("-", n=2).str[0]})
    segs = ids.merge(segments.rename(columns={"activity_id": "_base"}), on="_base").drop(
        columns="_base")
    store = Store(root / "squad")
    keys = {aid: f"k{i}" for i, aid in enumerate(big["athlete_id"].unique())}
    writes = [ActivityWrite(keys[aid], f"{keys[aid]}.fit", str(aid), len(part), {},
                            status="ingested", reason=None)
              for aid, part in big.groupby("athlete_id")]
    store.write_batch(writes, sessions=big.assign(file_key=big["athlete_id"].map(keys)),
                      segments=segs)
    checkins = sample.table("checkins")
    checkins = checkins[checkins["athlete_id"] == "cara"]
    span_days = (template["local_date"].max() - template["local_date"].min()).days + 7
    reps = int(np.ceil(weeks * 7 / span_days))
    for a in range(athletes):
        aid = f"a{a:03d}"
        frames = [checkins.assign(athlete_id=aid, date=pd.to_datetime(checkins["date"])
                                  + pd.Timedelta(days=span_days * (r - reps + 1)))
                  for r in range(reps)]
        store.replace_for_athletes("checkins", [aid], pd.concat(frames, ignore_index=True)
                                   .drop_duplicates(["athlete_id", "date"]))
    cara = roster["cara"]
    start = cara.program_start - dt.timedelta(days=span_days * (reps - 1)) if cara.program_start \
        else None
    squad_roster = {f"a{a:03d}": dataclasses.replace(cara, athlete_id=f"a{a:03d}",
                                                     name=f"Athlete {a}", program_start=start)
                    for a in range(athletes)}
    return store, squad_roster


def bench_store_growth() -> list[str]:
    """Ingesting one new file: empty store against a store of 10,000 activities."""
    from pipeline.ingest import ingest_files
    from pipeline.recompute import recompute

    files = sorted((SAMPLE / "cara").glob("*_running.fit"))
    if not files:
        return []
    data = [(p.read_bytes(), p.name, "a000") for p in files[-5:]]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big, roster = _squad_store(root, athletes=50, weeks=76)  # ≥ 10,000 activities
        n = len(big.table("sessions"))
        empty_root, big_root = root / "empty", root / "squad"
        timings: dict[str, list[float]] = {"empty": [], "big": []}
        from pipeline.store import Store

        for unit in data:
            for kind, src in (("empty", None), ("big", big_root)):
                target = root / f"run-{kind}"
                if src is None:
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    shutil.copytree(src, target, dirs_exist_ok=False)
                store = Store(target)
                t = time.perf_counter()
                out = ingest_files(store, [unit], roster)
                timings[kind].append(time.perf_counter() - t)
                assert out[0].status in ("ingested", "duplicate"), out
                shutil.rmtree(target)
        del empty_root
        e, b = float(np.median(timings["empty"])), float(np.median(timings["big"]))
        store = Store(big_root)
        t = time.perf_counter()
        recompute(store, ["a000"], roster)
        t_one = time.perf_counter() - t
        t = time.perf_counter()
        recompute(store, list(roster), roster)
        t_all = time.perf_counter() - t
    return ["## Nightly cost against store size", "",
            f"One new FIT file ingested into an empty store and into a store of {n:,} "
            f"activities (50 athletes), median of {len(data)} files, each into a fresh copy.", "",
            "| store | seconds | ratio |", "|---|---:|---:|",
            f"| empty | {e:.3f} | 1.00× |",
            f"| {n:,} activities | {b:.3f} | {b / e:.2f}× |", "",
            f"Recompute (daily load, ratios, decisions, flags, next session) for the one "
            f"athlete whose data changed: {t_one:.2f} s; for all 50: {t_all:.2f} s. The "
            "nightly flow recomputes only athletes with a new session or changed check-ins.",
            ""]


def _night(store: Any, inbox: Path) -> dict[str, float]:
    """One night's work without Prefect, timed by phase (what the nightly flow runs)."""
    from pipeline.athletes import read_roster
    from pipeline.inbox import iter_exports
    from pipeline.ingest import ingest_items, unseen_items
    from pipeline.recompute import update_athletes

    times = {"start": time.perf_counter()}
    roster = read_roster(inbox / "athletes.csv")
    items = unseen_items(store, list(iter_exports(inbox)))
    times["scan"] = time.perf_counter()
    ingest_items(store, items, roster)
    times["ingest"] = time.perf_counter()
    update_athletes(store, inbox, roster)
    times["update"] = time.perf_counter()
    phases = list(times)
    return {b: times[b] - times[a] for a, b in itertools.pairwise(phases)}


def _roster_inbox(inbox: Path, store: Any, roster: dict[str, Any]) -> None:
    """athletes.csv and every athlete's checkins.csv, as the store holds them."""
    from pipeline.athletes import ROSTER_COLUMNS

    inbox.mkdir(parents=True)
    rows = [{c: getattr(a, c) if c != "program_start" else a.program_start
             for c in ROSTER_COLUMNS} for a in roster.values()]
    pd.DataFrame(rows).to_csv(inbox / "athletes.csv", index=False)
    checkins = store.table("checkins")
    for aid, part in checkins.groupby("athlete_id"):
        (inbox / str(aid)).mkdir()
        part.assign(date=part["date"].dt.strftime("%Y-%m-%d"),
                    swelling=part["swelling"].map({True: "yes", False: "no"})).to_csv(
            inbox / str(aid) / "checkins.csv", index=False)


def _club_history(root: Path, athletes: int) -> tuple[Any, Path, int]:
    """A store of ``athletes`` × 76 weeks and its inbox, which still holds one file per
    stored activity (hard links to the sample squad's files, handled on earlier nights)."""
    store, roster = _squad_store(root, athletes=athletes, weeks=76)
    inbox = root / "inbox"
    _roster_inbox(inbox, store, roster)
    fits = _activity_fits()
    per_athlete = len(store.table("sessions")) // athletes
    handled = []
    for a, aid in enumerate(sorted(roster)):
        for i in range(per_athlete):
            dst = inbox / aid / f"{i:04d}.fit"
            os.link(fits[(a * per_athlete + i) % len(fits)], dst)
            st = dst.stat()
            handled.append((str(dst.absolute()), st.st_size, st.st_mtime_ns, f"k{a}-{i}"))
    store.record_inbox_files(handled)
    return store, inbox, len(handled)


def bench_night() -> list[str]:
    """A night with one new file, against the size of the store and of the inbox."""
    from pipeline.inbox import iter_exports
    from pipeline.store import Store, file_key

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        club, club_inbox, n_club = _club_history(root / "club", 50)
        one, one_inbox, n_one = _club_history(root / "one", 1)
        empty_inbox = root / "empty-inbox"
        (empty_inbox / "a000").mkdir(parents=True)
        for name in ("athletes.csv", "a000/checkins.csv"):
            shutil.copy(one_inbox / name, empty_inbox / name)
        setups = {"empty": (Store(root / "empty"), empty_inbox),
                  "one": (one, one_inbox), "club": (club, club_inbox)}
        nothing = {}
        for kind, (store, inbox) in setups.items():
            _night(store, inbox)  # the first night reads every check-in file, evaluates all
            nothing[kind] = sum(_night(store, inbox).values())
        t = time.perf_counter()
        for item in iter_exports(club_inbox):
            file_key(item.path.read_bytes())
        t_hash_all = time.perf_counter() - t
        new_file = _variant(sorted((SAMPLE / "cara").glob("*_running.fit"))[-1].read_bytes(), 999)
        nights: dict[str, list[dict[str, float]]] = {k: [] for k in setups}
        for _ in range(3):
            for kind, (store, inbox) in setups.items():
                copy = root / f"copy-{kind}"
                shutil.copytree(store.root, copy)
                (inbox / "a000" / "new.fit").write_bytes(new_file)
                nights[kind].append(_night(Store(copy), inbox))
                (inbox / "a000" / "new.fit").unlink()
                shutil.rmtree(copy)
    med = {k: {p: float(np.median([n[p] for n in v])) for p in v[0]} for k, v in nights.items()}
    total = {k: sum(v.values()) for k, v in med.items()}
    RESULTS["night new"] = f"{total['club']:.2f} s"
    RESULTS["night nothing"] = f"{nothing['club']:.2f} s"
    RESULTS["recompute one"] = f"{med['club']['update']:.2f} s"
    lines = ["## A night with one new file", "",
             "The whole night's work without Prefect (scan the inbox, ingest, re-read changed "
             "check-ins, recompute whom it concerns) when one new FIT file arrives for athlete "
             "a000; median of 3 nights, each on a fresh copy of the store after a night with "
             "nothing new. Three stores: empty (a000 on the roster with check-ins, no "
             f"activity yet); a000 alone with 76 weeks of history ({n_one:,} activities); "
             f"a club of 50 such athletes ({n_club:,} activities). Each inbox still holds "
             "every file its store was given.", "",
             "| phase | empty (s) | one athlete (s) | club (s) | club ÷ one athlete |",
             "|---|---:|---:|---:|---:|"]
    names = {"scan": "scan the inbox for new or changed files", "ingest": "ingest the new file",
             "update": "re-read changed check-ins, recompute a000"}
    for phase, label in names.items():
        lines.append(f"| {label} | {med['empty'][phase]:.3f} | {med['one'][phase]:.3f} | "
                     f"{med['club'][phase]:.3f} | "
                     f"{med['club'][phase] / max(med['one'][phase], 1e-9):.2f}× |")
    lines += [f"| **whole night** | {total['empty']:.3f} | {total['one']:.3f} | "
              f"{total['club']:.3f} | **{total['club'] / total['one']:.2f}×** |", "",
              f"A night with nothing new: {nothing['empty']:.3f} s, {nothing['one']:.3f} s and "
              f"{nothing['club']:.3f} s. Recomputing the one athlete costs about the same whatever "
              "the size of the club around them. Before the inbox was "
              "scanned by path, size and modification time, every night also read and hashed "
              f"every inbox file: {t_hash_all:.2f} s for the club's {n_club:,} (from the page "
              "cache; more from a disk), and re-read every athlete's check-ins.", ""]
    return lines


def bench_nightly_flow(club: Path) -> list[str]:
    """The nightly flow on the sample squad and on the club inbox: the thread runner with 1
    and 2 measuring processes, and Dask with 1 and 2 workers.

    A real Prefect server is started for this (with the temporary one, every Dask worker
    process would start a server of its own).
    """
    runs: dict[tuple[str, str, int, int | None], float] = {}
    # The first flow run against a fresh server pays one-off costs: it runs untimed first.
    warm_up = ("sample", "threads", 1, None)
    plan: list[tuple[str, str, int, int | None]] = [
        ("sample", "threads", 2, None), ("sample", "threads", 2, 0),
        ("club", "threads", 1, None), ("club", "threads", 2, None),
        ("club", "dask", 1, None), ("club", "dask", 2, None)]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_LOGGING_LEVEL": "WARNING", "DO_NOT_TRACK": "1"}
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start",
                                   "--host", "127.0.0.1", "--port", "4297"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env["PREFECT_API_URL"] = "http://127.0.0.1:4297/api"
        try:
            import urllib.request

            for _ in range(120):
                try:
                    urllib.request.urlopen(env["PREFECT_API_URL"] + "/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            for inbox, kind, n, parallel_from in [warm_up, *plan]:
                args = [str(SAMPLE if inbox == "sample" else club), kind, str(n)]
                args += [str(parallel_from)] if parallel_from is not None else []
                out = subprocess.run([sys.executable, "-m", "benchmarks.nightly_run", *args],
                                     env=env, cwd=ROOT, capture_output=True, text=True,
                                     check=True)
                runs[(inbox, kind, n, parallel_from)] = float(out.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait(timeout=60)
    from flows.nightly import PARALLEL_FROM_FILES

    n_club = len(list(club.rglob("*.fit")))
    labels = {"threads": "threads (default)", "dask": "Dask local cluster"}
    lines = ["## Nightly flow", "",
             "One `nightly` run into a fresh store against a local Prefect server (ingest, "
             "check-ins, recompute, artifact), in a fresh process: the figures include "
             "starting the measuring pool or the Dask cluster. The sample squad is 113 files; "
             f"the club inbox {n_club:,} (see Parallel ingest). Below "
             f"{PARALLEL_FROM_FILES} new files the flow measures in its own process "
             "(`parallel_from`): starting the pool costs more than it saves there, as the "
             "sample squad's forced row shows (its speed-up is against the default row).", "",
             "| inbox | task runner | measuring processes | seconds | speed-up |",
             "|---|---|---|---:|---:|"]
    for inbox, kind, n, parallel_from in plan:
        base = runs[plan[0] if inbox == "sample" else (inbox, kind, 1, None)]
        sec = runs[(inbox, kind, n, parallel_from)]
        procs = (f"{n} worker{'s' * (n > 1)}" if kind == "dask" else
                 f"{n}" + (" (pool forced: `parallel_from=0`)" if parallel_from == 0 else
                           " (default)" if n == 2 else ""))
        lines.append(f"| {inbox} | {labels[kind]} | {procs} | {sec:.1f} | {base / sec:.2f}× |")
    RESULTS["flow club"] = (f"threads {runs[('club', 'threads', 1, None)] / runs[('club', 'threads', 2, None)]:.2f}×, "
                            f"Dask {runs[('club', 'dask', 1, None)] / runs[('club', 'dask', 2, None)]:.2f}×")
    return [*lines, ""]


def bench_reports() -> list[str]:
    """Weekly reports for 50 athletes with a year of history each."""
    from pipeline.recompute import recompute
    from pipeline.report import last_full_week, write_reports

    with tempfile.TemporaryDirectory() as tmp:
        store, roster = _squad_store(Path(tmp), athletes=50, weeks=52)
        n = len(store.table("sessions"))
        t = time.perf_counter()
        recompute(store, list(roster), roster)
        t_recompute = time.perf_counter() - t
        last = store.table("sessions")["local_date"].max().date()
        week = last_full_week(last + dt.timedelta(days=7))
        t = time.perf_counter()
        index = write_reports(store, week, Path(tmp) / "reports")
        t_reports = time.perf_counter() - t
        pages = len(list(index.parent.glob("*.html")))
    return ["## Weekly reports", "",
            f"50 athletes with a year of history each ({n:,} sessions, cloned from the sample "
            "squad's soreness athlete).", "",
            "| step | seconds |", "|---|---:|",
            f"| recompute load, decisions and flags for all 50 | {t_recompute:.1f} |",
            f"| weekly reports ({pages} pages, charts included) | {t_reports:.1f} |", ""]


def bench_web() -> list[str]:
    """The web pages of a 50-athlete club with a year of history each, served in process
    (FastAPI's test client: the app's own time, no network)."""
    import re
    import statistics

    from fastapi.testclient import TestClient

    from flows.web import create_app
    from pipeline.access import add_user, issue_link_token
    from pipeline.recompute import recompute

    with tempfile.TemporaryDirectory() as tmp:
        store, roster = _squad_store(Path(tmp), athletes=50, weeks=52)
        recompute(store, list(roster), roster)
        inbox = Path(tmp) / "inbox"
        _roster_inbox(inbox, store, roster)
        last = store.table("sessions", "a007")["local_date"].max().date()
        client = TestClient(create_app(store, inbox, today=lambda: last + dt.timedelta(days=1)),
                            follow_redirects=False)
        link = f"/a/{issue_link_token(store, 'a007')}"
        add_user(store, "coach", "benchmark password")
        week = f"{last.isocalendar()[0]}-W{last.isocalendar()[1]:02d}"

        def timed(call: Any, expect: int, n: int = 5) -> float:
            times = []
            for _ in range(n):
                t = time.perf_counter()
                status = call().status_code
                times.append(time.perf_counter() - t)
                assert status == expect, status
            return statistics.median(times) * 1000

        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(link).text).group(1)
        answers = {"csrf": csrf, "date": last.isoformat(), "warmup": "none", "during": "none",
                   "next_day": "none", "pain_during": "1", "rpe": "4"}
        rows = [("athlete's check-in page", timed(lambda: client.get(link), 200)),
                ("check-in sent (stored, the athlete recomputed)",
                 timed(lambda: client.post(link, data=answers), 303))]
        logins = []
        for _ in range(5):  # a log-in starts a new session: each needs the log-in form's token
            fresh = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
            login = {"name": "coach", "password": "benchmark password", "csrf": fresh}
            logins.append(timed(lambda: client.post("/login", data=login), 303, n=1))  # noqa: B023
        rows.append(("coach log-in (argon2id)", statistics.median(logins)))
        rows += [("squad overview (50 athletes, trend charts)",
                  timed(lambda: client.get(f"/report/{week}/index.html"), 200)),
                 ("one athlete's weekly page", timed(lambda: client.get(f"/report/{week}/a007.html"), 200)),
                 ("athlete timeline", timed(lambda: client.get("/athlete/a007"), 200))]
    return ["## Web pages", "",
            "50 athletes with a year of history each; median of 5 requests through FastAPI's "
            "test client (the application's time, no network).", "",
            "| request | ms |", "|---|---:|", *[f"| {name} | {ms:.0f} |" for name, ms in rows], ""]


def _synthetic_sessions(n_athletes: int, years: int, rng: np.random.Generator) -> pd.DataFrame:
    days = pd.date_range("2023-01-02", periods=365 * years, freq="D")
    frames = []
    for a in range(n_athletes):
        run = rng.random(len(days)) < 3 / 7
        d = days[run]
        dist = rng.normal(5000, 1500, len(d)).clip(1000)
        frames.append(pd.DataFrame({
            "activity_id": [f"{a}-{i}" for i in range(len(d))], "athlete_id": f"a{a:04d}",
            "sport": "running", "kind": "run", "start_utc": (d + pd.Timedelta(hours=7)).tz_localize("UTC"),
            "local_date": d, "distance_m": dist, "run_distance_m": dist * 0.8,
            "run_s": dist / 2.6, "load_run_min": dist / 2.6 / 60,
            "load_duration_min": dist / 2.4 / 60, "load_distance_km": dist / 1000,
            "srpe_au": np.nan, "trimp_banister": np.nan, "duplicate_of": None}))
    return pd.concat(frames, ignore_index=True)


def bench_rules(n_athletes: int) -> list[str]:
    from pipeline.load import daily_load
    from pipeline.rules import progression_flags

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
            "(of 3): validation scales well with rows. What costs is the fixed price per call "
            "(Sessions, 45 columns: about 22 ms even for one row), which is why ingest "
            "validates a chunk of files at a time rather than every session.",
            ""]



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--athletes", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a few files, 100 athletes")
    args = parser.parse_args()
    # Stores live where the default store does, in the working directory's file system, not
    # in the system's temporary folder (on this machine creating a file there costs 1 ms,
    # 20× more: docs/benchmarks.md).
    scratch = ROOT / ".bench-tmp"
    scratch.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = tempfile.tempdir = str(scratch)
    files = _running_fit_files()
    if args.quick:
        files, args.athletes = files[:3], 100
    lines = ["# Benchmarks", "",
             f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC with `make bench` on "
             f"{platform.machine()} / {os.cpu_count()} cores / Python {platform.python_version()} "
             f"/ pandas {pd.__version__}. Single runs unless stated; the machine may be shared.",
             ""]
    sets = {"corpus running FIT": files} if files else {}
    sample_fits = _activity_fits()
    sets["sample squad FIT"] = sample_fits[:12] if args.quick else sample_fits
    from flows.nightly import measuring_pool

    t = time.perf_counter()
    pool = measuring_pool(2)
    list(pool.map(abs, range(4)))
    pool_start = time.perf_counter() - t
    lines += bench_ingest(sets, pool, pool_start)
    pool.shutdown()
    if files:
        lines += bench_memory()
    else:
        lines += ["(../shared/corpus is absent: corpus benchmarks skipped.)", ""]
    lines += bench_store_growth()
    lines += bench_night()
    lines += bench_reports()
    lines += bench_web()
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            club = club_inbox(Path(tmp), CLUB_ATHLETES)
            lines += bench_parallel(club, RECORDS["sample squad FIT"])
            lines += bench_nightly_flow(club)
    lines += bench_rules(args.athletes)
    lines += bench_validation()
    lines += history()
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
