"""Every error on an /api path is JSON {error, message}: never an HTML page or a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ..logs import request_id
from ..services.errors import (
    CodeSpaceTooSmall,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    MalformedFile,
    NotFound,
    PoolUnavailable,
    RedemptionRefused,
)

HTTP_REASONS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


# The answer's own reasons beyond the statuses above: every reason an /api answer can
# carry is one of these or one an operation's document lists (spec.error_codes).
INTERNAL_ERROR = "internal_error"


class ApiError(Exception):
    """An HTTP error with a machine-readable code, raised from API views; `headers` go on
    the answer (WWW-Authenticate on a 401, say)."""

    def __init__(self, status: int, error: str, message: str, /, *,
                 headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.details = status, error, message, details
        self.headers = headers or {}


def status_for(exc: DomainError) -> int:
    """One place that maps the services' refusals to HTTP statuses."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, InvalidInput):
        # A wrong value is a 400. A refusal with its own reason is about values together
        # or the server's set-up (invalid_window, channel_not_configured), which a
        # request that matches the API's document can meet: 422.
        return 400 if exc.reason == InvalidInput.reason else 422
    if isinstance(exc, RedemptionRefused):
        return {"already_redeemed": 409, "unknown_code": 404}.get(exc.reason, 422)
    if isinstance(exc, Conflict | PoolUnavailable):
        return 409
    if isinstance(exc, CodeSpaceTooSmall | MalformedFile):
        return 422
    return 422


def answer(status: int, error: str, message: str, headers: dict[str, str] | None = None, /,
           **details: Any) -> Response:
    """An error as the API answers it, in the one shape the document's `Error` states:
    `request_id` finds it in the server's log, and a 400 always names the wrong fields
    (an empty list when the body as a whole is wrong)."""
    if status == 400:
        details.setdefault("fields", [])
    response = jsonify({"error": error, "message": message, **_jsonable(details),
                        "request_id": request_id()})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _jsonable(details: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in details.items()}


def domain_error(exc: DomainError) -> Response:
    """A service's refusal on an /api path, as JSON with its reason; the value it names
    (the services' singular `field`) is named in `fields`, as a request that breaks the
    document names them."""
    details = dict(exc.details)
    field = details.pop("field", None)
    if field is not None:
        details["fields"] = [{"field": field, "message": exc.message}]
    return answer(status_for(exc), exc.reason, exc.message, **details)


def http_error(exc: HTTPException):
    """An HTTP error (404, 405, 413, 429, ...) on an /api path, as JSON."""
    status = exc.code or 500
    error = HTTP_REASONS.get(status, "error")
    message = exc.description or error
    if status == 413:
        message = "The request body is over the configured limit."
    elif status == 429:
        message = f"Too many requests: {exc.description}. Try again later."
    headers = dict(exc.get_headers())
    kept = {name: headers[name] for name in ("Allow", "Retry-After") if name in headers}
    return answer(status, error, message, kept)


def internal_error() -> Response:
    """An unexpected failure on an /api path (already logged with this request's id)."""
    return answer(500, INTERNAL_ERROR, f"Something went wrong on our side; it has been logged "
                  f"as request {request_id()}.")


def register(app: Flask) -> None:
    """Answer a view's ApiError as JSON."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return answer(exc.status, exc.error, exc.message, exc.headers, **exc.details)
