"""The front page and the health check."""

from __future__ import annotations

from flask import jsonify, render_template
from sqlalchemy import text

from ..extensions import db
from . import bp


@bp.get("/healthz")
def healthz():
    """200 when the app can reach its database."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/")
def index():
    """The portal's front door."""
    return render_template("main/index.html")
