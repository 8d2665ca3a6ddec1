"""One nightly flow run on an inbox, timed; used by ``python -m benchmarks`` in a subprocess.

Usage: ``python -m benchmarks.nightly_run INBOX (threads|dask) WORKERS [PARALLEL_FROM]``.
Prints the seconds. ``PARALLEL_FROM`` 0 starts the measuring processes whatever the night's
size; without it the flow's default decides.
"""

from __future__ import annotations

import sys
import tempfile
import time


def main() -> None:
    from flows.nightly import nightly

    inbox, runner_kind, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    options = {"parallel_from": int(sys.argv[4])} if len(sys.argv) > 4 else {}
    flow = nightly
    if runner_kind == "dask":
        from prefect_dask import DaskTaskRunner

        flow = nightly.with_options(task_runner=DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "processes": True, "threads_per_worker": 1,
            "dashboard_address": None}))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if runner_kind == "dask":  # the cluster's processes are the parallelism
            summary = flow(inbox, tmp, workers=1)
        else:
            summary = flow(inbox, tmp, workers=workers, **options)
        seconds = time.perf_counter() - t
    assert summary["ingested"] > 0, summary
    print(f"{seconds:.2f}")


if __name__ == "__main__":
    main()
