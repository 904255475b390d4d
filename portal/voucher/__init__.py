"""The customer's voucher pages, reached by signed links from messages."""

from flask import Blueprint

bp = Blueprint("voucher", __name__, url_prefix="/v")

from . import views  # noqa: E402, F401
