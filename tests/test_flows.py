"""The wiring, end to end under Prefect (fast, quiet settings from the project notes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT
from tests.helpers import small_inbox

pytestmark = pytest.mark.usefixtures("prefect_fast")


def test_nightly_flow_ingests_quarantines_and_reports(tmp_path):
    from prefect.artifacts import Artifact

    from flows.nightly import nightly
    from flows.weekly_report import weekly_report

    inbox = small_inbox(tmp_path, extra={"corrupt.fit": b"\x0e\x10\0\0\0\0\0\0.FIT" + b"\xff" * 50})
    store = str(tmp_path / "store")
    state = nightly(str(inbox), store, return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert (summary["ingested"], summary["quarantined"], summary["duplicates"]) == (4, 1, 0)
    assert summary["recomputed_athletes"] == ["ana", "ben", "cara", "dev"]
    bad = next(f for f in summary["files"] if f["path"].endswith("corrupt.fit"))
    assert bad["status"] == "quarantined" and bad["reason"]
    assert "corrupt.fit" in Artifact.get("comeback-nightly").data
    again = nightly(str(inbox), store)
    assert again["ingested"] == 0 and again["recomputed_athletes"] == []
    assert again["unchanged"] == 5 and again["files"] == []  # nothing read again
    index = Path(weekly_report("2026-W06", store, str(tmp_path / "reports"), str(inbox)))
    assert index.exists() and (index.parent / "ana.html").exists()
    assert "index.html" in Artifact.get("comeback-weekly-report").data


def test_deployment_definition_is_valid_offline():
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.flows import load_flow_from_entrypoint

    model = PrefectYamlModel.model_validate(yaml.safe_load((ROOT / "prefect.yaml").read_text()))
    assert len(model.deployments) == 2
    for d in model.deployments:
        fl = load_flow_from_entrypoint(str(ROOT / d.entrypoint.split(":")[0]) + ":" +
                                       d.entrypoint.split(":")[1])
        fl.validate_parameters(d.parameters)
        for s in d.schedules or []:
            CronSchedule(cron=s.cron, timezone=s.timezone)


def test_serve_definition_offline():
    from flows.nightly import nightly

    dep = nightly.to_deployment(name="comeback-nightly", cron="30 2 * * *",
                                parameters={"inbox": "/srv/inbox"})
    assert dep.schedules[0].schedule.cron == "30 2 * * *"


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("args", [("export", "nope"), ("ingest", "no/such/inbox"),
                                  ("report", "--week", "2026-99"),
                                  ("serve", "data/sample/inbox")])
def test_cli_user_errors_are_one_line_and_nonzero(args, tmp_path):
    out = _cli(*args, "--store", str(tmp_path / "s")) if args[0] != "serve" else _cli(*args)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("comeback:")


def test_cli_export_and_checkin(tmp_path):
    inbox = small_inbox(tmp_path, n=0, checkins="athlete_id,date,warmup\n")
    out = _cli("checkin", "ana", "--inbox", str(inbox), "--date", "2026-02-02", "--warmup",
               "resolved", "--during", "none", "--next-day", "muscular", "--rpe", "4")
    assert out.returncode == 0, out.stderr
    from pipeline.checkins import read_checkins

    result = read_checkins(inbox / "ana" / "checkins.csv", "ana")
    assert result.problems.empty
    row = result.checkins.iloc[0]
    assert (row["warmup"], row["during"], row["next_day"], row["rpe"]) == (
        "resolved", "none", "muscular", 4.0)
    bad = _cli("checkin", "ana", "--inbox", str(inbox), "--warmup", "sore")
    assert bad.returncode == 2 and "warmup" in bad.stderr


def _comparable(store_root: Path):
    from pipeline.store import Store

    st = Store(store_root)
    s = st.table("sessions").drop(columns=["file_key"]).sort_values("activity_id")
    d = st.table("decisions").sort_values(["athlete_id", "date"])
    return s.reset_index(drop=True), d.reset_index(drop=True)


def test_dask_task_runner_gives_the_same_store(tmp_path):
    from prefect_dask import DaskTaskRunner

    from flows.nightly import nightly

    inbox = small_inbox(tmp_path)
    nightly(str(inbox), str(tmp_path / "threads"))
    runner = DaskTaskRunner(cluster_kwargs={"processes": False, "n_workers": 2,
                                            "threads_per_worker": 1, "dashboard_address": None})
    summary = nightly.with_options(task_runner=runner)(str(inbox), str(tmp_path / "dask"))
    assert summary["ingested"] == 4
    for a, b in zip(_comparable(tmp_path / "threads"), _comparable(tmp_path / "dask"), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_reprocess_flow_recomputes_from_the_raw_archive(tmp_path):
    from flows.nightly import nightly, reprocess

    inbox = small_inbox(tmp_path)
    store = str(tmp_path / "store")
    nightly(str(inbox), store)
    before = _comparable(Path(store))
    for f in (inbox / "ana").glob("*.fit"):
        f.unlink()  # the inbox is gone: only the archive remains
    assert reprocess(str(inbox), store)["reprocessed"] == 4
    for a, b in zip(before, _comparable(Path(store)), strict=True):
        pd.testing.assert_frame_equal(a, b)
