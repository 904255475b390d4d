"""Admin: users, stores and API keys."""

# The route modules register their views on bp as they are imported.
from . import channels, views  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
