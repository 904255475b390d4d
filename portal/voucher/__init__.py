"""The customer's voucher pages, reached by signed links from messages."""

# The route modules register their views on bp as they are imported.
from . import assets, views  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
