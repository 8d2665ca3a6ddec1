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
               "resolved", "--during", "none", "--next-day", "muscular", "--rpe", "4",
               "--swelling", "no", "--stiffness", "yes")
    assert out.returncode == 0, out.stderr
    from pipeline.checkins import read_checkins

    result = read_checkins(inbox / "ana" / "checkins.csv", "ana")
    assert result.problems.empty
    row = result.checkins.iloc[0]
    assert (row["warmup"], row["during"], row["next_day"], row["rpe"]) == (
        "resolved", "none", "muscular", 4.0)
    assert (row["swelling"], row["stiffness"]) == (False, True)
    bad = _cli("checkin", "ana", "--inbox", str(inbox), "--warmup", "sore")
    assert bad.returncode == 2 and "warmup" in bad.stderr


def test_cli_review_acknowledge_and_export(tmp_path):
    """cara's tenth session (an X1 drop at level 1) opens a review: status and the review
    command say so; an acknowledgement is stored with who, when and the note, exported, and
    the athlete is recomputed at once (ready again)."""
    inbox = small_inbox(tmp_path, athlete="cara", n=10)
    store = str(tmp_path / "store")
    assert _cli("ingest", str(inbox), "--store", store).returncode == 0
    status = _cli("status", "--store", store)
    assert "REVIEW: acknowledge with `comeback review cara --acknowledge`" in status.stdout
    assert "Drop to stage 1: soreness first appeared during the session" in status.stdout
    shown = _cli("review", "cara", "--store", store)
    assert shown.returncode == 0 and shown.stdout.startswith("cara: review.")
    none = _cli("review", "ana", "--store", store, "--acknowledge", "--inbox", str(inbox))
    assert none.returncode == 2 and "no open clinician review" in none.stderr
    note = "<script>alert(1)</script> seen in clinic"
    ack = _cli("review", "cara", "--acknowledge", "--by", "Dr Lee", "--note", note,
               "--inbox", str(inbox), "--store", store)
    assert ack.returncode == 0, ack.stderr
    assert ack.stdout.startswith("review acknowledged for cara by Dr Lee; next: Stage 1")
    from pipeline.store import Store

    st = Store(store)
    assert st.table("next_sessions", "cara").iloc[0]["status"] == "ready"
    exported = _cli("export", "reviews", "--store", store, "--format", "json")
    rows = __import__("json").loads(exported.stdout)
    assert [(r["athlete_id"], r["by"], r["note"]) for r in rows] == [("cara", "Dr Lee", note)]
    assert rows[0]["review"].endswith("drop requested at level 1; 2 drops within 14 days")
    week = st.table("decisions", "cara")["date"].max().strftime("%G-W%V")
    out = tmp_path / "reports"
    assert _cli("report", "--week", week, "--store", store, "--out", str(out),
                "--inbox", str(inbox)).returncode == 0
    page = (out / week / "cara.html").read_text()
    assert "Review acknowledged" in page and "Dr Lee" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "injured area: right knee (ACL reconstruction)" in page


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
