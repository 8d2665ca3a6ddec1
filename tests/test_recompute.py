"""The per-athlete recompute: exactly the athletes whose inputs changed, and never stopped by one bad file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.athletes import read_roster
from pipeline.inbox import iter_exports
from pipeline.ingest import ingest_items, unseen_items
from pipeline.recompute import athletes_to_recompute, update_athletes
from pipeline.store import Store
from tests.conftest import ROOT
from tests.helpers import INBOX, small_inbox


def _night(store: Store, inbox: Path) -> list[str]:
    """The nightly flow's body without Prefect; returns the athletes it recomputed."""
    roster = read_roster(inbox / "athletes.csv")
    ingest_items(store, unseen_items(store, list(iter_exports(inbox))), roster)
    return list(update_athletes(store, inbox, roster).recomputed)



def test_a_night_recomputes_only_the_athletes_whose_inputs_changed(tmp_path, monkeypatch):
    import pipeline.recompute

    inbox = small_inbox(tmp_path, "ana", n=2)
    (inbox / "ben").mkdir()
    ben_files = sorted((INBOX / "ben").glob("*running.fit"))
    (inbox / "ben" / ben_files[0].name).write_bytes(ben_files[0].read_bytes())
    (inbox / "ben" / "checkins.csv").write_text((INBOX / "ben" / "checkins.csv").read_text())
    store = Store(tmp_path / "store")
    reads: list[Path] = []
    real_read = pipeline.recompute.read_checkins
    monkeypatch.setattr(pipeline.recompute, "read_checkins",
                        lambda path, aid=None: reads.append(Path(path)) or real_read(path, aid))

    assert _night(store, inbox) == ["ana", "ben", "cara", "dev"]  # on the roster, no data yet
    assert len(reads) == 2
    reads.clear()
    decisions = store.table("decisions")
    assert _night(store, inbox) == [] and reads == []  # nothing new: nothing read, nothing redone
    pd.testing.assert_frame_equal(store.table("decisions"), decisions)

    (inbox / "ben" / ben_files[1].name).write_bytes(ben_files[1].read_bytes())
    assert _night(store, inbox) == ["ben"] and reads == []

    checkins = inbox / "ana" / "checkins.csv"
    checkins.write_text(checkins.read_text().rstrip("\n").rsplit("\n", 1)[0] + "\n")
    rows = len(store.table("checkins", "ana"))
    assert _night(store, inbox) == ["ana"] and reads == [checkins]
    assert len(store.table("checkins", "ana")) == rows - 1

    roster = inbox / "athletes.csv"
    lines = roster.read_text().splitlines()
    lines = [ln.replace("2026-", "2025-", 1) if ln.startswith("cara,") else ln for ln in lines]
    roster.write_text("\n".join(lines) + "\n")
    assert _night(store, inbox) == ["cara"]

    # A program of ana's own: naming it recomputes her, and so does editing the file.
    program = ROOT / "pipeline" / "programs" / "crowell2023.csv"
    (inbox / "ana-program.csv").write_text(program.read_text())
    lines = [ln.replace("Europe/Berlin,female,54,188,,", "Europe/Berlin,female,54,188,"
                        "ana-program.csv,") if ln.startswith("ana,") else ln
             for ln in roster.read_text().splitlines()]
    roster.write_text("\n".join(lines) + "\n")
    assert _night(store, inbox) == ["ana"]
    assert _night(store, inbox) == []
    (inbox / "ana-program.csv").write_text(program.read_text() + "# reviewed by the physio\n")
    assert _night(store, inbox) == ["ana"]



def test_sessions_written_but_not_yet_evaluated_are_evaluated_next_night(tmp_path):
    inbox = small_inbox(tmp_path, "ana", n=2)
    store = Store(tmp_path / "store")
    _night(store, inbox)
    extra = sorted((INBOX / "ana").glob("*running.fit"))[2]
    (inbox / "ana" / extra.name).write_bytes(extra.read_bytes())
    # The night stops after the ingest committed and before the recompute (a crash).
    ingest_items(store, list(iter_exports(inbox)), read_roster(inbox / "athletes.csv"))
    assert athletes_to_recompute(store, read_roster(inbox / "athletes.csv"), inbox) == ["ana"]
    assert _night(store, inbox) == ["ana"]
    assert athletes_to_recompute(store, read_roster(inbox / "athletes.csv"), inbox) == []



def test_an_unreadable_checkin_file_is_a_problem_and_every_other_athlete_is_recomputed(tmp_path):
    inbox = small_inbox(tmp_path, n=2)
    (inbox / "ben").mkdir()
    for path in sorted((INBOX / "ben").glob("*running.fit"))[:2]:
        (inbox / "ben" / path.name).write_bytes(path.read_bytes())
    (inbox / "ben" / "checkins.csv").write_text(
        "athlete_id,date,warmup,during,next_day,note\n"
        "ben,2026-02-02,none,none,none,ok\n"
        'ben,2026-02-04,none,none,none,"forgot to close the quote\n'
        "ben,2026-02-06,none,none,none,ok\n")
    store = Store(tmp_path / "store")
    roster = read_roster(inbox / "athletes.csv")
    ingest_items(store, iter_exports(inbox), roster)
    update = update_athletes(store, inbox, roster)
    assert {"ana", "ben"} <= set(update.recomputed)
    bad = update.checkin_problems[update.checkin_problems["athlete_id"] == "ben"]
    assert bad[["source", "line"]].values.tolist() == [["ben/checkins.csv", 3]]
    assert "cannot be read as CSV" in bad["reason"].iloc[0]
    assert set(store.table("decisions")["athlete_id"]) >= {"ana", "ben"}
    assert len(store.table("checkins", "ana")) > 0
    # Mended, the file is read again and the problem is gone.
    (inbox / "ben" / "checkins.csv").write_text(
        "athlete_id,date,warmup,during,next_day,note\nben,2026-02-02,none,none,none,ok\n")
    update = update_athletes(store, inbox, roster)
    assert update.recomputed == ("ben",) and update.checkin_problems.empty
    assert len(store.table("checkins", "ben")) == 1
