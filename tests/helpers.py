"""Small inboxes built from the sample squad for tests that run the flows or the store."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.athletes import read_roster
from pipeline.inbox import iter_exports
from pipeline.ingest import FileOutcome, ingest_item
from pipeline.store import Store
from tests.conftest import SAMPLE

INBOX = SAMPLE / "inbox"


def small_inbox(tmp: Path, athlete: str = "ana", n: int = 4, *, extra: dict[str, bytes] | None = None,
                checkins: str | None = None) -> Path:
    """An inbox with ``n`` of an athlete's sample files (+ ``extra`` files), the real roster."""
    inbox = tmp / "inbox"
    (inbox / athlete).mkdir(parents=True)
    shutil.copy(INBOX / "athletes.csv", inbox / "athletes.csv")
    for path in sorted((INBOX / athlete).glob("*running.fit"))[:n]:
        shutil.copy(path, inbox / athlete / path.name)
    for name, data in (extra or {}).items():
        (inbox / athlete / name).write_bytes(data)
    src = INBOX / athlete / "checkins.csv"
    (inbox / athlete / "checkins.csv").write_text(checkins if checkins is not None else src.read_text())
    return inbox


def ingest_all(store: Store, inbox: Path) -> list[FileOutcome]:
    """Ingest every inbox file one at a time, as a night of single-file batches would."""
    roster = read_roster(inbox / "athletes.csv")
    return [o for item in iter_exports(inbox) for o in ingest_item(store, item, roster)]
