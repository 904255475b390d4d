"""Sign-in with email and password, slowed down after repeated failures.

Failures are counted as OWASP advises, so that a stranger guessing cannot lock the owner
out: tightly per (account, address), gently per account from anywhere (which still
stops a guesser spread over many addresses), and per address across accounts.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from ..extensions import limiter
from ..roles import retry_after_seconds
from ..services import accounts
from ..sessions import begin, end_everywhere
from .blueprint import bp
from .forms import EmptyForm, SignInForm


def home_for(user) -> str:  # noqa: ANN001
    """Where a user lands: cashiers at their till, everyone else on the dashboard."""
    return url_for("cashier.till") if user.role == "cashier" else url_for("pools.dashboard")


def local_target(target: str) -> str | None:
    """`next` if it is a path on this site, else None: never send someone off-site."""
    if not target or any(ord(ch) < 32 or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _account() -> str:
    return (request.form.get("email") or "").strip().lower()


def _account_and_address_key() -> str:
    return f"{_account()}|{get_remote_address()}"


def _failed(response) -> bool:  # noqa: ANN001
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATE_LIMIT_SIGN_IN"], methods=["POST"],
               key_func=_account_and_address_key, deduct_when=_failed, scope="signin-account-address")
@limiter.limit(lambda: current_app.config["RATE_LIMIT_SIGN_IN_ACCOUNT"], methods=["POST"],
               key_func=_account, deduct_when=_failed, scope="signin-account")
@limiter.limit(lambda: current_app.config["RATE_LIMIT_SIGN_IN_ADDRESS"], methods=["POST"],
               deduct_when=_failed, scope="signin-address")
def login():
    """The sign-in form; a wrong email or password gets one clear message."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = SignInForm()
    if form.validate_on_submit():
        user = accounts.check_password(form.email.data, form.password.data)
        if user is not None:
            begin(user)
            return redirect(local_target(request.args.get("next", "")) or home_for(user))
        return render_template("auth/login.html", form=form,
                               error="That email and password do not match an active account."), 401
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.errorhandler(TooManyRequests)
def too_many(_exc):
    """Too many failed sign-ins: say how long to wait."""
    wait = retry_after_seconds()
    form = SignInForm()
    return render_template(
        "auth/login.html", form=form,
        error=f"Too many failed sign-ins. Wait {wait} seconds and try again.",
    ), 429, {"Retry-After": str(wait)}


@bp.post("/logout")
def logout():
    """Sign out (a POST with the CSRF token, so another site cannot sign you out), here
    and on every other device: a copy of the session cookie no longer works either."""
    if EmptyForm().validate_on_submit():
        if current_user.is_authenticated:
            end_everywhere(current_user.id)
        flash("You are signed out.")
    return redirect(url_for("auth.login"))
