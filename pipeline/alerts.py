"""Alerts that don't wait for Monday: safety events sent to the coach once each.

After a night's recompute :func:`collect_alerts` records new events (a run during a rest
day, a large spike, pain above the gate's alert level, a clinician review opening, no
next-day check-in 48 h after a run) under a key that never repeats, and
:func:`send_pending` delivers what is not sent yet by e-mail (SMTP) and/or a webhook (JSON
POST). A delivery that fails is recorded and retried on the next call; it never touches the
ingest. Messages name the athlete, the rule, the day and the evidence: never a position.
"""

from __future__ import annotations

import os
import smtplib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from pipeline.errors import ComebackError, ConfigError
from pipeline.store import Store
from schemas import Alerts

__all__ = ["AlertDeliveryError", "AlertSettings", "collect_alerts", "send_pending"]

_FLAG_KINDS = {"RAN_DURING_REST": "RAN_DURING_REST", "SPIKE_LARGE": "SPIKE_LARGE",
               "CLINICIAN_REVIEW": "REVIEW"}
CHECKIN_WAIT = pd.Timedelta(hours=48)
MAX_AGE = pd.Timedelta(days=14)  # older events are history, not news (a first night)
_ALERT_COLUMNS = list(Alerts.to_schema().columns)


class AlertDeliveryError(ComebackError):
    """Some alerts could not be delivered; they stay pending and are tried again."""


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go. From the ``[alerts]`` table of a settings file (TOML) and the
    environment (``COMEBACK_SMTP_HOST``, ``COMEBACK_SMTP_PORT``, ``COMEBACK_SMTP_USER``,
    ``COMEBACK_SMTP_PASSWORD``, ``COMEBACK_SMTP_STARTTLS``, ``COMEBACK_ALERT_FROM``,
    ``COMEBACK_ALERT_TO`` (comma-separated), ``COMEBACK_WEBHOOK_URL``,
    ``COMEBACK_BASE_URL``); the environment wins."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    mail_from: str = "comeback@localhost"
    mail_to: tuple[str, ...] = ()
    webhook_url: str | None = None
    base_url: str | None = None  # the coach pages, for a link in each message

    @property
    def enabled(self) -> bool:
        return bool((self.smtp_host and self.mail_to) or self.webhook_url)

    @classmethod
    def load(cls, path: Path | None = None,
             env: Mapping[str, str] | None = None) -> AlertSettings:
        """Settings from ``path`` (if it exists) overridden by the environment.

        Raises:
            ConfigError: the file is not valid TOML or a value has the wrong type.
        """
        values: dict[str, Any] = {}
        if path is not None and path.exists():
            try:
                values = dict(tomllib.loads(path.read_text(encoding="utf-8")).get("alerts", {}))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        env = os.environ if env is None else env
        names = {"smtp_host": "COMEBACK_SMTP_HOST", "smtp_port": "COMEBACK_SMTP_PORT",
                 "smtp_user": "COMEBACK_SMTP_USER", "smtp_password": "COMEBACK_SMTP_PASSWORD",
                 "smtp_starttls": "COMEBACK_SMTP_STARTTLS", "mail_from": "COMEBACK_ALERT_FROM",
                 "mail_to": "COMEBACK_ALERT_TO", "webhook_url": "COMEBACK_WEBHOOK_URL",
                 "base_url": "COMEBACK_BASE_URL"}
        values.update({k: env[v] for k, v in names.items() if env.get(v)})
        unknown = set(values) - set(names)
        if unknown:
            raise ConfigError(f"unknown alert settings: {', '.join(sorted(unknown))}")
        try:
            if isinstance(values.get("mail_to"), str):
                values["mail_to"] = tuple(a.strip() for a in values["mail_to"].split(",")
                                          if a.strip())
            values["mail_to"] = tuple(values.get("mail_to", ()))
            values["smtp_port"] = int(values.get("smtp_port", 25))
            starttls = values.get("smtp_starttls", False)
            values["smtp_starttls"] = (starttls if isinstance(starttls, bool)
                                       else str(starttls).lower() in ("1", "yes", "true"))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"alert settings: {exc}") from exc
        return cls(**values)


def _row(key: str, athlete: str, kind: str, date: Any, message: str,
         now: pd.Timestamp) -> dict[str, object]:
    return {"alert_key": key, "athlete_id": athlete, "kind": kind,
            "date": pd.Timestamp(date).normalize(), "message": message, "created_utc": now,
            "sent_utc": None, "attempts": 0, "last_error": None}


def _flag_alerts(flags: pd.DataFrame, names: Mapping[str, str], since: pd.Timestamp,
                 now: pd.Timestamp) -> list[dict[str, object]]:
    rows = []
    recent = flags[pd.to_datetime(flags["date"]) >= since.tz_localize(None)]
    for f in recent.to_dict("records"):
        rule = str(f["rule_id"])
        kind = _FLAG_KINDS.get(rule) or (
            "PAIN_GATE" if rule == "PAIN_GATE" and f["severity"] == "alert" else None)
        if kind is None:
            continue
        name = names.get(str(f["athlete_id"]), str(f["athlete_id"]))
        rows.append(_row(f"{kind}|{f['athlete_id']}|{pd.Timestamp(f['date']).date()}|"
                         f"{f['activity_id'] or ''}", str(f["athlete_id"]), kind, f["date"],
                         f"{name}: {f['message']} ({f['evidence']})", now))
    return rows


def _review_once(rows: list[dict[str, object]], known: pd.DataFrame,
                 reviews: pd.DataFrame) -> list[dict[str, object]]:
    """One REVIEW alert per review: the flag repeats on every session while the review is
    open, the coach hears of it when it opens (again after an acknowledgement, not before)."""
    acked = (reviews.groupby("athlete_id")["acknowledged_utc"].max().dt.tz_localize(None)
             .dt.normalize() if len(reviews) else pd.Series(dtype="datetime64[ns]"))
    told = known[known["kind"] == "REVIEW"]
    last_told = pd.to_datetime(told["date"]).groupby(told["athlete_id"]).max()
    kept, seen = [], set()
    for row in sorted(rows, key=lambda r: pd.Timestamp(r["date"])):  # type: ignore[arg-type]
        if row["kind"] != "REVIEW":
            kept.append(row)
            continue
        aid, day = row["athlete_id"], pd.Timestamp(row["date"])  # type: ignore[arg-type]
        since, told_on = acked.get(aid), last_told.get(aid)
        acknowledged = since is not None and day < since
        already_told = aid in seen or (told_on is not None and (since is None or told_on >= since))
        if not acknowledged and not already_told:
            seen.add(aid)
            kept.append(row)
    return kept


def _missing_checkins(sessions: pd.DataFrame, checkins: pd.DataFrame,
                      names: Mapping[str, str], since: pd.Timestamp,
                      now: pd.Timestamp) -> list[dict[str, object]]:
    runs = sessions[(sessions["kind"] == "run") & sessions["duplicate_of"].isna()]
    ended = runs["start_utc"] + pd.to_timedelta(runs["elapsed_s"], unit="s")
    due = runs[(ended + CHECKIN_WAIT <= now) & (runs["start_utc"] >= since)]
    answered = set()
    if len(checkins):
        done = checkins[checkins["next_day"].notna()]
        answered = set(zip(done["athlete_id"], pd.to_datetime(done["date"]), strict=True))
    rows = []
    for r in due.to_dict("records"):
        day = pd.Timestamp(r["local_date"]).normalize()
        if (r["athlete_id"], day) in answered:
            continue
        name = names.get(str(r["athlete_id"]), str(r["athlete_id"]))
        rows.append(_row(f"CHECKIN_MISSING|{r['athlete_id']}|{day.date()}", str(r["athlete_id"]),
                         "CHECKIN_MISSING", day,
                         f"{name}: no next-day check-in 48 hours after the run of "
                         f"{day:%a %d %b}; the next decision waits for it.", now))
    return rows


def collect_alerts(store: Store, names: Mapping[str, str] | None = None,
                   now: pd.Timestamp | None = None) -> int:
    """Record the events of the last 14 days that have no alert yet; returns how many."""
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    since = now - MAX_AGE
    names = names or {}
    rows = _review_once(_flag_alerts(store.table("flags"), names, since, now),
                        store.table("alerts"), store.table("reviews"))
    recent = store.table("sessions", start_utc_between=(since, now))
    rows += _missing_checkins(recent, store.table("checkins", sorted(set(recent["athlete_id"]))),
                              names, since, now)
    frame = pd.DataFrame(rows, columns=_ALERT_COLUMNS).drop_duplicates("alert_key")
    return store.add_alerts(frame.astype({"sent_utc": "datetime64[ns, UTC]"}))


def _mail(settings: AlertSettings, alert: Mapping[Any, Any]) -> None:
    msg = EmailMessage()
    msg["Subject"] = f"Comeback: {alert['kind'].replace('_', ' ').lower()} ({alert['athlete_id']})"
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.mail_to)
    link = f"\n\n{settings.base_url.rstrip('/')}/athlete/{alert['athlete_id']}" if settings.base_url else ""
    msg.set_content(f"{alert['message']}{link}\n")
    with smtplib.SMTP(str(settings.smtp_host), settings.smtp_port, timeout=15) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(msg)


def _webhook(settings: AlertSettings, alert: Mapping[Any, Any]) -> None:
    payload = {k: str(alert[k]) for k in ("alert_key", "athlete_id", "kind", "message")}
    payload["date"] = pd.Timestamp(alert["date"]).date().isoformat()
    httpx.post(str(settings.webhook_url), json=payload, timeout=15).raise_for_status()


def send_pending(store: Store, settings: AlertSettings) -> int:
    """Deliver every alert not sent yet; returns how many were sent.

    Raises:
        AlertDeliveryError: some could not be delivered (recorded with the error; they are
            sent on the next call). Nothing is sent twice: an alert is marked sent as soon
            as its delivery succeeded.
    """
    if not settings.enabled:
        return 0
    pending = store.table("alerts")
    pending = pending[pending["sent_utc"].isna()].sort_values(["created_utc", "alert_key"])
    sent, failed = 0, []
    for alert in pending.to_dict("records"):
        try:
            if settings.smtp_host and settings.mail_to:
                _mail(settings, alert)
            if settings.webhook_url:
                _webhook(settings, alert)
        except (OSError, smtplib.SMTPException, httpx.HTTPError) as exc:
            store.mark_alert(str(alert["alert_key"]), sent=False,
                             error=f"{type(exc).__name__}: {exc}")
            failed.append(str(alert["alert_key"]))
            continue
        store.mark_alert(str(alert["alert_key"]), sent=True)
        sent += 1
    if failed:
        raise AlertDeliveryError(f"{len(failed)} alert(s) not delivered, kept for the next try: "
                                 + ", ".join(failed[:5]))
    return sent
