"""``comeback``: the command line. Every user error is one clear line and a non-zero exit."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.errors import ComebackError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Comeback: return-to-run analysis for coaches and physiotherapists.")

StoreOpt = Annotated[str | None, typer.Option(
    "--store", help="Store folder (default: $COMEBACK_STORE or ./.comeback).")]
UrlOpt = Annotated[str | None, typer.Option(
    "--database-url", envvar="COMEBACK_DATABASE_URL",
    help="SQLAlchemy URL of a PostgreSQL database instead of the embedded SQLite.")]
TABLE_NAMES = ("files", "sessions", "segments", "checkins", "daily_load", "cross_training_daily",
               "readiness", "readiness_readings", "decisions", "flags", "next_sessions",
               "reviews", "checkin_problems", "checkin_submissions", "alerts")


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _inbox(path: str) -> Path:
    inbox = Path(path)
    if not (inbox / "athletes.csv").is_file():
        raise ComebackError(f"{inbox}: not an inbox (expected {inbox / 'athletes.csv'})")
    return inbox


def _run_nightly(inbox: Path, store: str | None, url: str | None, workers: int,
                 dask_address: str | None) -> dict[str, Any]:
    _quiet_prefect()
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.nightly import nightly

    runner: Any = ThreadPoolTaskRunner(max_workers=2)  # one batch writes while one measures
    if dask_address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=dask_address)
        workers = 1  # the cluster's workers are the parallelism
    return nightly.with_options(task_runner=runner)(str(inbox), store, url,
                                                    progress=sys.stderr.isatty(), workers=workers)


def _open_store(store: str | None, url: str | None) -> Any:
    """The store, without importing Prefect (the web commands answer in a second)."""
    from pipeline.store import DEFAULT_STORE, Store

    return Store(store or os.environ.get("COMEBACK_STORE", str(DEFAULT_STORE)), url)


def _print_summary(summary: dict[str, Any]) -> None:
    for f in summary["files"]:
        if f["status"] != "ingested":
            typer.echo(f"  {f['status']:<11} {f['path']}: {f['reason']}")
    typer.echo(f"{summary['ingested']} ingested, {summary['duplicates']} duplicates, "
               f"{summary['quarantined']} quarantined, {summary['unchanged']} unchanged since "
               f"an earlier night; store: {summary['store']}")
    for p in summary.get("checkin_problems", []):
        typer.echo(f"  check-in rejected: {p['source']} line {p['line']} {p['column']}: {p['reason']}")
    for p in summary.get("roster_problems", []):
        typer.echo(f"  roster setting refused: {p['source']} line {p['line']} {p['column']} "
                   f"{p['value']!r}: {p['reason']}")


@app.command()
def ingest(inbox: str, store: StoreOpt = None, database_url: UrlOpt = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
           workers: Annotated[int, typer.Option(
               help="Processes measuring files on this machine (1 = in the flow's process; "
                    "a night with fewer than 300 new files always uses 1).")] = 2,
           dask_address: Annotated[str | None, typer.Option(
               help="Run the batch tasks on a Dask cluster (tcp://host:8786).")] = None) -> None:
    """Run the nightly flow once on INBOX: ingest what is new and recompute what changed."""
    summary = _run_nightly(_inbox(inbox), store, database_url, workers, dask_address)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        _print_summary(summary)


def _latest_week(store: str | None, url: str | None) -> str:
    from flows.nightly import default_store_root, open_store

    sessions = open_store(store or default_store_root(), url).table("sessions")
    if sessions.empty:
        raise ComebackError("the store holds no session yet: run `comeback ingest INBOX` first")
    year, week, _ = sessions["local_date"].max().isocalendar()
    return f"{year}-W{week:02d}"


@app.command()
def report(week: Annotated[str | None, typer.Option(help="ISO week YYYY-Www (default: the last full week).")] = None,
           store: StoreOpt = None, database_url: UrlOpt = None,
           out: Annotated[str, typer.Option(help="Output folder.")] = "reports",
           inbox: Annotated[str | None, typer.Option(help="Inbox, for athletes' names.")] = None) -> None:
    """Write the weekly coach report (HTML) and print the squad overview's path."""
    _quiet_prefect()
    from flows.weekly_report import weekly_report

    if week is not None:
        try:
            dt.date.fromisoformat(f"{week}-1")
        except ValueError as exc:
            raise ComebackError(f"--week {week!r}: expected an ISO week such as 2026-W09") from exc
    index = weekly_report(week, store, out, inbox, database_url)
    typer.echo(f"squad overview: {Path(index).resolve()}")


@app.command()
def run(inbox: Annotated[str, typer.Argument(help="Inbox folder.")] = "data/sample/inbox",
        store: StoreOpt = None, database_url: UrlOpt = None,
        out: Annotated[str, typer.Option(help="Report folder.")] = "reports") -> None:
    """The main job: ingest INBOX, recompute, and write the report of the latest week with data."""
    path = _inbox(inbox)
    summary = _run_nightly(path, store, database_url, 2, None)
    _print_summary(summary)
    status(store, database_url)
    week = _latest_week(store, database_url)
    from flows.weekly_report import weekly_report

    index = weekly_report(week, store, out, str(path), database_url)
    typer.echo(f"squad overview ({week}): {Path(index).resolve()}")


@app.command()
def status(store: StoreOpt = None, database_url: UrlOpt = None) -> None:
    """One screen on the squad: stage, latest decision, open alerts, next session."""
    import pandas as pd

    from flows.nightly import default_store_root, open_store

    st = open_store(store or default_store_root(), database_url)
    files, sessions = st.table("files"), st.table("sessions")
    decisions, flags, nxt = st.table("decisions"), st.table("flags"), st.table("next_sessions")
    counts = files["status"].value_counts().to_dict() if len(files) else {}
    typer.echo(f"store {Path(st.root).resolve()}: {len(sessions)} sessions; files "
               + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    typer.echo(f"{'athlete':<10} {'stage':>5}  {'latest decision':<26} {'alerts':>6}  next session")
    for aid in sorted(set(decisions["athlete_id"])):
        d = decisions[decisions["athlete_id"] == aid].sort_values("date").iloc[-1]
        alerts = int(((flags["athlete_id"] == aid) & (flags["severity"] == "alert")).sum())
        n = nxt[nxt["athlete_id"] == aid]
        when = (f"stage {n.iloc[0]['stage']:.0f} from {pd.Timestamp(n.iloc[0]['date']).date()}" if len(n)
                and n.iloc[0]["status"] != "undecided" else "undecided")
        if len(n) and n.iloc[0]["phase"] == "post_programme":
            when = (f"post-programme, {n.iloc[0]['run_days_per_week']} run days a week, from "
                    f"{pd.Timestamp(n.iloc[0]['date']).date()}")
        if len(n) and n.iloc[0]["status"] == "review":
            when += f" (REVIEW: acknowledge with `comeback review {aid} --acknowledge`)"
        typer.echo(f"{aid:<10} {d['stage_after']:>5}  {d['date'].date()} {d['verdict']:<15} "
                   f"{alerts:>6}  {when}")
        if isinstance(d.get("explanation"), str):
            typer.echo(f"{'':<10} {d['explanation']}")


@app.command()
def export(table: str, store: StoreOpt = None, database_url: UrlOpt = None,
           athlete: Annotated[str | None, typer.Option(help="Only this athlete.")] = None,
           fmt: Annotated[str, typer.Option("--format", help="csv, parquet or json.")] = "csv",
           out: Annotated[str | None, typer.Option(help="File to write (default: stdout).")] = None) -> None:
    """Export a table: files, sessions, segments, checkins, daily_load, cross_training_daily,
    readiness, readiness_readings, decisions, flags, next_sessions, reviews (clinician-review
    acknowledgements), checkin_problems."""
    from flows.nightly import default_store_root, open_store

    if table not in TABLE_NAMES:
        raise ComebackError(f"unknown table {table!r}; choose one of {', '.join(TABLE_NAMES)}")
    if fmt not in ("csv", "parquet", "json"):
        raise ComebackError(f"unknown format {fmt!r}; choose csv, parquet or json")
    frame = open_store(store or default_store_root(), database_url).table(table, athlete)
    if fmt == "parquet":
        if not out:
            raise ComebackError("--format parquet needs --out FILE")
        frame.to_parquet(out, index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", date_format="iso", indent=1)
        Path(out).write_text(text) if out else typer.echo(text)
    else:
        Path(out).write_text(frame.to_csv(index=False)) if out else typer.echo(
            frame.to_csv(index=False), nl=False)


_CHOICES = {"warmup": ("none", "resolved", "persisted"), "during": ("none", "returned", "new"),
            "next_day": ("none", "muscular", "non_muscular"), "swelling": ("yes", "no"),
            "stiffness": ("yes", "no")}


@app.command()
def checkin(athlete_id: str, inbox: Annotated[str, typer.Option(help="Inbox folder.")],
            date: Annotated[str | None, typer.Option(help="Session date YYYY-MM-DD (default today).")] = None,
            warmup: Annotated[str | None, typer.Option(help="none | resolved | persisted")] = None,
            during: Annotated[str | None, typer.Option(help="none | returned | new")] = None,
            next_day: Annotated[str | None, typer.Option(help="none | muscular | non_muscular")] = None,
            swelling: Annotated[str | None, typer.Option(help="Swelling at the injured area: yes | no")] = None,
            stiffness: Annotated[str | None, typer.Option(help="Stiffness at the injured area: yes | no")] = None,
            rpe: Annotated[float | None, typer.Option(help="Session effort, CR-10 (0–10).")] = None,
            note: Annotated[str | None, typer.Option()] = None) -> None:
    """Record one check-in (asks for what the options do not give) into the athlete's checkins.csv."""
    import csv

    from pipeline.checkins import CHECKIN_COLUMNS, parse_checkins

    path = _inbox(inbox) / athlete_id / "checkins.csv"
    if not path.parent.is_dir():
        raise ComebackError(f"{path.parent}: no folder for athlete {athlete_id!r}")
    answers: dict[str, Any] = {"warmup": warmup, "during": during, "next_day": next_day,
                               "swelling": swelling, "stiffness": stiffness}
    interactive = sys.stdin.isatty()
    for key, choices in _CHOICES.items():
        if answers[key] is None and interactive:
            got = typer.prompt(f"{key} ({' / '.join(choices)}; empty = not answered)",
                               default="", show_default=False)
            answers[key] = got or None
    row = {"athlete_id": athlete_id, "date": date or dt.date.today().isoformat(), **answers,
           "rpe": rpe, "note": note}
    import pandas as pd

    result = parse_checkins(pd.DataFrame([{k: (None if v is None else str(v)) for k, v in row.items()}]))
    if len(result.problems):
        p = result.problems.iloc[0]
        raise ComebackError(f"check-in not saved: {p['column']} {p['value']!r} {p['reason']}")
    columns = [c for c in CHECKIN_COLUMNS if c != "pre_session"]
    existing: list[dict[str, str]] = []
    if path.exists():
        with path.open(newline="", encoding="utf-8-sig") as fh:
            existing = list(csv.DictReader(fh))
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as fh:  # rewrite with the full header, keep every row
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(existing)
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    tmp.replace(path)
    typer.echo(f"saved check-in for {athlete_id} on {row['date']} to {path}")


@app.command()
def review(athlete_id: str,
           acknowledge: Annotated[bool, typer.Option("--acknowledge", help="Acknowledge the open review: the programme continues.")] = False,
           note: Annotated[str | None, typer.Option(help="What was decided (stored with the acknowledgement).")] = None,
           by: Annotated[str | None, typer.Option(help="Who acknowledges (a clinician's name).")] = None,
           inbox: Annotated[str, typer.Option(help="Inbox folder (for the roster).")] = "data/sample/inbox",
           store: StoreOpt = None, database_url: UrlOpt = None) -> None:
    """Show an athlete's clinician review, or acknowledge it (--acknowledge) so the programme
    continues from the current stage; the athlete is recomputed at once."""
    from flows.nightly import default_store_root, open_store
    from pipeline.athletes import read_roster
    from pipeline.recompute import acknowledge_review

    st = open_store(store or default_store_root(), database_url)
    if acknowledge:
        path = _inbox(inbox)
        result = acknowledge_review(st, athlete_id, read_roster(path / "athletes.csv"), by=by,
                                    note=note, program_dir=path)
        first = result.next_sessions.iloc[0]
        typer.echo(f"review acknowledged for {athlete_id}"
                   + (f" by {by}" if by else "") + f"; next: {first['prescription']}")
        return
    nxt = st.table("next_sessions", athlete_id)
    if not len(nxt):
        raise ComebackError(f"no evaluation stored for athlete {athlete_id!r}")
    typer.echo(f"{athlete_id}: {nxt.iloc[0]['status']}. {nxt.iloc[0]['why']}")
    for r in st.table("reviews", athlete_id).to_dict("records"):
        typer.echo(f"  acknowledged {r['acknowledged_utc']:%Y-%m-%d %H:%M} UTC"
                   + (f" by {r['by']}" if r["by"] else "") + (f": {r['note']}" if r["note"] else ""))


@app.command()
def serve(inbox: str, cron: Annotated[str, typer.Option(help="When to run (cron).")] = "30 2 * * *",
          timezone: Annotated[str, typer.Option(help="Timezone of the cron.")] = "UTC",
          store: StoreOpt = None, database_url: UrlOpt = None) -> None:
    """Run the nightly flow on a schedule (needs a running `prefect server start`)."""
    if not os.environ.get("PREFECT_API_URL"):
        raise ComebackError("set PREFECT_API_URL to a running Prefect server "
                            "(start one with: prefect server start); see README 'Nightly schedule'")
    from prefect.schedules import Cron

    from flows.nightly import nightly

    nightly.serve(name="comeback-nightly", schedules=[Cron(cron, timezone=timezone)],
                  parameters={"inbox": str(Path(inbox).resolve()),
                              "store": str(Path(store).resolve()) if store else None,
                              "database_url": database_url})


@app.command()
def reprocess(inbox: str, store: StoreOpt = None, database_url: UrlOpt = None) -> None:
    """Recompute every activity from the raw archive (after an algorithm improved)."""
    _quiet_prefect()
    from flows.nightly import reprocess as reprocess_flow

    result = reprocess_flow(str(_inbox(inbox)), store, database_url)
    typer.echo(f"reprocessed {result['reprocessed']} files")


@app.command()
def web(inbox: Annotated[str, typer.Argument(help="Inbox folder (roster, programmes).")] = "data/sample/inbox",
        store: StoreOpt = None, database_url: UrlOpt = None,
        host: Annotated[str, typer.Option(help="Address to bind (loopback unless a proxy needs more).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8765,
        secure_cookies: Annotated[bool, typer.Option(
            "--secure-cookies", help="Mark the session cookie Secure (when served behind TLS).")] = False) -> None:
    """Serve the athletes' check-in pages and the coach pages (see README 'Running it for a club')."""
    import uvicorn

    from flows.web import create_app

    st = _open_store(store, database_url)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving on {host}, not loopback: put it behind a TLS proxy", err=True)
    uvicorn.run(create_app(st, _inbox(inbox), secure_cookies=secure_cookies), host=host,
                port=port, log_level="warning", proxy_headers=True, server_header=False)


@app.command("web-link")
def web_link(athlete_id: str,
             base_url: Annotated[str, typer.Option(help="Address the athletes reach the app at.")] = "http://127.0.0.1:8765",
             revoke: Annotated[bool, typer.Option("--revoke", help="Stop the athlete's link working; issue no new one.")] = False,
             days: Annotated[int | None, typer.Option(min=1, help="Days the new link works [default: 120].")] = None,
             inbox: Annotated[str, typer.Option(help="Inbox folder (for the roster).")] = "data/sample/inbox",
             store: StoreOpt = None, database_url: UrlOpt = None) -> None:
    """Print a new personal check-in link for an athlete (the previous link stops working)."""
    from pipeline.access import LINK_DAYS, issue_link_token, revoke_links
    from pipeline.athletes import read_roster

    st = _open_store(store, database_url)
    if revoke:
        typer.echo(f"{revoke_links(st, athlete_id)} link(s) revoked for {athlete_id}")
        return
    if athlete_id not in read_roster(_inbox(inbox) / "athletes.csv"):
        raise ComebackError(f"athlete {athlete_id!r} is not in the roster {Path(inbox) / 'athletes.csv'}")
    typer.echo(f"{base_url.rstrip('/')}/a/{issue_link_token(st, athlete_id, days or LINK_DAYS)}")


web_user_app = typer.Typer(help="Coach log-ins for the web pages.", no_args_is_help=True)
app.add_typer(web_user_app, name="web-user")


@web_user_app.command("add")
def web_user_add(name: str, store: StoreOpt = None, database_url: UrlOpt = None,
                 password: Annotated[str | None, typer.Option(
                     envvar="COMEBACK_WEB_PASSWORD", hidden=True,
                     help="Password (default: asked for, twice).")] = None) -> None:
    """Create a coach's log-in, or set a new password for it."""
    from pipeline.access import add_user

    st = _open_store(store, database_url)
    if password is None:
        password = typer.prompt("password (10 characters or more)", hide_input=True,
                                confirmation_prompt=True)
    add_user(st, name, password)
    typer.echo(f"log-in saved for {name.strip()}")


def main() -> None:
    """Console entry point: library errors become one line on stderr and exit code 2."""
    try:
        app()
    except ComebackError as exc:
        typer.echo(f"comeback: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("comeback: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        typer.echo(f"comeback: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
