"""The marketer's pools: the dashboard, the set-up wizard and each pool's page."""

from flask import Blueprint

bp = Blueprint("pools", __name__, url_prefix="/pools")

from . import background, browse, redemption_stage, refill, sends, views  # noqa: E402, F401
