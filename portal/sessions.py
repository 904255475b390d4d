"""Signed-in sessions: the cookie's attributes, which sessions still count, and the
till's idle timeout.

A session lives in a signed cookie, so the server cannot delete it. Instead the cookie
names the user's session version (`User.get_id()` is "id:version"), and every request
checks it against the database: raising the version (sign-out, disabling a user, a new
password) ends every session and remember cookie that user had, on every device.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user

from .extensions import login_manager
from .models import User
from .services import accounts
from .vocabulary import Role
from .web import htmx

# When the signed-in cashier last made a request, in whole seconds since the epoch.
LAST_SEEN = "last_seen"
# Rewrite the cookie at most this often just to move LAST_SEEN on.
SEEN_STEP_SECONDS = 60


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with `Secure` also on any request that arrived over
    https (behind a trusted proxy, as it reported), whatever PUBLIC_BASE_URL says."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure


def register(app: Flask) -> None:
    """Cookie attributes, the session-version check and the cashier idle timeout."""
    served_over_https = urlsplit(app.config["PUBLIC_BASE_URL"]).scheme == "https"
    for cookie in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        app.config[f"{cookie}_HTTPONLY"] = True
        app.config[f"{cookie}_SAMESITE"] = "Lax"
        app.config[f"{cookie}_SECURE"] = app.config.get(f"{cookie}_SECURE") or served_over_https
    app.session_interface = SessionCookies()

    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(to_sign_in)
    app.before_request(end_idle_till_session)


def load_user(token: str) -> User | None:
    """The user a session (or remember cookie) names, if that session still counts."""
    user_id, _, version = token.partition(":")
    if not (user_id.isascii() and user_id.isdigit() and version.isascii() and version.isdigit()):
        return None  # a session from before versions existed: sign in again
    return accounts.signed_in_user(int(user_id), int(version))


def begin(user: User) -> None:
    """Sign the user in on this browser, their idle time starting now."""
    login_user(user)
    session[LAST_SEEN] = int(time.time())


def end_everywhere(user_id: int) -> None:
    """Sign out here and end every other session of the same user."""
    accounts.end_sessions(user_id)
    logout_user()
    session.pop(LAST_SEEN, None)


def to_sign_in():
    """A page that needs a signed-in user: go to sign-in and come back. An htmx request is
    told to load the sign-in page, instead of swapping it into a fragment's place."""
    if not g.get("idle_signed_out"):
        flash(login_manager.login_message)
    back = request.full_path.rstrip("?") if request.method == "GET" else ""
    if htmx():
        page = urlsplit(request.headers.get("HX-Current-URL", ""))
        back = page.path + (f"?{page.query}" if page.query else "")
        return "", 401, {"HX-Redirect": url_for("auth.login", next=back or None)}
    return redirect(url_for("auth.login", next=back or None))


def end_idle_till_session() -> None:
    """Sign a cashier out after CASHIER_IDLE_MINUTES without a request; 0 turns it off."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return
    if current_user.role != Role.CASHIER:
        return
    now = int(time.time())
    seen = session.get(LAST_SEEN)
    minutes = int(current_app.config["CASHIER_IDLE_MINUTES"])
    if minutes and isinstance(seen, int) and now - seen > minutes * 60:
        logout_user()
        session.pop(LAST_SEEN, None)
        g.idle_signed_out = True
        flash(f"You were signed out after {minutes} minutes without using the till. "
              "Sign in again to carry on.")
        return
    if not isinstance(seen, int) or now - seen >= SEEN_STEP_SECONDS:
        session[LAST_SEEN] = now
