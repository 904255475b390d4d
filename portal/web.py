"""What every HTML page shares: template helpers and friendly error pages."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask, abort, current_app, has_request_context, render_template, request
from flask_login import current_user
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from .api import errors as api_errors
from .extensions import db
from .logs import request_id
from .roles import MARKETING, TILL
from .services import alerts, times, wording
from .services.codes import effective_expiry
from .services.errors import DomainError

log = logging.getLogger(__name__)


def htmx() -> bool:
    """Whether htmx sent this request (it answers with a fragment instead of a page)."""
    return request.headers.get("HX-Request") == "true"


def attach_refusal(form, exc: DomainError, default: str | None = None) -> None:  # noqa: ANN001
    """Put a service's refusal beside the field it names; otherwise beside `default`, or
    the form's first field."""
    field = (getattr(form, exc.details.get("field") or "", None)
             or (getattr(form, default) if default else None)
             or next(f for f in form if f.name != "csrf_token"))
    field.errors = [*field.errors, exc.message]


def number(value: int | None) -> str:
    """1250000 → 1,250,000."""
    return f"{value or 0:,}"


# How people say a large amount: the scale's name, and "more than" when it is rounded down.
SCALES = ((10**15, "quadrillion"), (10**12, "trillion"), (10**9, "billion"), (10**6, "million"))


def amount(value: int | None) -> str:
    """A count as people say it: 1,250 → "1,250"; 1,000,000,000 → "a billion";
    819,628,286,980,801 → "more than 819 trillion"; 2,500,000 → "2.5 million"."""
    value = value or 0
    for scale, name in SCALES:
        if value >= scale:
            whole = value // scale
            if whole < 10:  # one decimal where it says something: 2.5 million
                tenths = value * 10 // scale
                shown = tenths * scale // 10
                said = "a" if tenths == 10 else f"{tenths / 10:g}"
            else:
                shown, said = whole * scale, f"{whole:,}"
            return f"{'more than ' if value > shown else ''}{said} {name}"
    return f"{value:,}"


def when(value: datetime | None, fmt: str = "%d %b %Y %H:%M", zone: str | None = None) -> str:
    """A moment in the zone given (a till's store's), else the signed-in person's, else
    the portal's, naming the zone."""
    person = current_user if has_request_context() and current_user.is_authenticated else None
    return times.for_person(value, zone, fmt, person=person)


def day(value: datetime | None) -> str:
    return value.strftime("%d %b %Y") if value else "—"


def ends_at(code) -> datetime | None:  # noqa: ANN001
    """A code's effective expiry (its own or its pool's end, the earlier)."""
    return effective_expiry(code.expires_at, code.pool.valid_until)


def register(app: Flask) -> None:
    app.jinja_env.filters.update(number=number, amount=amount, when=when, day=day, ends_at=ends_at,
                                  reason_words=wording.line_reason)
    # Called by the page only for marketers and admins: the low-stock banner. my_zone: the
    # signed-in person's zone (their pickers); customer_zone: what customers' pages show.
    app.jinja_env.globals.update(low_stock_pools=alerts.low_pools, MARKETING=MARKETING, TILL=TILL,
                                 my_zone=lambda: times.person_zone(current_user),
                                 customer_zone=times.portal_zone)

    @app.before_request
    def refuse_nul_characters():
        """No text field may carry NUL: PostgreSQL cannot store it, and nobody types it."""
        values = [request.path, *request.args.values()]
        if request.method in ("POST", "PUT", "PATCH"):
            values += list(request.form.values())
            if request.is_json and b"\\u0000" in request.get_data():
                values.append("\x00")
        if any("\x00" in value for value in values):
            if request.path.startswith("/api/"):
                raise api_errors.ApiError(400, "invalid_request", "Text may not contain NUL characters.")
            abort(400, "Text may not contain NUL characters.")

    @app.errorhandler(DomainError)
    def refused(exc: DomainError):
        """A refusal no view handled itself: JSON on the API, a plain page elsewhere."""
        if request.path.startswith("/api/"):
            return api_errors.domain_error(exc)
        status = api_errors.status_for(exc)
        return render_template("error.html", error=None, message=exc.message), status

    @app.errorhandler(HTTPException)
    def page_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return api_errors.http_error(exc)
        if exc.code in (401, 403, 404, 405, 410, 413, 429):
            return render_template("error.html", error=exc), exc.code
        return exc

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        """Any other failure: logged with its traceback and the request's id, which the
        answer (JSON on the API, a page elsewhere) shows so it can be quoted."""
        on_api = request.path.startswith("/api/")
        propagate = current_app.config["PROPAGATE_EXCEPTIONS"]
        if not on_api and (current_app.testing or current_app.debug if propagate is None else propagate):
            raise exc  # the test client or the debugger shows it
        log.exception("unexpected error on %s %s [request %s]", request.method, request.path, request_id())
        db.session.rollback()  # the page below may read the database again
        if on_api:
            return api_errors.internal_error()
        message = "Something went wrong on our side; it has been logged."
        try:
            return render_template("error.html", error=InternalServerError(), message=message,
                                   request_id=request_id()), 500
        except Exception:  # noqa: BLE001  (the fault may break the layout too)
            log.exception("the error page failed too [request %s]", request_id())
            return f"<p>{message} Request {escape(request_id())}.</p>", 500
