"""The HTML part of the portal's emails, drawn from templates at the edge.

The services compose messages and hand them over; they are given these functions
rather than rendering templates themselves.
"""

from __future__ import annotations

from flask import render_template

from .models import Pool
from .services.alerts import Notice
from .services.links import pool_url


def voucher_html(body: str, footer: str, values: dict, pool: Pool) -> str:
    """A campaign email's HTML part: the marketer's message around the code."""
    return render_template("email/voucher.html", body=body, footer=footer, values=values, pool=pool)


def alert_html(notice: Notice, pool: Pool) -> str:
    """An alert email's HTML part, with a link to the pool's page."""
    return render_template("email/alert.html", notice=notice, link=pool_url(pool.id))
