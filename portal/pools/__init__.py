"""The marketer's pools: the dashboard and each pool's pages."""

from flask import Blueprint

bp = Blueprint("pools", __name__, url_prefix="/pools")

from . import views  # noqa: E402, F401
