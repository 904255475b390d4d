"""Customers saying no: the one-click unsubscribe link of campaign email, and STOP
answered to an SMS, which the SMS provider forwards."""

# The route modules register their views on bp as they are imported.
from . import views  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
