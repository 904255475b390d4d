"""Who may see what: every page names the roles it serves, checked on the server."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from flask import abort
from flask_login import current_user, login_required
from werkzeug.exceptions import TooManyRequests

from .extensions import limiter
from .services.actor import Actor
from .vocabulary import Role

# Who runs campaigns (the pools area), and who works a till. Templates see them too.
MARKETING = (Role.ADMIN, Role.MARKETER)
TILL = (Role.CASHIER, Role.ADMIN)


def requires(*roles: str) -> Callable:
    """Anonymous visitors go to sign-in; signed-in users of another role get 403."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapper.allowed_roles = roles
        return wrapper

    return decorator


def current_actor() -> Actor:
    """The signed-in user as the services' Actor (with their store, for cashiers)."""
    return Actor(user_id=current_user.id, store_id=current_user.store_id)


def retry_after_seconds(exc: TooManyRequests | None = None) -> int:
    """How long until the limit that was just breached lets the next request through:
    the refusal's own Retry-After when it has one, else the route limit's window."""
    if exc is not None and isinstance(exc.retry_after, int):
        return max(1, exc.retry_after)
    limit = limiter.current_limit
    if limit is None:
        return 60
    return max(1, int(limit.reset_at - time.time()))
