"""The coach report: safe with hostile strings, no GPS, renders in a real browser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.athletes import read_roster
from pipeline.recompute import recompute, refresh_checkins, refresh_wellness
from pipeline.report import write_reports
from pipeline.store import Store
from tests.helpers import ingest_all, small_inbox

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def evil_report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    checkins = ("athlete_id,date,warmup,during,next_day,pain_during,pain_after,"
                "pain_next_morning,swelling,rpe,note\n"
                f'ana,2026-02-02,none,none,none,1,1,0,no,3,"{EVIL.replace(chr(34), chr(39))}"\n')
    wellness = f"date,resting_hr_bpm,hrv_ms,sleep_h,soreness_0_10,note\n2026-02-04,55,,5.5,2,{EVIL}\n"
    inbox = small_inbox(tmp, n=4, checkins=checkins,
                        extra={f"{EVIL.replace('/', '_')}.fit": b"not a fit file",
                               "wellness.csv": wellness.encode()})
    store = Store(tmp / "store")
    ingest_all(store, inbox)
    roster = read_roster(inbox / "athletes.csv")
    refresh_checkins(store, inbox, roster)
    refresh_wellness(store, inbox, roster)
    recompute(store, roster, roster)
    return write_reports(store, "2026-W06", tmp / "out", {"ana": EVIL})


def test_athlete_supplied_strings_render_as_text(evil_report):
    html = (evil_report.parent / "ana.html").read_text() + evil_report.read_text()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html  # the name, note and file name are shown, escaped
    assert "onerror=alert(1)&gt;.fit" in html or "onerror=alert(1)&gt;" in html
    readiness = html[html.index("<h2>Readiness</h2>"):html.index("<h2>Rules broken")]
    assert "5.5 h" in readiness and "&lt;script&gt;" in readiness  # the wellness note, escaped


def test_no_gps_in_any_report(evil_report):
    for page in evil_report.parent.glob("*.html"):
        text = page.read_text()
        assert "52.52" not in text and "13.40" not in text  # ana's park
        assert "lat_deg" not in text and "lon_deg" not in text


def test_pages_render_in_headless_chromium(evil_report, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name in ("index.html", "ana.html"):
            page.goto((evil_report.parent / name).as_uri())
            page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        svgs = page.query_selector_all("figure svg")
        sizes = [s.bounding_box() for s in svgs]
        dialogs = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        browser.close()
    assert errors == []
    # five charts and the readiness strip's (the fixture has a wellness.csv)
    assert len(sizes) == 6 and all(b and b["width"] > 100 and b["height"] > 50 for b in sizes)
    assert dialogs == []
    assert (tmp_path / "ana.html.png").stat().st_size > 10_000


def test_weekly_totals_keep_running_walking_and_cross_training_apart(sample_store, tmp_path):
    """ana's week 2026-W10 has runs, a bike ride and a pool swim: the totals are read from
    the stored sessions by kind, and neither the ride nor the swim is called a run."""
    import pandas as pd

    from pipeline.report import week_totals

    store, _ = sample_store
    index = write_reports(store, "2026-W10", tmp_path, {"ana": "Ana"})
    html = (index.parent / "ana.html").read_text()
    sessions = store.table("sessions", "ana")
    week = sessions[(sessions["local_date"] >= pd.Timestamp("2026-03-02"))
                    & (sessions["local_date"] <= pd.Timestamp("2026-03-08"))
                    & sessions["duplicate_of"].isna()]
    runs = week[week["kind"] == "run"]
    cross = week[week["kind"] == "cross_training"]
    assert set(cross["sport"]) == {"cycling", "swimming"} and len(runs) >= 3
    totals = week_totals(week)
    assert totals["run_km"] == pytest.approx(runs["distance_m"].sum() / 1000)
    assert totals["cross_min"] == pytest.approx(cross["timer_s"].sum() / 60)
    assert f"<b>Running:</b> {totals['run_km']:.2f} km" in html
    assert f"<b>Cross-training:</b> {totals['cross_min']:.0f} min in 2 session(s) (cycling, swimming)" in html
    assert "cross-training: cycling" in html and "cross-training: swimming (lap swimming)" in html
    rows = html[html.index("<h2>This week's sessions</h2>"):html.index("<h2>Readiness</h2>")]
    assert rows.count("continuous run") + rows.count("s run :") == len(runs)
    assert f"{week['distance_m'].sum() / 1000:.2f} km" not in rows  # never all kinds summed


def test_readiness_strip_shows_the_watch_mornings(sample_store, tmp_path):
    store, _ = sample_store
    index = write_reports(store, "2026-W12", tmp_path, {"ana": "Ana"})
    html = (index.parent / "ana.html").read_text()
    strip = html[html.index("<h2>Readiness</h2>"):html.index("<h2>Rules broken")]
    assert strip.count("<tr>") == 8  # a header and the 7 mornings of the week
    assert "63 bpm" in strip and "5.2 h" in strip and "RESTING_HR_HIGH" in html
