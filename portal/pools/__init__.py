"""The marketer's pools: the dashboard, the set-up wizard and each pool's page."""

# The route modules register their views on bp as they are imported.
from . import background, browse, redemption_stage, refill, report_views, sends, views  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
