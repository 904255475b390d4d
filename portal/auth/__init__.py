"""Signing in and out."""

# The route modules register their views on bp as they are imported.
from . import profile, views  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
