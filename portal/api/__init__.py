"""The JSON API under /api/v1 for point-of-sale systems and integrations."""

# The route modules register their views on bp as they are imported.
from . import customers, redemptions, views, webhooks  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
