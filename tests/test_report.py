"""The coach report: safe with hostile strings, no GPS, renders in a real browser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.athletes import read_roster
from pipeline.recompute import recompute, refresh_checkins
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
    inbox = small_inbox(tmp, n=4, checkins=checkins,
                        extra={f"{EVIL.replace('/', '_')}.fit": b"not a fit file"})
    store = Store(tmp / "store")
    ingest_all(store, inbox)
    roster = read_roster(inbox / "athletes.csv")
    refresh_checkins(store, inbox, roster)
    recompute(store, roster, roster)
    return write_reports(store, "2026-W06", tmp / "out", {"ana": EVIL})


def test_athlete_supplied_strings_render_as_text(evil_report):
    html = (evil_report.parent / "ana.html").read_text() + evil_report.read_text()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html  # the name, note and file name are shown, escaped
    assert "onerror=alert(1)&gt;.fit" in html or "onerror=alert(1)&gt;" in html


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
    assert len(sizes) == 5 and all(b and b["width"] > 100 and b["height"] > 50 for b in sizes)
    assert dialogs == []
    assert (tmp_path / "ana.html.png").stat().st_size > 10_000
