"""Weekly report flow: write the coach's HTML pages and publish the overview as an artifact."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.nightly import default_store_root, open_store
from pipeline.athletes import read_roster
from pipeline.report import last_full_week, write_reports

__all__ = ["weekly_report"]


@flow(name="comeback-weekly-report")
def weekly_report(week: str | None = None, store: str | None = None, out: str = "reports",
                  inbox: str | None = None, database_url: str | None = None) -> str:
    """Write ``out/<week>/index.html`` and a page per athlete; returns the index path."""
    label = week or last_full_week()
    st = open_store(store or default_store_root(), database_url)
    names, areas = {}, {}
    if inbox and (Path(inbox) / "athletes.csv").exists():
        roster = read_roster(Path(inbox) / "athletes.csv")
        names = {a: r.name for a, r in roster.items()}
        areas = {a: r.injured_area for a, r in roster.items() if r.injured_area}
    index = write_reports(st, label, out, names, areas)
    pages = sorted(p.name for p in index.parent.glob("*.html") if p.name != "index.html")
    links = "\n".join(f"- [{p.removesuffix('.html')}]({(index.parent / p).resolve().as_uri()})"
                      for p in pages)
    create_markdown_artifact(
        key="comeback-weekly-report",
        markdown=f"# Weekly report {label}\n\n[Squad overview]({index.resolve().as_uri()})\n\n{links}",
        description="Links to this week's coach report")
    return str(index)
