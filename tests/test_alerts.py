"""Alerts to the coach: which events, once each, over a real local SMTP server and a real
local webhook, and a failing mail server that never fails the night."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SAMPLE

aiosmtpd = pytest.importorskip("aiosmtpd.controller")

NAMES = {"ana": "Ana Weber", "ben": "Ben Okafor", "cara": "Cara Doyle", "dev": "Dev Malik"}
MARCH_5 = pd.Timestamp("2026-03-05 12:00", tz="UTC")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    """A real SMTP server on loopback; ``.port``, ``.handler.messages``."""
    handler = _Inbox()
    controller = aiosmtpd.Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    controller.handler_ = handler
    yield controller
    controller.stop()


@pytest.fixture
def webhook():
    """A real HTTP server on loopback collecting JSON posts."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


@pytest.fixture
def store(sample_store, tmp_path):
    from pipeline.store import Store

    src, _ = sample_store
    shutil.copytree(src.root, tmp_path / "store")
    return Store(tmp_path / "store")


def _settings(**kw):
    from pipeline.alerts import AlertSettings

    return AlertSettings(**kw)


def test_the_safety_events_of_the_last_two_weeks_become_alerts_once(store):
    from pipeline.alerts import collect_alerts

    assert collect_alerts(store, NAMES, now=MARCH_5) > 0
    alerts = store.table("alerts")
    kinds = alerts.groupby("athlete_id")["kind"].apply(set).to_dict()
    assert {"SPIKE_LARGE", "RAN_DURING_REST"} <= kinds["ben"]
    review = alerts[alerts["kind"] == "REVIEW"]
    # cara's review is flagged on 21 and 24 Feb (and every session while open): told once
    assert list(review["athlete_id"]) == ["cara"] and review.iloc[0]["date"] == pd.Timestamp("2026-02-21")
    flags = store.table("flags")
    recent = flags[(flags["date"] >= pd.Timestamp("2026-02-19"))
                   & flags["rule_id"].isin(["SPIKE_LARGE", "RAN_DURING_REST"])]
    assert len(alerts[alerts["kind"].isin(["SPIKE_LARGE", "RAN_DURING_REST"])]) == len(recent)
    spike = alerts[alerts["kind"] == "SPIKE_LARGE"].iloc[0]
    assert spike["message"].startswith("Ben Okafor: ") and "+119%" in spike["message"]
    assert collect_alerts(store, NAMES, now=MARCH_5) == 0  # nothing twice
    collect_alerts(store, NAMES, now=MARCH_5 + pd.Timedelta(days=3))  # the review still open
    assert store.table("alerts")["kind"].eq("REVIEW").sum() == 1
    assert alerts["sent_utc"].isna().all() and alerts["attempts"].eq(0).all()


def test_old_events_are_not_news(store):
    from pipeline.alerts import collect_alerts

    late = pd.Timestamp("2026-12-06", tz="UTC")
    assert collect_alerts(store, NAMES, now=late) == 0


def test_a_missing_next_day_checkin_is_an_alert_after_48_hours(store):
    from pipeline.alerts import collect_alerts

    runs = store.table("sessions", "dev")
    last = runs.sort_values("start_utc").iloc[-1]
    end = last["start_utc"] + pd.Timedelta(seconds=float(last["elapsed_s"]))
    # dev's last run is answered: remove the answer as if it never came
    checkins = store.table("checkins", "dev")
    day = pd.Timestamp(last["local_date"])
    store.replace_for_athletes("checkins", ["dev"], checkins[checkins["date"] != day])

    def missing():
        alerts = store.table("alerts")
        return alerts[(alerts["kind"] == "CHECKIN_MISSING") & (alerts["athlete_id"] == "dev")]

    collect_alerts(store, NAMES, now=end + pd.Timedelta(hours=47))
    assert day not in set(missing()["date"])  # the athlete still has a day to answer
    assert collect_alerts(store, NAMES, now=end + pd.Timedelta(hours=49)) >= 1
    alert = missing().set_index("date").loc[day]
    assert "Dev Malik" in alert["message"] and f"{day:%d %b}" in alert["message"]
    assert collect_alerts(store, NAMES, now=end + pd.Timedelta(hours=60)) == 0


def test_a_red_pain_gate_from_the_page_alerts(store):
    from pipeline.alerts import collect_alerts
    from pipeline.athletes import read_roster
    from pipeline.checkins import parse_checkins
    from pipeline.recompute import recompute, refresh_checkins

    inbox = SAMPLE / "inbox"
    sent = parse_checkins(pd.DataFrame([{
        "athlete_id": "ben", "date": "2026-04-17", "warmup": "none", "during": "returned",
        "next_day": "none", "pain_during": "7"}]), source="page").checkins
    store.add_checkin_submission(sent.assign(submitted_utc=pd.Timestamp.now(tz="UTC")))
    refresh_checkins(store, inbox, ["ben"])
    recompute(store, ["ben"], read_roster(inbox / "athletes.csv"))
    collect_alerts(store, NAMES, now=pd.Timestamp("2026-04-18 09:00", tz="UTC"))
    pain = store.table("alerts", "ben")
    pain = pain[pain["kind"] == "PAIN_GATE"]
    assert len(pain) == 1 and "7/10" in pain.iloc[0]["message"]


def test_alerts_are_mailed_and_posted_once_without_coordinates(store, smtp, webhook):
    from pipeline.alerts import collect_alerts, send_pending

    url, posted = webhook
    new = collect_alerts(store, NAMES, now=MARCH_5)
    settings = _settings(smtp_host="127.0.0.1", smtp_port=smtp.port, mail_to=("coach@club.example",),
                         webhook_url=url, base_url="https://club.example")
    assert send_pending(store, settings) == new
    mails = smtp.handler_.messages
    assert len(mails) == new and len(posted) == new
    assert all(m["To"] == "coach@club.example" for m in mails)
    bodies = [m.get_content() for m in mails]
    assert any("+119%" in b for b in bodies)
    assert all("https://club.example/athlete/" in b for b in bodies)
    for text in bodies + [json.dumps(p) for p in posted]:
        assert "lat" not in text.lower().replace("relat", "") and "52.5" not in text
    assert {p["kind"] for p in posted} >= {"SPIKE_LARGE", "RAN_DURING_REST", "REVIEW"}
    assert store.table("alerts")["sent_utc"].notna().all()
    assert send_pending(store, settings) == 0 and len(mails) == new  # never twice


def test_a_failing_mail_server_keeps_the_alerts_for_the_next_try(store, smtp):
    from pipeline.alerts import AlertDeliveryError, collect_alerts, send_pending

    new = collect_alerts(store, NAMES, now=MARCH_5)
    down = _settings(smtp_host="127.0.0.1", smtp_port=_free_port(), mail_to=("c@x.example",))
    with pytest.raises(AlertDeliveryError, match=f"{new} alert"):
        send_pending(store, down)
    alerts = store.table("alerts")
    assert alerts["sent_utc"].isna().all() and alerts["attempts"].eq(1).all()
    assert alerts["last_error"].str.contains("Connection").all()
    up = _settings(smtp_host="127.0.0.1", smtp_port=smtp.port, mail_to=("c@x.example",))
    assert send_pending(store, up) == new and len(smtp.handler_.messages) == new
    assert store.table("alerts")["attempts"].eq(2).all()


def test_settings_from_a_file_and_the_environment(tmp_path):
    from pipeline.alerts import AlertSettings
    from pipeline.errors import ConfigError

    path = tmp_path / "settings.toml"
    path.write_text('[alerts]\nsmtp_host = "mail.club.example"\nsmtp_port = 587\n'
                    'smtp_starttls = true\nmail_to = ["coach@club.example", "physio@club.example"]\n')
    s = AlertSettings.load(path, env={})
    assert (s.smtp_host, s.smtp_port, s.smtp_starttls, s.mail_to) == (
        "mail.club.example", 587, True, ("coach@club.example", "physio@club.example"))
    s = AlertSettings.load(path, env={"COMEBACK_SMTP_PORT": "2525", "COMEBACK_SMTP_PASSWORD": "pw",
                                      "COMEBACK_ALERT_TO": "a@x.example, b@x.example"})
    assert (s.smtp_port, s.mail_to) == (2525, ("a@x.example", "b@x.example"))
    assert "pw" not in repr(s)
    assert not AlertSettings.load(tmp_path / "absent.toml", env={}).enabled
    path.write_text("[alerts\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        AlertSettings.load(path, env={})
    path.write_text('[alerts]\nsmtp_hots = "typo"\n')
    with pytest.raises(ConfigError, match="smtp_hots"):
        AlertSettings.load(path, env={})


# -- in the nightly flow ------------------------------------------------------------------

def _recent_run_gpx(start: dt.datetime) -> bytes:
    """30 minutes of running at 2.7 m/s, as a GPX a phone app would export."""
    import gpxpy.gpx

    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack()
    segment = gpxpy.gpx.GPXTrackSegment()
    gpx.tracks.append(track)
    track.segments.append(segment)
    for i in range(1800):
        segment.points.append(gpxpy.gpx.GPXTrackPoint(
            52.50 + i * 2.7 / 111_320, 13.40, elevation=35.0,
            time=start + dt.timedelta(seconds=i)))
    return gpx.to_xml().encode()


@pytest.mark.usefixtures("prefect_fast")
def test_the_night_sends_new_alerts_once_and_survives_a_dead_mail_server(tmp_path, smtp,
                                                                          monkeypatch):
    from flows.nightly import nightly

    inbox = tmp_path / "inbox"
    (inbox / "ana").mkdir(parents=True)
    shutil.copy(SAMPLE / "inbox" / "athletes.csv", inbox)
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).replace(microsecond=0)
    (inbox / "ana" / "run.gpx").write_bytes(_recent_run_gpx(start))
    monkeypatch.setenv("COMEBACK_ALERT_RETRY_S", "0")
    monkeypatch.setenv("COMEBACK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("COMEBACK_ALERT_TO", "coach@club.example")

    dead = tmp_path / "dead-store"
    monkeypatch.setenv("COMEBACK_SMTP_PORT", str(_free_port()))
    summary = nightly(str(inbox), str(dead))
    assert summary["ingested"] == 1  # the ingest is not failed by the mail server
    assert summary["alerts"]["new"] == 1 and summary["alerts"]["sent"] == 0
    assert summary["alerts"]["error"]
    from pipeline.store import Store

    pending = Store(dead).table("alerts")
    assert pending.iloc[0]["kind"] == "CHECKIN_MISSING" and pending.iloc[0]["attempts"] == 3

    monkeypatch.setenv("COMEBACK_SMTP_PORT", str(smtp.port))
    live = tmp_path / "store"
    summary = nightly(str(inbox), str(live))
    assert summary["alerts"] == {"new": 1, "sent": 1, "error": None}
    [mail] = smtp.handler_.messages
    assert "no next-day check-in" in mail.get_content() and "52." not in mail.get_content()
    again = nightly(str(inbox), str(live))
    assert again["alerts"] == {"new": 0, "sent": 0, "error": None}
    assert len(smtp.handler_.messages) == 1
    nightly(str(inbox), str(dead))  # the dead store's pending alert goes out when mail works
    assert len(smtp.handler_.messages) == 2
    assert Path(dead).exists()
    bad = tmp_path / "settings.toml"
    bad.write_text("[alerts\n")
    monkeypatch.setenv("COMEBACK_SETTINGS", str(bad))
    summary = nightly(str(inbox), str(live))  # a broken settings file does not fail the night
    assert "not valid TOML" in summary["alerts"]["error"]
