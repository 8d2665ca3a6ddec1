"""Nightly ingestion flow: one task per batch of inbox files, then recompute what changed.

Policy lives here: transient I/O is retried; a file that raised an input error is quarantined
by the library and the night goes on; any other error fails the run after the rest is done.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed, wait
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.alerts import AlertDeliveryError, AlertSettings, collect_alerts, send_pending
from pipeline.athletes import read_roster, read_roster_checked
from pipeline.errors import ConfigError
from pipeline.inbox import InboxItem, iter_exports
from pipeline.ingest import FileOutcome, ingest_items, unseen_items
from pipeline.recompute import recompute, update_athletes
from pipeline.store import DEFAULT_STORE, Store

__all__ = ["default_store_root", "measuring_pool", "nightly", "open_store", "reprocess",
           "settings_path"]


def default_store_root() -> str:
    """The store folder: ``$COMEBACK_STORE`` or ``.comeback`` in the working directory."""
    return os.environ.get("COMEBACK_STORE", str(DEFAULT_STORE))


def settings_path(store_root: str) -> Path:
    """The settings file (alerts, web): ``$COMEBACK_SETTINGS`` or ``settings.toml`` in the
    store folder, beside the data it protects and out of the inbox athletes write to."""
    return Path(os.environ.get("COMEBACK_SETTINGS", str(Path(store_root) / "settings.toml")))


@lru_cache(maxsize=8)
def open_store(root: str, url: str | None = None) -> Store:
    """One Store per process and location (tasks on Dask workers open their own)."""
    return Store(root, url)


def _transient(task: Any, task_run: Any, state: State) -> bool:
    """Retry only I/O errors (a network share hiccup), never a bug or a bad file."""
    return isinstance(state.data, OSError)


# Below this many new files a night measures them in its own process. Starting the pool
# costs about 1.3 s here (a fresh interpreter importing pandas, pandera, pyarrow…); two
# processes save about 4 ms per sample file: the break-even measured by `make bench` is a
# few hundred files (docs/benchmarks.md, "Nightly flow").
PARALLEL_FROM_FILES = 300


def measuring_pool(workers: int) -> ProcessPoolExecutor:
    """Processes that measure files (``executor=`` of the ingest functions), so a batch uses
    every core.

    Workers fork from a server process that imported the measuring code once
    (forkserver): start-up is paid once per pool, and forking never copies the caller's
    threads mid-lock (the nightly flow runs inside Prefect's threads).
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pipeline.measure"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


@lru_cache(maxsize=4)
def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool of measuring processes per flow process, reused by every batch."""
    return measuring_pool(workers)


@task(retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=_transient,
      cache_policy=NO_CACHE, task_run_name="ingest {label}")
def ingest_batch(items: list[InboxItem], label: str, store_root: str, store_url: str | None,
                 roster: dict[str, Any], workers: int) -> list[FileOutcome]:
    executor = _pool(workers) if workers > 1 else None
    return ingest_items(open_store(store_root, store_url), items, roster, executor=executor)


def _delivery_failed(task: Any, task_run: Any, state: State) -> bool:
    return isinstance(state.data, AlertDeliveryError | OSError)


@task(retries=2, retry_delay_seconds=30, retry_condition_fn=_delivery_failed,
      cache_policy=NO_CACHE)
def send_alerts(store_root: str, store_url: str | None, settings: AlertSettings) -> int:
    """Deliver the pending alerts; a failing mail server is retried, then left for the
    next night (the alerts stay pending), never failing the ingest."""
    return send_pending(open_store(store_root, store_url), settings)


def _alerts(root: str, url: str | None, st: Store, names: dict[str, str]) -> dict[str, Any]:
    new = collect_alerts(st, names)
    try:
        settings = AlertSettings.load(settings_path(root))
    except ConfigError as exc:  # recorded alerts wait for a readable settings file
        return {"new": new, "sent": 0, "error": str(exc)}
    delay = float(os.environ.get("COMEBACK_ALERT_RETRY_S", "30"))  # read at run time
    state = send_alerts.with_options(retry_delay_seconds=delay)(
        root, url, settings, return_state=True)
    if state.is_completed():
        return {"new": new, "sent": state.result(), "error": None}
    return {"new": new, "sent": 0, "error": state.message}


def _batches(items: list[InboxItem], size: int) -> list[list[InboxItem]]:
    return [items[i:i + size] for i in range(0, len(items), max(size, 1))]


def _summary_markdown(summary: dict[str, Any]) -> str:
    lines = [f"# Comeback nightly ingest: {summary['ingested']} ingested, "
             f"{summary['duplicates']} duplicates, {summary['quarantined']} quarantined, "
             f"{summary['unchanged']} unchanged since an earlier night", "",
             "| file | status | reason |", "|---|---|---|"]
    lines += [f"| {f['path']} | {f['status']} | {f['reason'] or ''} |" for f in summary["files"]]
    if summary.get("checkin_problems"):
        lines += ["", "## Check-in rows rejected", "", "| file | line | column | reason |",
                  "|---|---|---|---|"]
        lines += [f"| {p['source']} | {p['line']} | {p['column']} | {p['reason']} |"
                  for p in summary["checkin_problems"]]
    return "\n".join(lines)


@flow(name="comeback-nightly", task_runner=ThreadPoolTaskRunner(max_workers=2),  # type: ignore[arg-type]
      log_prints=True)
def nightly(inbox: str, store: str | None = None, database_url: str | None = None,
            progress: bool = False, workers: int = 2, batch_size: int = 48,
            parallel_from: int = PARALLEL_FROM_FILES) -> dict[str, Any]:
    """Ingest what is new in ``inbox`` and recompute load, decisions and flags it touched.

    Args:
        workers: Processes measuring files for each batch task (2 uses both cores of the
            embedded default). On a Dask cluster use 1: the cluster's workers are the
            parallelism.
        batch_size: Files per task; each task writes its files in chunks, atomically.
        parallel_from: Fewer new files than this are measured in the flow's own process:
            starting the measuring processes costs more than they save on a small night.

    Returns:
        Counts ``ingested``, ``duplicates``, ``quarantined``, ``unchanged`` (inbox files
        handled on an earlier night and not touched since: not read again) and one entry
        per file read tonight (per member for archives) with ``path``, ``status`` and
        ``reason``.
    """
    root = store or default_store_root()
    inbox_path = Path(inbox)
    checked = read_roster_checked(inbox_path / "athletes.csv")
    roster = checked.athletes
    st = open_store(root, database_url)
    everything = list(iter_exports(inbox_path))
    items = unseen_items(st, everything)  # only files that are new or changed since handled
    batches = _batches(items, batch_size)
    labels = [f"{b[0].name} (+{len(b) - 1})" for b in batches]
    processes = workers if len(items) >= parallel_from else 1
    futures = ingest_batch.map(batches, labels, unmapped(root), unmapped(database_url),
                               unmapped(roster), unmapped(processes))
    if progress:  # a bar on the terminal of whoever runs it by hand
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            job = bar.add_task("ingesting", total=len(futures))
            for _ in as_completed(futures):
                bar.advance(job)
    wait(futures)
    outcomes: list[FileOutcome] = []
    failures = []
    for label, fut in zip(labels, futures, strict=True):
        if fut.state.is_completed():
            outcomes.extend(fut.result())
        else:
            failures.append((label, fut.state.message))
    update = update_athletes(st, inbox_path, roster, checked.problems)
    alerts = _alerts(root, database_url, st, {a: r.name for a, r in roster.items()})
    summary = {
        "ingested": sum(o.status == "ingested" for o in outcomes),
        "duplicates": sum(o.status == "duplicate" for o in outcomes),
        "quarantined": sum(o.status == "quarantined" for o in outcomes),
        "unchanged": len(everything) - len(items),
        "recomputed_athletes": list(update.recomputed),
        "files": [{"path": o.path, "status": o.status, "reason": o.reason} for o in outcomes],
        "checkin_problems": update.checkin_problems.to_dict("records"),
        "roster_problems": checked.problems.to_dict("records"),
        "alerts": alerts,
        "store": str(Path(root).resolve()),
    }
    create_markdown_artifact(key="comeback-nightly", markdown=_summary_markdown(summary),
                             description="What the night ingested, skipped and quarantined")
    if failures:
        raise RuntimeError("files failed with unexpected errors (not input errors): "
                           + "; ".join(f"{n}: {m}" for n, m in failures))
    return summary


@flow(name="comeback-reprocess")
def reprocess(inbox: str, store: str | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Recompute every activity from the raw archive (after an algorithm change)."""
    from pipeline.ingest import reprocess_store

    root = store or default_store_root()
    st = open_store(root, database_url)
    roster = read_roster(Path(inbox) / "athletes.csv")
    count = reprocess_store(st, roster, executor=_pool(2))
    recompute(st, set(st.table("sessions")["athlete_id"]) | set(roster), roster,
              program_dir=Path(inbox))
    return {"reprocessed": count}
