"""The front door and the health check."""

from __future__ import annotations

from flask import jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy import text

from ..extensions import db
from .blueprint import bp


@bp.get("/healthz")
def healthz():
    """200 when the app can reach its database."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/")
def index():
    """Send each visitor where they work: sign-in, the till, or the pool dashboard."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.role == "cashier":
        return redirect(url_for("cashier.till"))
    return redirect(url_for("pools.dashboard"))
