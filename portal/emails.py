"""The HTML part of the portal's emails, drawn from templates at the edge.

The services compose messages and hand them over; they are given these functions
rather than rendering templates themselves.
"""

from __future__ import annotations

from flask import current_app, render_template
from markupsafe import Markup

from .models import Pool
from .services.alerts import Notice
from .services.brand import Look
from .services.links import logo_url, pool_url

DEFAULT_BUTTON = "#0b5cad"


def voucher_html(body: str, footer: str, values: dict, pool: Pool, brand: Look) -> str:
    """A campaign email's HTML part: the shop's name and logo, the marketer's message
    around the code, and a button in the shop's accent colour."""
    logo = logo_url(brand.logo_etag) if brand.logo_etag else None
    colour = brand.accent_colour or DEFAULT_BUTTON
    wallet = values.get("wallet_url") or ""
    # The message's {{ wallet_url }} becomes a link (its {{ voucher_url }} is the button).
    wallet_link = Markup('<a href="{0}" style="color:{1}">{0}</a>').format(wallet, colour)
    # And the footer's {{ unsubscribe_url }} a link a reader can click.
    unsubscribe = values.get("unsubscribe_url") or ""
    unsubscribe_link = Markup('<a href="{0}" style="color:#555">{0}</a>').format(unsubscribe)
    # The template itself, without the context processors render_template runs for a
    # page: it is drawn once per message of a send, and takes only what it is given.
    return current_app.jinja_env.get_template("email/voucher.html").render(
        body=body, footer=footer, values=values, pool=pool, brand=brand, logo=logo, button=colour,
        wallet=wallet, wallet_link=wallet_link, unsubscribe=unsubscribe, unsubscribe_link=unsubscribe_link)


def alert_html(notice: Notice, pool: Pool) -> str:
    """An alert email's HTML part, with a link to the pool's page."""
    return render_template("email/alert.html", notice=notice, link=pool_url(pool.id))
