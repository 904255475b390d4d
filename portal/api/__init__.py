"""The JSON API under /api/v1 for point-of-sale systems and integrations."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import views  # noqa: E402, F401
