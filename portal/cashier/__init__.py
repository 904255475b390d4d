"""The cashier's redemption check page at the till."""

from flask import Blueprint

bp = Blueprint("cashier", __name__, url_prefix="/till")

from . import views  # noqa: E402, F401
