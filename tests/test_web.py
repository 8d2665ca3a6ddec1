"""The athlete–coach web loop driven through HTTP: check-in links, the check-in form, the
coach pages, CSRF, hostile input, and the web app writing while an ingest runs."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
import threading

import pandas as pd
import pytest

from tests.conftest import ROOT, SAMPLE

fastapi_testclient = pytest.importorskip("fastapi.testclient")

INBOX = SAMPLE / "inbox"
TODAY = dt.date(2026, 4, 18)  # the morning after the sample squad's last runs
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PASSWORD = "correct horse battery"


@pytest.fixture
def store(sample_store, tmp_path):
    """A private copy of the sample store (these tests write to it)."""
    from pipeline.store import Store

    src, _ = sample_store
    root = tmp_path / "store"
    shutil.copytree(src.root, root)
    return Store(root)


def _client(store, **kw):
    from flows.web import create_app

    base = "https://testserver" if kw.get("secure_cookies") else "http://testserver"
    return fastapi_testclient.TestClient(create_app(store, INBOX, today=lambda: TODAY, **kw),
                                         base_url=base, follow_redirects=False)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _link(store, athlete: str) -> str:
    from pipeline.access import issue_link_token

    return f"/a/{issue_link_token(store, athlete)}"


ALL_CLEAR = {"date": "2026-04-17", "warmup": "none", "during": "none", "next_day": "none",
             "pain_during": "1", "pain_after": "1", "pain_next_morning": "0",
             "swelling": "no", "stiffness": "no", "rpe": "4", "note": "felt easy"}


def _last_decision(store, athlete: str, day: str = "2026-04-17") -> dict:
    d = store.table("decisions", athlete)
    return d[d["date"] == pd.Timestamp(day)].iloc[0].to_dict()


# -- the athlete's page -------------------------------------------------------------------

def test_checkin_page_asks_the_questions_and_shows_the_next_session(store):
    client = _client(store)
    r = client.get(_link(store, "ben"))
    assert r.status_code == 200
    html = r.text
    assert "How did it go, Ben Okafor?" in html
    assert "Sore the next day?" in html and "When unsure whether it is muscle soreness" in html
    assert 'value="2026-04-17" selected' in html  # yesterday's run is the one asked about
    assert store.table("next_sessions", "ben").iloc[0]["prescription"] in html
    assert html.count('name="pain_during"') == 11 and html.count('name="rpe"') == 11
    assert 'name="swelling"' in html and 'name="stiffness"' in html
    assert "lat" not in html.lower().replace("later", "").replace("relat", "")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def test_a_submitted_checkin_is_stored_and_changes_the_decision(store):
    assert _last_decision(store, "ben")["verdict"] == "STAY"  # answers missing in the CSV
    client = _client(store)
    link = _link(store, "ben")
    csrf = _csrf(client.get(link).text)
    r = client.post(link, data={**ALL_CLEAR, "csrf": csrf})
    assert r.status_code == 303 and r.headers["location"].endswith("?saved=1")
    sent = store.table("checkin_submissions", "ben")
    assert len(sent) == 1 and sent.iloc[0]["next_day"] == "none"
    row = store.table("checkins", "ben").set_index("date").loc[pd.Timestamp("2026-04-17")]
    assert (row["warmup"], row["during"], row["next_day"], row["rpe"]) == ("none", "none", "none", 4)
    assert _last_decision(store, "ben")["verdict"] != "STAY"
    page = client.get(r.headers["location"]).text
    assert "your answers are saved" in page and "(answered)" in page


@pytest.mark.parametrize("field,value,message", [
    ("pain_during", "11", "pain during"),
    ("warmup", "maybe", "warmup"),
    ("rpe", "-1", "rpe"),
    ("swelling", "perhaps", "swelling"),
    ("date", "2026-01-01", "last 14 days"),
    ("date", "not a day", "day of the session"),
])
def test_bad_values_are_explained_and_nothing_is_stored(store, field, value, message):
    client = _client(store)
    link = _link(store, "ben")
    csrf = _csrf(client.get(link).text)
    before = store.table("checkins", "ben")
    r = client.post(link, data={**ALL_CLEAR, field: value, "note": EVIL, "csrf": csrf})
    assert r.status_code == 400
    assert message in r.text.lower()
    assert EVIL not in r.text and "&lt;script&gt;" in r.text  # the note comes back, escaped
    assert store.table("checkin_submissions", "ben").empty
    pd.testing.assert_frame_equal(store.table("checkins", "ben"), before)


@pytest.mark.parametrize("token", ["nope", "x" * 500, "%00", "..%2f..%2fetc"])
def test_unknown_tokens_get_nothing(store, token):
    client = _client(store)
    r = client.get(f"/a/{token}")
    assert r.status_code == 404 and ("does not work" in r.text or "Not Found" in r.text)
    assert "<h1>Sorry</h1>" in r.text
    assert "Ben" not in r.text and "Ana" not in r.text
    assert client.post(f"/a/{token}", data=ALL_CLEAR).status_code == 404
    assert store.table("checkin_submissions").empty


def test_rotated_and_revoked_links_stop_working(store):
    from pipeline.access import revoke_links

    client = _client(store)
    old, new = _link(store, "ana"), _link(store, "ana")
    assert client.get(old).status_code == 404 and client.get(new).status_code == 200
    assert revoke_links(store, "ana") == 1
    assert client.get(new).status_code == 404
    assert store.table("web_tokens", "ana")["token_sha256"].str.len().eq(64).all()
    assert new.removeprefix("/a/") not in set(store.table("web_tokens")["token_sha256"])


def test_links_expire(store):
    from pipeline.access import athlete_for_token, issue_link_token
    from pipeline.errors import ArgumentError

    token = issue_link_token(store, "ana", valid_days=30)
    now = pd.Timestamp.now(tz="UTC")
    assert athlete_for_token(store, token, now=now + pd.Timedelta(days=29)) == "ana"
    assert athlete_for_token(store, token, now=now + pd.Timedelta(days=31)) is None
    expires = store.table("web_tokens", "ana")["expires_utc"].iloc[0]
    assert pd.Timedelta(days=29) < expires - now <= pd.Timedelta(days=30)
    assert _client(store).get(f"/a/{token}").status_code == 200
    with pytest.raises(ArgumentError):
        issue_link_token(store, "ana", valid_days=0)


def test_a_form_without_its_csrf_token_is_refused(store):
    client = _client(store)
    link = _link(store, "ben")
    client.get(link)
    assert client.post(link, data=ALL_CLEAR).status_code == 403
    other = _client(store)  # a token from another browser's session
    stolen = _csrf(other.get(link).text)
    assert client.post(link, data={**ALL_CLEAR, "csrf": stolen}).status_code == 403
    assert store.table("checkin_submissions").empty


def test_one_athletes_link_cannot_answer_for_another(store):
    client = _client(store)
    link = _link(store, "ben")
    csrf = _csrf(client.get(link).text)
    client.post(link, data={**ALL_CLEAR, "athlete_id": "ana", "csrf": csrf})
    assert set(store.table("checkin_submissions")["athlete_id"]) == {"ben"}


# -- the coach pages ----------------------------------------------------------------------

def _logged_in(store, **kw):
    from pipeline.access import add_user

    add_user(store, "coach", PASSWORD)
    client = _client(store, **kw)
    csrf = _csrf(client.get("/login").text)
    r = client.post("/login", data={"name": "coach", "password": PASSWORD, "csrf": csrf})
    assert r.status_code == 303
    return client


@pytest.mark.parametrize("path", ["/", "/report/2026-W16/index.html", "/report/2026-W16/ben.html",
                                  "/athlete/ben"])
def test_coach_pages_need_a_log_in(store, path):
    r = _client(store).get(path)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_wrong_passwords_are_refused_and_hashes_are_argon2(store):
    from pipeline.access import add_user

    add_user(store, "coach", PASSWORD)
    client = _client(store)
    csrf = _csrf(client.get("/login").text)
    for name, password in (("coach", "wrong password"), ("nobody", PASSWORD), ("coach", "")):
        r = client.post("/login", data={"name": name, "password": password, "csrf": csrf})
        assert r.status_code == 401 and "not right" in r.text
    assert client.get("/athlete/ben").status_code == 303
    assert store.table("web_users")["password_hash"].str.startswith("$argon2id$").all()
    assert PASSWORD not in store.table("web_users").to_string()


def test_the_coach_sees_the_squad_reports_and_timeline(store):
    client = _logged_in(store)
    r = client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/report/2026-W16/index.html"
    squad = client.get(r.headers["location"])
    assert squad.status_code == 200 and "Ben Okafor" in squad.text and "ACWR" in squad.text
    week = client.get("/report/2026-W16/ben.html")
    assert week.status_code == 200 and 'href="/athlete/ben"' in week.text
    timeline = client.get("/athlete/ben")
    assert timeline.status_code == 200 and "check-in" in timeline.text and "STAY" in timeline.text
    for bad in ("/report/2026-W99/index.html", "/report/2026-W16/nobody.html",
                "/report/2026-W16/..%2F..%2Fcomeback.db", "/athlete/nobody"):
        assert client.get(bad).status_code == 404, bad


def test_hostile_notes_are_escaped_on_the_coach_pages(store):
    client = _client(store)
    link = _link(store, "ben")
    csrf = _csrf(client.get(link).text)
    assert client.post(link, data={**ALL_CLEAR, "note": EVIL, "csrf": csrf}).status_code == 303
    assert store.table("checkins", "ben").set_index("date").loc[
        pd.Timestamp("2026-04-17"), "note"] == EVIL  # stored as typed
    coach = _logged_in(store)
    html = coach.get("/athlete/ben").text
    assert EVIL not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_a_review_is_acknowledged_from_the_page(store):
    assert store.table("next_sessions", "cara").iloc[0]["status"] == "review"
    anonymous = _client(store)
    assert anonymous.post("/athlete/cara/review", data={"note": "ok"}).status_code == 303
    client = _logged_in(store)
    page = client.get("/athlete/cara").text
    assert "Acknowledge" in page
    assert client.post("/athlete/cara/review", data={"note": "seen"}).status_code == 403
    r = client.post("/athlete/cara/review", data={"note": "Seen in clinic: continue " + EVIL,
                                                  "csrf": _csrf(page)})
    assert r.status_code == 303
    assert store.table("next_sessions", "cara").iloc[0]["status"] != "review"
    review = store.table("reviews", "cara").iloc[-1]
    assert review["by"] == "coach" and review["note"].startswith("Seen in clinic")
    again = client.post("/athlete/cara/review", data={"note": "", "csrf": _csrf(page)})
    assert again.status_code == 409  # nothing left to acknowledge


def test_log_out_needs_the_form_and_ends_the_session(store):
    client = _logged_in(store, secure_cookies=True)
    page = client.get("/athlete/ben")
    assert page.status_code == 200
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf": _csrf(page.text)}).status_code == 303
    assert client.get("/athlete/ben").status_code == 303


def test_secure_cookies_are_marked_secure(store):
    r = _client(store, secure_cookies=True).get("/login")
    assert "secure" in r.headers["set-cookie"].lower()


# -- the web app and the nightly ingest at the same time ----------------------------------

INGEST = """
import sys
from pathlib import Path
from pipeline.athletes import read_roster
from pipeline.inbox import iter_exports
from pipeline.ingest import ingest_items
from pipeline.recompute import update_athletes
from pipeline.store import Store
inbox, root = Path(sys.argv[1]), sys.argv[2]
store = Store(root)
roster = read_roster(inbox / "athletes.csv")
items = list(iter_exports(inbox))
for i in range(0, len(items), 3):  # many small transactions, as a long night has
    ingest_items(store, items[i:i + 3], roster)
update_athletes(store, inbox, roster)
print(len(items))
"""


def test_checkins_sent_while_an_ingest_runs_are_all_kept(tmp_path):
    """A nightly ingest in another process writes ana's files while she sends six check-ins
    (each recomputing her): every session and every check-in is in the store after."""
    from pipeline.store import Store

    inbox = tmp_path / "inbox"
    (inbox / "ana").mkdir(parents=True)
    shutil.copy(INBOX / "athletes.csv", inbox)
    files = sorted((INBOX / "ana").glob("2026-02-*running.fit"))
    for f in files:
        shutil.copy(f, inbox / "ana")
    store = Store(tmp_path / "store")
    from flows.web import create_app

    client = fastapi_testclient.TestClient(
        create_app(store, inbox, today=lambda: dt.date(2026, 2, 20)), follow_redirects=False)
    link = _link(store, "ana")
    csrf = _csrf(client.get(link).text)
    days = [f"2026-02-{d:02d}" for d in range(14, 20)]
    ingest = subprocess.Popen([sys.executable, "-c", INGEST, str(inbox), str(store.root)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    codes = []
    for day in days:
        codes.append(client.post(link, data={**ALL_CLEAR, "date": day, "csrf": csrf}).status_code)
    out, err = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, err
    assert codes == [303] * len(days)
    sessions = store.table("sessions", "ana")
    assert len(sessions) == len(files) == int(out.strip())
    assert sorted(store.table("checkin_submissions", "ana")["date"].dt.strftime("%Y-%m-%d")) == days
    from pipeline.athletes import read_roster
    from pipeline.recompute import recompute, refresh_checkins

    refresh_checkins(store, inbox, ["ana"])
    recompute(store, ["ana"], read_roster(inbox / "athletes.csv"))
    answered = set(store.table("checkins", "ana")["date"].dt.strftime("%Y-%m-%d"))
    assert set(days) <= answered
    assert len(store.table("decisions", "ana")) == len(sessions)


# -- the real server and a real phone-sized browser ---------------------------------------

@pytest.fixture
def live_server(store):
    """The app served by uvicorn on a free loopback port, in a thread."""
    import socket

    import uvicorn

    from flows.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store, INBOX, today=lambda: TODAY),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_an_athlete_checks_in_from_a_phone_sized_chromium(store, live_server, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt)")
    playwright = pytest.importorskip("playwright.sync_api")
    assert _last_decision(store, "ben")["verdict"] == "STAY"
    link = live_server + _link(store, "ben")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, device_scale_factor=2)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(link)
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(tmp_path / "checkin-form.png"), full_page=True)
        for field in ("warmup", "during", "next_day"):
            page.check(f'input[name="{field}"][value="none"]')
        page.check('input[name="pain_during"][value="1"]')
        page.check('input[name="pain_after"][value="1"]')
        page.check('input[name="pain_next_morning"][value="0"]')
        page.check('input[name="swelling"][value="no"]')
        page.check('input[name="rpe"][value="4"]')
        page.fill('textarea[name="note"]', "legs fine")
        page.click("button[type=submit]")
        page.wait_for_selector("p.ok")
        page.screenshot(path=str(tmp_path / "checkin-saved.png"), full_page=True)
        saved = page.inner_text("p.ok")
        browser.close()
    assert errors == []
    assert width <= 390  # one column on a phone, nothing to scroll sideways
    assert "saved" in saved
    row = store.table("checkins", "ben").set_index("date").loc[pd.Timestamp("2026-04-17")]
    assert (row["next_day"], row["note"]) == ("none", "legs fine")
    assert _last_decision(store, "ben")["verdict"] != "STAY"
    assert (tmp_path / "checkin-saved.png").stat().st_size > 5_000


# -- the commands -------------------------------------------------------------------------

def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=120)


def test_web_link_and_web_user_commands(tmp_path):
    from pipeline.access import athlete_for_token, verify_user
    from pipeline.store import Store

    root = str(tmp_path / "store")
    r = _cli("web-link", "ana", "--store", root, "--base-url", "https://club.example/",
             "--days", "7")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url.startswith("https://club.example/a/")
    assert athlete_for_token(Store(root), url.rsplit("/", 1)[1]) == "ana"
    later = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=8)
    assert athlete_for_token(Store(root), url.rsplit("/", 1)[1], now=later) is None
    r = _cli("web-link", "ana", "--store", root, "--revoke")
    assert r.returncode == 0 and "1 link(s) revoked" in r.stdout
    assert athlete_for_token(Store(root), url.rsplit("/", 1)[1]) is None
    r = _cli("web-link", "nobody", "--store", root)
    assert r.returncode == 2 and "not in the roster" in r.stderr
    r = _cli("web-user", "add", "coach", "--store", root, env={"COMEBACK_WEB_PASSWORD": PASSWORD})
    assert r.returncode == 0, r.stderr
    assert verify_user(Store(root), "coach", PASSWORD)
    assert not verify_user(Store(root), "coach", PASSWORD + "!")
    r = _cli("web-user", "add", "coach2", "--store", root, env={"COMEBACK_WEB_PASSWORD": "short"})
    assert r.returncode == 2 and "10 characters" in r.stderr


def test_the_web_command_serves_on_loopback(tmp_path):
    import os
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "web", str(INBOX), "--store",
                             str(tmp_path / "store"), "--port", str(port)], cwd=ROOT,
                            env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert r.status_code == 200 and 'name="password"' in r.text
        assert httpx.get(f"http://127.0.0.1:{port}/athlete/ana", follow_redirects=False,
                         timeout=2).status_code == 303
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        if listening:
            ours = [line for line in listening.splitlines() if f":{port} " in line]
            assert ours and all("127.0.0.1:" in line for line in ours)
        assert (tmp_path / "store" / "web_secret").stat().st_mode & 0o077 == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_merge_rule_latest_wins_and_both_are_kept(tmp_path):
    """A day answered in checkins.csv and on the page: the later one counts; an unchanged
    file row keeps its first-seen time when the file is rewritten for another day."""
    import os

    from pipeline.checkins import parse_checkins
    from pipeline.recompute import refresh_checkins
    from pipeline.store import Store

    inbox = tmp_path / "inbox"
    (inbox / "ana").mkdir(parents=True)
    shutil.copy(INBOX / "athletes.csv", inbox)
    csv = inbox / "ana" / "checkins.csv"
    header = "date,warmup,during,next_day,pain_during,rpe\n"
    csv.write_text(header + "2026-02-02,none,none,,1,3\n")
    os.utime(csv, ns=(1_770_000_000 * 10**9,) * 2)  # 2026-02-02 02:40 UTC
    store = Store(tmp_path / "store")
    refresh_checkins(store, inbox, ["ana"])

    def page(day: str, next_day: str, at: str) -> None:  # as the page stores it
        sent = parse_checkins(pd.DataFrame([{
            "athlete_id": "ana", "date": day, "warmup": "none", "during": "none",
            "next_day": next_day, "pain_during": "2", "rpe": "4"}]), source="page").checkins
        store.add_checkin_submission(sent.assign(submitted_utc=pd.Timestamp(at, tz="UTC")))

    def effective(day: str) -> dict:
        refresh_checkins(store, inbox, ["ana"])
        return store.table("checkins", "ana").set_index("date").loc[pd.Timestamp(day)].to_dict()

    page("2026-02-02", "muscular", "2026-02-03 08:00")
    assert effective("2026-02-02")["next_day"] == "muscular"  # the page is later than the file
    csv.write_text(header + "2026-02-02,none,none,,1,3\n2026-02-04,none,none,none,0,3\n")
    assert effective("2026-02-02")["next_day"] == "muscular"  # row unchanged: keeps its time
    csv.write_text(header + "2026-02-02,none,none,non_muscular,1,3\n2026-02-04,none,none,none,0,3\n")
    assert effective("2026-02-02")["next_day"] == "non_muscular"  # edited after: the file wins
    assert len(store.table("checkin_submissions", "ana")) == 1  # the page's answer is kept
    assert effective("2026-02-04")["pain_during"] == 0


def test_answers_sent_after_the_run_and_the_next_morning_make_one_checkin(store):
    """The during-run answers right after the run, the next-day answer the morning after:
    the second form leaves the first answers empty and they stay."""
    client = _client(store)
    link = _link(store, "ben")
    csrf = _csrf(client.get(link).text)
    day = ALL_CLEAR["date"]
    for answers in ({"warmup": "none", "during": "none", "pain_during": "2", "rpe": "4",
                     "note": "felt fine"},
                    {"next_day": "muscular", "pain_next_morning": "1"}):
        r = client.post(link, data={"csrf": csrf, "date": day, **answers})
        assert r.status_code == 303
    row = store.table("checkins", "ben").set_index("date").loc[pd.Timestamp(day)]
    assert (row["warmup"], row["during"], row["next_day"]) == ("none", "none", "muscular")
    assert (row["pain_during"], row["pain_next_morning"], row["rpe"]) == (2, 1, 4)
    assert row["note"] == "felt fine"
    assert len(store.table("checkin_submissions", "ben")) == 2
    client.post(link, data={"csrf": csrf, "date": day, "during": "returned"})  # a correction
    row = store.table("checkins", "ben").set_index("date").loc[pd.Timestamp(day)]
    assert (row["during"], row["next_day"]) == ("returned", "muscular")
