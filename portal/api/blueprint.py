"""The api blueprint, alone in its module: route modules import it from here, and
the package's __init__ imports the route modules, so nothing imports back what imports it."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
