"""Test settings. Prefect reads its settings at import, so they are set before anything else.

Values from the project's measured notes: temporary PREFECT_HOME, in-memory server database
(no SQLite lock stalls), analytics off, generous server start-up timeout, quiet logging.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

_home = tempfile.mkdtemp(prefix="comeback-prefect-test-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["PREFECT_HOME"] = _home
os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = "sqlite+aiosqlite:///:memory:"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "90"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)


import pytest
from hypothesis import settings

# The suite replays the same generated examples on every run, so CI passes or fails on the
# code alone; `make fuzz` explores new random examples at scale (profile "explore").
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("COMEBACK_HYPOTHESIS_PROFILE", "suite"))

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE = ROOT / "data" / "sample"


def corpus_rows() -> list[dict[str, str]]:
    """Rows of the real-device corpus manifest, or [] when the corpus is absent."""
    import csv

    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as fh:
        return list(csv.DictReader(fh))


needs_corpus = pytest.mark.skipif(not (CORPUS / "MANIFEST.csv").exists(),
                                  reason="../shared/corpus is absent (fresh clone)")


@pytest.fixture(scope="session")
def prefect_fast():
    """Heartbeats off for flow tests (+~1 s per flow call otherwise); drain workers after."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
    with contextlib.suppress(RuntimeError):
        APILogWorker.instance().drain()
    EventsWorker.drain_all()


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory):
    """A store built once from data/sample/inbox (ingest + check-ins + wellness.csv +
    evaluation, as a night does)."""
    from pipeline.athletes import read_roster
    from pipeline.inbox import iter_exports
    from pipeline.ingest import ingest_item
    from pipeline.recompute import recompute, refresh_checkins, refresh_wellness
    from pipeline.store import Store

    inbox = SAMPLE / "inbox"
    store = Store(tmp_path_factory.mktemp("sample") / "store")
    roster = read_roster(inbox / "athletes.csv")
    outcomes = [o for item in iter_exports(inbox) for o in ingest_item(store, item, roster)]
    refresh_checkins(store, inbox, roster)
    refresh_wellness(store, inbox, roster)
    recompute(store, roster, roster)
    return store, outcomes


def _pg_bin(name: str) -> str | None:
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server started for the test session (skipped when not installed)."""
    import socket
    import subprocess

    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    # Its own folder under the system temp dir: pytest's base folder is private to this user.
    data = Path(tempfile.mkdtemp(prefix="comeback-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user")
        os.chown(data, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*prefix, initdb, "-D", str(data / "db"), "-A", "trust", "-U", "comeback"],
                   check=True, capture_output=True)
    subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                    "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    yield f"postgresql+psycopg://comeback@127.0.0.1:{port}/postgres"
    subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-m", "fast", "stop"],
                   capture_output=True)
    shutil.rmtree(data, ignore_errors=True)
