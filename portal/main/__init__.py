"""The front door, and what operators ask: health, readiness and metrics."""

# The route modules register their views on bp as they are imported.
from . import health, views  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
