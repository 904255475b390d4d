"""The pool dashboard with counts that refresh themselves."""

from __future__ import annotations

from flask import render_template

from ..roles import requires
from ..services import pools
from . import bp

MARKETING = ("admin", "marketer")


def _rows():
    found = pools.list_pools()
    counts = pools.counts_for([p.id for p in found])
    return [(pool, counts.get(pool.id, pools.Counts())) for pool in found]


@bp.get("/")
@requires(*MARKETING)
def dashboard():
    """Every pool with its status, validity and live counts."""
    return render_template("pools/dashboard.html", rows=_rows())


@bp.get("/counts")
@requires(*MARKETING)
def dashboard_counts():
    """The dashboard's table alone, polled every few seconds (constant-time counts)."""
    response = render_template("pools/partials/_table.html", rows=_rows())
    return response, 200, {"Vary": "HX-Request"}
