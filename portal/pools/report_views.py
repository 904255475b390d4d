"""The marketer's dashboard and each pool's campaign report (its CSV), with the template
helpers both show: the phase pill, numbers as people say them, and the charts."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, render_template, request

from ..roles import MARKETING, requires
from ..services import dashboard, pools, report
from ..services.spreadsheet import csv_lines
from ..web import htmx
from . import charts
from .blueprint import bp
from .stages import progress_for

# How often the dashboard's counts refresh themselves while the tab is in view.
POLL_SECONDS = 10
POLLED_IDS_MAX = dashboard.PAGE_SIZE


@bp.app_template_filter("people_number")
def people_number(value: int | None) -> str:
    """Numbers as people say them: 812,400 in full; 1.2 million, 3.4 billion when big."""
    value = value or 0
    for size, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million")):
        if abs(value) >= size:
            shown = f"{value / size:,.1f}".removesuffix(".0")
            return f"{shown} {word}"
    return f"{value:,}"


@bp.app_template_filter("percent")
def percent(share: float | None) -> str:
    """0.4237 → 42%; under 10%, one decimal (4.2%); nothing to divide by → —."""
    if share is None:
        return "—"
    return f"{share:.1%}".replace(".0%", "%") if share < 0.1 else f"{share:.0%}"


@bp.app_template_filter("duration")
def duration(value: timedelta | None) -> str:
    """A span of time as people say it, in its two largest units: 2 days 4 hours."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return "under a minute"
    parts = []
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        n, seconds = divmod(seconds, size)
        if n or parts:
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}" if n else "")
    return " ".join(part for part in parts[:2] if part)


@bp.app_template_global("pool_phase")
def pool_phase(pool) -> tuple[str, str]:  # noqa: ANN001
    """(phase, its word) for the pill."""
    found = dashboard.phase(pool)
    return found.value, dashboard.PHASE_WORDS[found]


@bp.app_template_global("day_chart")
def day_chart(points) -> charts.Chart:  # noqa: ANN001
    """A per-day bar chart of (day, count) points."""
    return charts.per_day_chart(points)


def _listing() -> dashboard.Listing:
    return dashboard.listing(request.args.get("q", ""), request.args.get("status", ""),
                             request.args.get("sort", "created"), request.args.get("page", 1, type=int) or 1)


def _list_context(found: dashboard.Listing) -> dict:
    progress = progress_for([pool for pool, _ in found.rows], {pool.id: c for pool, c in found.rows})
    return {"listing": found, "progress": progress, "phases": dashboard.PHASE_WORDS,
            "sorts": dashboard.SORTS, "totals": dashboard.totals(), "poll_seconds": POLL_SECONDS,
            "polled": [pool.id for pool, _ in found.rows]}


@bp.get("/", endpoint="dashboard")
@requires(*MARKETING)
def dashboard_page():
    """How the campaigns are doing: totals, what needs attention, and the pools found by
    name and status, in the order chosen, a page at a time."""
    context = _list_context(_listing())
    if htmx() and request.headers.get("HX-Target") == "pool-list":
        return render_template("pools/partials/_pool_list.html", oob=True, **context), 200, {
            "Vary": "HX-Request"}
    found, total = dashboard.attention()
    return render_template("pools/dashboard.html", attention=found, attention_total=total,
                           concerns=dashboard.Concern, oob=False, **context), 200, {"Vary": "HX-Request"}


@bp.get("/counts")
@requires(*MARKETING)
def dashboard_counts():
    """The counts that change, polled while the dashboard is in view: the tiles, and the
    counts of the pools listed (?ids=), swapped into their rows."""
    ids = [int(part) for part in request.args.get("ids", "").split(",")[:POLLED_IDS_MAX]
           if part.isascii() and part.isdigit() and len(part) <= 10 and 0 < int(part) < 2**31]
    counts = pools.counts_for(ids)
    return render_template("pools/partials/_dashboard_counts.html", totals=dashboard.totals(),
                           counts=counts, polled=[i for i in ids if i in counts],
                           poll_seconds=POLL_SECONDS, oob=False), 200, {"Vary": "HX-Request"}


@bp.get("/<id:pool_id>/report.csv")
@requires(*MARKETING)
def report_csv(pool_id: int):
    """The pool's campaign report as a spreadsheet-safe CSV."""
    found = report.campaign_report(pool_id)
    return Response(csv_lines(report.CSV_HEADER, report.csv_rows(found)), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=pool-{pool_id}-report.csv"})
