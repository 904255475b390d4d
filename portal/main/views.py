"""The front door and the favicon."""

from __future__ import annotations

from flask import current_app, redirect, send_from_directory, url_for
from flask_login import current_user

from .blueprint import bp


@bp.get("/")
def index():
    """Send each visitor where they work: sign-in, the till, or the pool dashboard."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.role == "cashier":
        return redirect(url_for("cashier.till"))
    return redirect(url_for("pools.dashboard"))


@bp.get("/favicon.ico")
def favicon():
    """The portal's icon, where browsers look for it unasked; cached for a week."""
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/x-icon",
                               max_age=7 * 24 * 3600)
