"""Weekly coach report: one static HTML page per athlete and a squad overview.

Charts are matplotlib figures inlined as SVG (no network needed to view). Every string that
came from an athlete or a file is escaped by Jinja2's autoescaping. No GPS track, map or
coordinate is ever shown.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from pipeline.config import ACWR_BANDS
from pipeline.load import acwr_label
from pipeline.store import Store

__all__ = ["ACWR_INFO_TEXT", "AthleteWeek", "iso_week", "last_full_week", "render_reports",
           "week_totals", "write_reports"]

ACWR_INFO_TEXT = (
    "The acute:chronic ratio describes how this week compares with the previous three. "
    "Research in team sports linked large increases with injuries, but later analyses found "
    "the ratio unreliable for predicting injury, and in recreational runners single-run spikes "
    "mattered more [R4, R11, R24].")
_SEVERITY_RANK = {"alert": 0, "caution": 1, "info": 2}
plt.rcParams.update({"svg.fonttype": "path", "font.size": 8, "axes.spines.top": False,
                     "axes.spines.right": False, "svg.hashsalt": "comeback"})


def iso_week(label: str) -> tuple[dt.date, dt.date]:
    """``YYYY-Www`` → (Monday, Sunday)."""
    monday = dt.date.fromisoformat(f"{label}-1") if "W" in label else dt.date.fromisoformat(label)
    return monday, monday + dt.timedelta(days=6)


def last_full_week(today: dt.date | None = None) -> str:
    """The ISO week before the current one."""
    d = (today or dt.date.today()) - dt.timedelta(days=7)
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def _plain(record: dict[Any, Any] | None) -> dict[str, Any] | None:
    """A row for the template: NaN / NaT become None (a NaN is truthy in Jinja)."""
    if record is None:
        return None
    return {str(k): (None if not isinstance(v, str | list | dict) and pd.isna(v) else v)
            for k, v in record.items()}


def _svg(fig: Any) -> Markup:
    for ax in fig.axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return Markup(text[text.index("<svg"):])


def _charts(daily: pd.DataFrame, sessions: pd.DataFrame, decisions: pd.DataFrame,
            start: dt.date, end: dt.date, cadence_target: float | None = None,
            cross: pd.DataFrame | None = None,
            readiness: pd.DataFrame | None = None) -> dict[str, Markup]:
    lo = pd.Timestamp(end) - pd.Timedelta(days=55)
    d = daily[(daily["date"] >= lo) & (daily["date"] <= pd.Timestamp(end))]
    s = sessions[(sessions["local_date"] <= pd.Timestamp(end)) & (sessions["kind"] == "run")]
    charts: dict[str, Markup] = {}

    fig, ax = plt.subplots(figsize=(6.5, 2.2))
    ax.bar(d["date"], d["run_min"], color="#9bb7d4", label="running minutes (day)")
    if cross is not None and len(cross):
        c = cross[(cross["date"] >= lo) & (cross["date"] <= pd.Timestamp(end))]
        if len(c):  # beside the running bars, never stacked on them: not running load
            ax.bar(c["date"] + pd.Timedelta(hours=10), c["duration_min"], width=0.4,
                   color="#a9d18e", label="cross-training minutes (day, not in the ratio)")
    ax.plot(d["date"], d["acute"], color="#1f4e79", label="acute (7-day total)")
    ax.plot(d["date"], d["chronic"], color="#c55a11", label="chronic (weekly average, 3 weeks before)")
    ax.axvspan(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(hours=23),  # type: ignore[arg-type]
               color="#eee", zorder=0)  # behind the bars, not over them
    ax.set_ylabel("minutes")
    ax.legend(loc="upper left", frameon=False, fontsize=7)
    charts["load"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(6.5, 1.8))
    bounds = [0.0, *(b for b, _ in ACWR_BANDS), 4.0]  # the neutral bands of spec §1.6
    for (lo_b, hi_b), colour in zip(itertools.pairwise(bounds),
                                    ("#f2f2f2", "#e2efda", "#fff2cc", "#fce4d6"), strict=True):
        ax.axhspan(lo_b, hi_b, color=colour, lw=0)
    ax.plot(d["date"], d["ratio_uncoupled"], color="#1f4e79", marker=".", lw=1)
    peak = d["ratio_uncoupled"].max(skipna=True)
    ax.set_ylim(0, max(2.5, (0 if pd.isna(peak) else float(peak)) + 0.2))
    if len(d):
        ax.set_xlim(d["date"].min(), d["date"].max())  # type: ignore[arg-type]
    ax.set_ylabel("acute:chronic")
    charts["ratio"] = _svg(fig)

    weekly = s.assign(week=s["local_date"].dt.to_period("W-SUN").dt.start_time).groupby("week").agg(
        km=("distance_m", lambda x: x.sum() / 1000), run_min=("run_s", lambda x: x.sum() / 60))
    weekly = weekly.tail(10)
    fig, ax = plt.subplots(figsize=(6.5, 1.8))
    ax.bar(weekly.index, weekly["km"], width=5, color="#9bb7d4", label="running distance (km)")
    ax2 = ax.twinx()
    ax2.plot(weekly.index, weekly["run_min"], color="#c55a11", marker="o", label="running (min)")
    ax.set_ylabel("km")
    ax2.set_ylabel("running min")
    charts["weekly"] = _svg(fig)

    recent = s.tail(30)
    fig, axes = plt.subplots(1, 2, figsize=(6.5, 1.8))
    axes[0].plot(recent["local_date"], recent["cadence_spm_median"], marker="o", color="#1f4e79")
    if cadence_target is not None:
        axes[0].axhline(cadence_target, color="#c55a11", ls="--", lw=1)
    axes[0].set_ylabel("cadence (steps/min)")
    axes[1].plot(recent["local_date"], recent["main_set_ratio"], marker="o", color="#548235")
    axes[1].set_ylabel("run:walk (main set)")
    for a in axes:
        a.tick_params(axis="x", labelrotation=45)
    charts["gait"] = _svg(fig)

    if readiness is not None and len(readiness):
        r = readiness[(readiness["date"] >= lo) & (readiness["date"] <= pd.Timestamp(end))]
        if len(r):
            fig, ax = plt.subplots(figsize=(6.5, 1.6))
            ax.plot(r["date"], r["resting_hr_bpm"], color="#c00000", marker=".", lw=1,
                    label="resting HR (bpm)")
            ax.set_ylabel("resting HR")
            ax2 = ax.twinx()
            ax2.bar(r["date"], r["sleep_h"], color="#bdd7ee", alpha=0.6, label="sleep (h)")
            ax2.set_ylabel("sleep h")
            ax.set_zorder(ax2.get_zorder() + 1)
            ax.patch.set_visible(False)
            charts["readiness"] = _svg(fig)

    dec = decisions[decisions["date"] <= pd.Timestamp(end)].tail(30)
    colours = {"DROP": "#c00000", "HOLD": "#ed7d31", "STAY": "#a5a5a5", "ADVANCE_OK": "#70ad47",
               "ADVANCE": "#00b050", "UNDECIDED": "#7f7f7f"}
    fig, ax = plt.subplots(figsize=(6.5, 1.6))
    ax.step(dec["date"], dec["stage_after"], where="post", color="#1f4e79")
    ax.scatter(dec["date"], dec["stage_after"], c=[colours.get(v, "#000") for v in dec["verdict"]],
               zorder=3, s=18)
    ax.set_ylabel("stage")
    ax.set_yticks(range(1, max(6, int(dec["stage_after"].max()) if len(dec) else 6) + 1))
    charts["soreness"] = _svg(fig)
    return charts


@dataclass(frozen=True)
class AthleteWeek:
    """What the squad overview lists for one athlete."""

    athlete_id: str
    name: str
    stage: int | None
    verdict: str | None
    alerts: int
    cautions: int
    review: bool
    sessions: int
    file: str
    why: str | None = None  # the latest decision's explanation
    run_min: float = 0.0  # this week's running minutes
    run_min_before: float = 0.0  # the week before's
    acwr: float | None = None
    acwr_label: str | None = None
    stage_change: int = 0  # stage at the end of the week minus at its start
    open_alerts: int = 0  # alerts recorded for the coach this week
    answered: int = 0  # days of the week's sessions with all three soreness answers
    trend: Markup | None = None  # 8 weeks of running minutes

    @property
    def attention(self) -> int:
        """Higher means look first: alerts, review advice, cautions, a drop or hold, missing
        check-ins."""
        drop = self.verdict in ("DROP", "HOLD")
        missing = max(self.sessions - self.answered, 0)
        return (max(self.alerts, self.open_alerts) * 100 + self.review * 50 + self.cautions * 10
                + drop * 5 + missing)


def _env() -> Environment:
    env = Environment(loader=PackageLoader("pipeline", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["minutes"] = lambda s: "–" if pd.isna(s) else f"{s / 60:.0f} min"
    env.filters["km"] = lambda m: "–" if m is None or pd.isna(m) else f"{m / 1000:.2f} km"
    env.filters["num"] = lambda v, fmt="{:.0f}": "–" if v is None or pd.isna(v) else fmt.format(v)
    env.filters["day"] = lambda d: "–" if d is None or pd.isna(d) else pd.Timestamp(d).strftime("%a %d %b")
    env.globals["kind_label"] = kind_label
    return env


def kind_label(session: dict[str, Any]) -> str:
    """What a session was, in a coach's words: "run", "walk", "cross-training: cycling
    (indoor cycling)", "other: diving"."""
    kind = session.get("kind")
    if kind in ("run", "walk"):
        return str(kind)
    sport = str(session.get("sport") or "unknown").replace("_", " ")
    sub = session.get("sub_sport")
    detail = f"{sport} ({str(sub).replace('_', ' ')})" if sub and sub != "generic" else sport
    return f"{'cross-training' if kind == 'cross_training' else 'other'}: {detail}"


def _session_rows(week_sessions: pd.DataFrame, checkins: pd.DataFrame,
                  decisions: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per session of the week with that day's check-in and decision."""
    by_day = checkins.set_index("date")
    dec_by_date = decisions.set_index("date")
    rows: list[dict[str, Any]] = []
    for s in week_sessions.to_dict("records"):
        c = by_day.loc[s["local_date"]] if s["local_date"] in by_day.index else None
        dcs = dec_by_date.loc[s["local_date"]] if s["local_date"] in dec_by_date.index else None
        rows.append({"s": _plain(s), "checkin": _plain(c.to_dict()) if c is not None else None,
                     "decision": _plain(dcs.to_dict()) if dcs is not None else None})
    return rows


def week_totals(week_sessions: pd.DataFrame) -> dict[str, Any]:
    """The week's totals by kind: running and walking distance and time, cross-training
    minutes and load in the measures it has (never summed into one number)."""
    def of(kind: str) -> pd.DataFrame:
        return week_sessions[week_sessions["kind"] == kind]

    runs, walks, cross = of("run"), of("walk"), of("cross_training")
    trimp, srpe = cross["trimp_banister"].dropna(), cross["srpe_au"].dropna()
    return {
        "run_sessions": len(runs), "run_km": float(runs["distance_m"].sum()) / 1000,
        "run_min": float(runs["run_s"].sum()) / 60,
        "walk_sessions": len(walks), "walk_km": float(walks["distance_m"].sum()) / 1000,
        "walk_min": float(walks["timer_s"].sum()) / 60,
        "cross_sessions": len(cross), "cross_min": float(cross["timer_s"].sum()) / 60,
        "cross_sports": ", ".join(sorted(set(cross["sport"]))),
        "cross_trimp": float(trimp.sum()) if len(trimp) else None,
        "cross_srpe_au": float(srpe.sum()) if len(srpe) else None,
        "other_sessions": len(of("other")),
    }


def _quality_notes(rows: list[dict[str, Any]], quarantined: pd.DataFrame) -> list[str]:
    """What the coach should know about the data behind the week's figures."""
    quality = []
    no_checkin = [r["s"]["local_date"] for r in rows
                  if r["checkin"] is None and r["s"]["kind"] in ("run", "walk")]
    if no_checkin:
        quality.append("No check-in for " + ", ".join(pd.Timestamp(d).strftime("%a %d %b")
                                                      for d in no_checkin) + ".")
    no_cad = [r for r in rows if r["s"]["kind"] == "run" and r["s"]["cadence_spm_median"] is None]
    if no_cad:
        quality.append(f"No cadence recorded in {len(no_cad)} session(s) this week.")
    for r in rows:
        if r["s"].get("truncated"):
            quality.append(f"The recording of {pd.Timestamp(r['s']['local_date']):%a %d %b} "
                           "ended early (watch battery?); its figures cover what was saved.")
    for f in quarantined.to_dict("records"):
        quality.append(f"Quarantined file {f['name']}: {f['reason']}.")
    return quality


def _trend(daily: pd.DataFrame, end: dt.date) -> Markup | None:
    """A small chart of the last 8 weeks' running minutes (the overview's trend)."""
    lo = pd.Timestamp(end) - pd.Timedelta(days=55)
    d = daily[(daily["date"] >= lo) & (daily["date"] <= pd.Timestamp(end))]
    if not len(d):
        return None
    weekly = d.groupby(d["date"].dt.to_period("W-SUN").dt.start_time)["run_min"].sum()
    fig, ax = plt.subplots(figsize=(1.8, 0.45))
    ax.bar(weekly.index, weekly.to_numpy(), width=5, color="#1f4e79")
    ax.axis("off")
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return Markup(text[text.index("<svg"):])


def _week_minutes(daily: pd.DataFrame, start: dt.date, end: dt.date) -> float:
    d = daily[(daily["date"] >= pd.Timestamp(start)) & (daily["date"] <= pd.Timestamp(end))]
    return float(d["run_min"].sum())


def _stage_on(decisions: pd.DataFrame, day: pd.Timestamp) -> int | None:
    before = decisions[decisions["date"] <= day]
    return int(before["stage_after"].iloc[-1]) if len(before) else None


def write_reports(store: Store, week: str, out_dir: str | Path,
                  names: dict[str, str] | None = None,
                  injured_areas: dict[str, str] | None = None) -> Path:
    """Write ``out_dir/<week>/index.html`` and one page per athlete; returns the index path.

    Args:
        store: The store to read (validated tables).
        week: ISO week ``YYYY-Www``.
        names: athlete_id → display name (from the roster); ids are shown otherwise.
        injured_areas: athlete_id → the roster's injured side/area, shown on the page.
    """
    folder = Path(out_dir) / week
    folder.mkdir(parents=True, exist_ok=True)
    for name, html in render_reports(store, week, names, injured_areas).items():
        (folder / name).write_text(html, encoding="utf-8")
    return folder / "index.html"


def _by_athlete(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """An empty frame of the table's columns, and the table's rows per athlete (in order)."""
    return frame.iloc[:0], {str(a): part for a, part in frame.groupby("athlete_id", sort=False)}


def render_reports(store: Store, week: str, names: dict[str, str] | None = None,
                   injured_areas: dict[str, str] | None = None, *,
                   pages: str | None = "all", link_prefix: str = "") -> dict[str, str]:
    """The week's report as HTML by file name: ``index.html`` and ``<athlete>.html``.

    Args:
        pages: ``all`` (the overview and every athlete's page), None (the overview only),
            or one athlete's id (that athlete's page only, read from their rows only: the
            coach pages serve one at a time).
        link_prefix: Prefix of the overview's links to the athlete pages.
    """
    start, end = iso_week(week)
    env = _env()
    names = names or {}
    only = None if pages in ("all", None) else pages

    def load(table: str) -> pd.DataFrame:
        return store.table(table, only)

    sessions_all = load("sessions")
    sessions_all = sessions_all[sessions_all["duplicate_of"].isna()]
    daily_all, decisions_all = load("daily_load"), load("decisions")
    flags_all, checkins_all = load("flags"), load("checkins")
    nexts = load("next_sessions").set_index("athlete_id")
    files, reviews_all = load("files"), load("reviews")
    cross_all, readiness_all, alerts_all = (load("cross_training_daily"), load("readiness"),
                                            load("alerts"))
    overview = []
    out: dict[str, str] = {}

    def in_week(f: pd.DataFrame, col: str = "date") -> pd.DataFrame:
        return f[(f[col] >= pd.Timestamp(start)) & (f[col] <= pd.Timestamp(end))]

    # Each table split by athlete once (a boolean mask per athlete and table costs more than
    # the rest of the overview).
    split = {name: _by_athlete(frame) for name, frame in (
        ("sessions", sessions_all.sort_values("start_utc")), ("daily", daily_all),
        ("decisions", decisions_all.sort_values("date")), ("flags", flags_all),
        ("readiness", readiness_all.sort_values("date")), ("checkins", checkins_all),
        ("alerts", alerts_all), ("files", files), ("reviews", reviews_all),
        ("cross", cross_all))}

    def of(name: str, aid: str) -> pd.DataFrame:
        return split[name][1].get(aid, split[name][0])

    athletes = sorted(set(sessions_all["athlete_id"]) | set(decisions_all["athlete_id"]))
    for aid in athletes:
        sessions, daily, decisions = of("sessions", aid), of("daily", aid), of("decisions", aid)
        flags, readiness, checkins = of("flags", aid), of("readiness", aid), of("checkins", aid)
        week_flags = in_week(flags).assign(rank=lambda f: f["severity"].map(_SEVERITY_RANK)) \
            .sort_values(["rank", "date"])
        week_sessions = in_week(sessions, "local_date")
        last = decisions[decisions["date"] <= pd.Timestamp(end)].tail(1)
        latest = _plain(last.iloc[0].to_dict()) if len(last) else None
        day_rows = daily[daily["date"] <= pd.Timestamp(end)].tail(1)
        today = _plain(day_rows.iloc[0].to_dict()) if len(day_rows) else None
        nxt = _plain(nexts.loc[aid].to_dict()) if aid in nexts.index else None
        page = f"{aid}.html"
        week_start = pd.Timestamp(start)
        stage_before = _stage_on(decisions, week_start - pd.Timedelta(days=1))
        stage_now = _stage_on(decisions, pd.Timestamp(end))
        prev_start, prev_end = start - dt.timedelta(days=7), start - dt.timedelta(days=1)
        on_foot = week_sessions[week_sessions["kind"].isin(["run", "walk"])]
        answered = checkins[checkins["date"].isin(on_foot["local_date"])  # all three answers
                            & checkins[["warmup", "during", "next_day"]].notna().all(axis=1)]
        alerts = in_week(of("alerts", aid))
        overview.append(AthleteWeek(
            athlete_id=aid, name=names.get(aid, aid),
            stage=int(latest["stage_after"]) if latest else None,
            verdict=latest["verdict"] if latest else None,
            alerts=int((week_flags["severity"] == "alert").sum()),
            cautions=int((week_flags["severity"] == "caution").sum()),
            review=bool(nxt and nxt.get("status") == "review"), sessions=len(on_foot),
            file=f"{link_prefix}{page}",
            why=(latest.get("explanation") or latest.get("reason")) if latest else None,
            run_min=_week_minutes(daily, start, end),
            run_min_before=_week_minutes(daily, prev_start, prev_end),
            acwr=today["ratio_uncoupled"] if today else None,
            acwr_label=acwr_label(today["ratio_uncoupled"]) if today else None,
            stage_change=(stage_now - stage_before) if stage_now and stage_before else 0,
            open_alerts=len(alerts), answered=int(answered["date"].nunique()),
            trend=_trend(daily, end)))
        if pages != "all" and pages != aid:
            continue
        rows = _session_rows(week_sessions, checkins, decisions)
        quality = _quality_notes(rows, of("files", aid).query("status == 'quarantined'"))
        targets = decisions["cadence_target_spm"].dropna()
        target = float(targets.iloc[-1]) if len(targets) else None
        html = env.get_template("athlete.html.j2").render(
            athlete_id=aid, name=names.get(aid, aid), week=week, start=start, end=end,
            rows=rows, flags=[_plain(f) for f in week_flags.to_dict("records")], latest=latest,
            today=today,
            acwr_label=acwr_label(today["ratio_uncoupled"]) if today else None,
            acwr_info=ACWR_INFO_TEXT, next_session=nxt, quality=quality,
            injured_area=(injured_areas or {}).get(aid), cadence_target=target,
            reviews=of("reviews", aid).to_dict("records"),
            totals=week_totals(week_sessions),
            readiness=[_plain(r) for r in in_week(readiness).to_dict("records")],
            charts=_charts(daily, sessions, decisions, start, end, target,
                           of("cross", aid), readiness)
            if len(sessions) else {})
        out[page] = html
    if only is not None:
        return out  # one athlete's rows are no squad overview
    overview.sort(key=lambda a: (-a.attention, a.athlete_id))
    out["index.html"] = env.get_template("index.html.j2").render(
        week=week, start=start, end=end, athletes=overview,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return out
