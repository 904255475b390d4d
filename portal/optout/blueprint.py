"""The opt-out blueprint, alone in its module (see portal/voucher/blueprint.py)."""

from flask import Blueprint

bp = Blueprint("optout", __name__)
