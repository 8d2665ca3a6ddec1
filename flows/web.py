"""The athlete–coach web loop: a check-in page on the athlete's phone and the coach pages.

FastAPI (already installed with Prefect) with Jinja2 templates, autoescaped. It reads and
writes the nightly flow's store (SQLite in WAL mode, so both run at once).

* ``/a/<token>``: one athlete's check-in page, reached by a personal link with a random
  secret (``comeback web-link``); the store keeps only the token's hash.
* ``/login``, ``/``, ``/report/<week>/<page>``, ``/athlete/<id>``: the coach pages, after a
  log-in (``comeback web-user add``; argon2id hashes).

Every form carries a CSRF token bound to the signed session cookie (HttpOnly, SameSite=Lax;
Secure when served behind TLS). Nothing about an athlete is served without a log-in except
that athlete's own page with a working link.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import escape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from pipeline.access import athlete_for_token, verify_user
from pipeline.athletes import read_roster
from pipeline.checkins import parse_checkins
from pipeline.errors import ArgumentError
from pipeline.recompute import acknowledge_review, recompute, refresh_checkins
from pipeline.report import iso_week, render_reports
from pipeline.store import Store
from schemas.checkins import DURING_ANSWERS, NEXT_DAY_ANSWERS, WARMUP_ANSWERS

__all__ = ["create_app", "session_secret"]

# Every value is escaped (Starlette's default escapes only by file extension, and these are .j2).
TEMPLATES = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True))
CHECKIN_DAYS = 14  # how far back an athlete may answer for a session
QUESTIONS = {
    "warmup": ("Pain or soreness in the warm-up?", WARMUP_ANSWERS,
               {"none": "No", "resolved": "Yes, and it went away", "persisted": "Yes, and it stayed"},
               "Soreness you feel in the injured area in the first 10 minutes."),
    "during": ("Pain or soreness during the run?", DURING_ANSWERS,
               {"none": "No", "returned": "It came back", "new": "Yes, new during the run"},
               "Any soreness in the injured area while running."),
    "next_day": ("Sore the next day?", NEXT_DAY_ANSWERS,
                 {"none": "No", "muscular": "Yes, tired muscles", "non_muscular": "Yes, the injury"},
                 "When unsure whether it is muscle soreness, answer \"Yes, the injury\": it is "
                 "the safer answer."),
}


def session_secret(store_root: Path) -> str:
    """The key that signs session cookies: ``$COMEBACK_WEB_SECRET``, else one generated once
    and kept in the store folder, readable by its owner only."""
    if os.environ.get("COMEBACK_WEB_SECRET"):
        return os.environ["COMEBACK_WEB_SECRET"]
    path = store_root / "web_secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def _check_csrf(request: Request, sent: str) -> None:
    expected = request.session.get("csrf")
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise HTTPException(status_code=403, detail="The form expired; reload the page and try again.")


def _plain(value: Any) -> Any:
    return None if not isinstance(value, str | list | dict) and pd.isna(value) else value


def _latest_week(store: Store) -> str:
    sessions = store.table("sessions")
    day = pd.Timestamp(sessions["local_date"].max()).date() if len(sessions) else dt.date.today()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class _Web:
    """What every request needs: the store, the inbox (roster, programmes, check-in files)."""

    def __init__(self, store: Store, inbox: Path, today: Callable[[], dt.date]) -> None:
        self.store = store
        self.inbox = inbox
        self.today = today

    def roster(self) -> dict[str, Any]:
        return read_roster(self.inbox / "athletes.csv")

    def user(self, request: Request) -> str:
        user = request.session.get("user")
        if not user:
            raise HTTPException(status_code=303, headers={"Location": "/login"})
        return str(user)

    def athlete_context(self, aid: str) -> dict[str, Any]:
        """The athlete's recent sessions (to answer for), next session and last decision."""
        today = pd.Timestamp(self.today(), tz="UTC")
        sessions = self.store.table("sessions", aid, start_utc_between=(
            today - pd.Timedelta(days=CHECKIN_DAYS + 1), today + pd.Timedelta(days=2)))
        on_foot = sessions[sessions["kind"].isin(["run", "walk"]) & sessions["duplicate_of"].isna()]
        days = sorted({pd.Timestamp(d).date() for d in on_foot["local_date"]
                       if 0 <= (self.today() - pd.Timestamp(d).date()).days <= CHECKIN_DAYS},
                      reverse=True)
        nxt = self.store.table("next_sessions", aid)
        decisions = self.store.table("decisions", aid).sort_values("date")
        checkins = self.store.table("checkins", aid).set_index("date")
        return {"days": days,
                "answered": {d.date() for d in checkins.index},
                "next": {k: _plain(v) for k, v in nxt.iloc[0].items()} if len(nxt) else None,
                "decision": ({k: _plain(v) for k, v in decisions.iloc[-1].items()}
                             if len(decisions) else None)}

    def refresh(self, aid: str) -> None:
        """Merge the athlete's check-ins and recompute them now, so the page and the coach
        see the new decision at once (the night would otherwise)."""
        roster = self.roster()
        refresh_checkins(self.store, self.inbox, [aid])
        recompute(self.store, [aid], roster, program_dir=self.inbox)


def _checkin_row(aid: str, form: dict[str, str]) -> dict[str, str]:
    fields = ("date", "warmup", "during", "next_day", "pain_during", "pain_after",
              "pain_next_morning", "swelling", "stiffness", "rpe", "note")
    return {"athlete_id": aid, **{f: (form.get(f) or "").strip()[:500] for f in fields}}


def create_app(store: Store, inbox: str | Path, *, secure_cookies: bool = False,
               today: Callable[[], dt.date] = dt.date.today) -> FastAPI:
    """The web application on ``store``, reading the roster and check-in files of ``inbox``.

    Args:
        secure_cookies: Mark the session cookie Secure (when a TLS reverse proxy serves it).
        today: The date the check-in page counts its last 14 days back from.
    """
    web = _Web(store, Path(inbox), today)
    app = FastAPI(title="Comeback", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SessionMiddleware, secret_key=session_secret(store.root),
                       session_cookie="comeback_session", same_site="lax",
                       https_only=secure_cookies, max_age=12 * 3600)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # the link's token stays private
        response.headers["Cache-Control"] = "no-store"
        return response

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, template, {"csrf": _csrf(request), **context},
                                          status_code=status)

    # -- the athlete's page ---------------------------------------------------------------
    def athlete_of(token: str) -> str:
        aid = athlete_for_token(store, token)
        if aid is None:
            raise HTTPException(status_code=404, detail="This link does not work (any more). "
                                "Ask your coach for a new one.")
        return aid

    def checkin_form(request: Request, aid: str, token: str, *, status: int = 200,
                     saved: bool = False, errors: list[str] | None = None,
                     form: dict[str, str] | None = None) -> HTMLResponse:
        athlete = web.roster().get(aid)
        return page(request, "checkin.html.j2", status=status,
                    athlete=athlete.name if athlete else aid, token=token, questions=QUESTIONS,
                    saved=saved, errors=errors or [], form=form or {},
                    **web.athlete_context(aid))

    @app.get("/a/{token}", response_class=HTMLResponse)
    def checkin_page(request: Request, token: str, saved: int = 0) -> HTMLResponse:
        return checkin_form(request, athlete_of(token), token, saved=bool(saved))

    @app.post("/a/{token}", response_class=HTMLResponse)
    async def checkin_submit(request: Request, token: str) -> Response:
        aid = athlete_of(token)
        form = {k: str(v) for k, v in (await request.form()).items()}
        _check_csrf(request, form.get("csrf", ""))
        row = _checkin_row(aid, form)
        errors = []
        try:
            day = dt.date.fromisoformat(row["date"])
            if not 0 <= (web.today() - day).days <= CHECKIN_DAYS:
                errors.append(f"Choose a day from the last {CHECKIN_DAYS} days.")
        except ValueError:
            errors.append("Choose the day of the session.")
        result = parse_checkins(pd.DataFrame([row]), source="check-in page")
        errors += [f"{p['column'].replace('_', ' ')}: {p['reason']}"
                   for p in result.problems.to_dict("records")]
        if errors or result.checkins.empty:
            return checkin_form(request, aid, token, status=400, form=row,
                                errors=errors or ["The answers could not be read."])
        store.add_checkin_submission(result.checkins.assign(
            submitted_utc=pd.Timestamp.now(tz="UTC")))
        web.refresh(aid)
        return RedirectResponse(f"/a/{token}?saved=1", status_code=303)

    # -- the coach pages -------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> HTMLResponse:
        return page(request, "login.html.j2", error=None)

    @app.post("/login", response_class=HTMLResponse)
    def login(request: Request, name: str = Form(""), password: str = Form(""),
              csrf: str = Form("")) -> Response:
        _check_csrf(request, csrf)
        if not verify_user(store, name, password):
            return page(request, "login.html.j2", status=401,
                        error="Name or password is not right.")
        request.session.clear()  # a fresh session (and CSRF token) at log-in
        request.session["user"] = name.strip()
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        _check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def squad(request: Request, week: str | None = None) -> Response:
        web.user(request)
        return RedirectResponse(f"/report/{week or _latest_week(store)}/index.html",
                                status_code=303)

    @app.get("/report/{week}/{name}", response_class=HTMLResponse)
    def report(request: Request, week: str, name: str) -> HTMLResponse:
        web.user(request)
        try:
            iso_week(week)
        except ValueError as exc:
            raise HTTPException(status_code=404, detail="No such week.") from exc
        roster = web.roster()
        aid = name.removesuffix(".html")
        if name != "index.html" and aid not in roster and not len(store.table("sessions", aid)):
            raise HTTPException(status_code=404, detail="No such athlete.")
        pages = render_reports(store, week, {a: r.name for a, r in roster.items()},
                               {a: r.injured_area for a, r in roster.items() if r.injured_area},
                               pages=None if name == "index.html" else aid)
        if name not in pages:
            raise HTTPException(status_code=404, detail="No such page.")
        html = pages[name]
        if name != "index.html":  # the coach's actions, on top of the weekly page
            html = html.replace("<body>", f'<body><p><a href="/athlete/{escape(aid)}">Timeline and '
                                "review for this athlete</a></p>", 1)
        return HTMLResponse(html)

    @app.get("/athlete/{aid}", response_class=HTMLResponse)
    def athlete(request: Request, aid: str) -> HTMLResponse:
        user = web.user(request)
        roster = web.roster()
        if aid not in roster:
            raise HTTPException(status_code=404, detail="No such athlete.")
        checkins = store.table("checkins", aid)
        decisions = store.table("decisions", aid)
        timeline = sorted(
            [{"date": r["date"], "kind": "check-in", "text": _checkin_text(r)}
             for r in checkins.to_dict("records")]
            + [{"date": r["date"], "kind": str(r["verdict"]),
                "text": str(_plain(r["explanation"]) or r["reason"])}
               for r in decisions.to_dict("records")],
            key=lambda e: (e["date"], e["kind"] != "check-in"), reverse=True)
        nxt = store.table("next_sessions", aid)
        return page(request, "athlete.html.j2", user=user, athlete_id=aid,
                    name=roster[aid].name, timeline=timeline[:120],
                    review=len(nxt) and nxt.iloc[0]["status"] == "review",
                    next={k: _plain(v) for k, v in nxt.iloc[0].items()} if len(nxt) else None,
                    week=_latest_week(store), error=None)

    @app.post("/athlete/{aid}/review", response_class=HTMLResponse)
    def acknowledge(request: Request, aid: str, note: str = Form(""),
                    csrf: str = Form("")) -> Response:
        user = web.user(request)
        _check_csrf(request, csrf)
        roster = web.roster()
        if aid not in roster:
            raise HTTPException(status_code=404, detail="No such athlete.")
        try:
            acknowledge_review(store, aid, roster, by=user, note=note.strip()[:1000] or None,
                               program_dir=web.inbox)
        except ArgumentError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return RedirectResponse(f"/athlete/{aid}", status_code=303)

    @app.exception_handler(StarletteHTTPException)  # the router's 404/405 as well as ours
    async def _error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 303:
            return RedirectResponse(exc.headers["Location"] if exc.headers else "/login",
                                    status_code=303)
        return TEMPLATES.TemplateResponse(request, "error.html.j2", {"message": exc.detail},
                                          status_code=exc.status_code)

    return app


def _checkin_text(r: dict[Any, Any]) -> str:
    parts = [f"{k.replace('_', ' ')} {r[k]}" for k in ("warmup", "during", "next_day")
             if isinstance(r.get(k), str)]
    parts += [f"{k.replace('_', ' ')} {r[k]:g}/10" for k in
              ("pain_during", "pain_after", "pain_next_morning") if pd.notna(r.get(k))]
    parts += [k for k in ("swelling", "stiffness") if r.get(k) is True]
    if pd.notna(r.get("rpe")):
        parts.append(f"RPE {r['rpe']:g}")
    if isinstance(r.get("note"), str):
        parts.append(f"note: {r['note']}")
    return ", ".join(parts) or "no answers"
