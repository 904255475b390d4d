"""Every error on an /api path is JSON {error, message}: never an HTML page or a traceback."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
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


class ApiError(Exception):
    """An HTTP error with a machine-readable code, raised from API views."""

    def __init__(self, status: int, error: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.details = status, error, message, details


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


def body(error: str, message: str, **details: Any):
    """An error as the API answers it; `request_id` finds it in the server's log."""
    return jsonify({"error": error, "message": message, **_jsonable(details),
                    "request_id": request_id()})


def _jsonable(details: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in details.items()}


def domain_error(exc: DomainError):
    """A service's refusal on an /api path, as JSON with its reason; a wrong value is
    also named in `fields`, as a request that breaks the document names them."""
    details = dict(exc.details)
    if isinstance(exc, InvalidInput) and "field" in details:
        details.setdefault("fields", [{"field": details["field"], "message": exc.message}])
    return body(exc.reason, exc.message, **details), status_for(exc)


def http_error(exc: HTTPException):
    """An HTTP error (404, 405, 413, 429, ...) on an /api path, as JSON."""
    status = exc.code or 500
    error = HTTP_REASONS.get(status, "error")
    message = exc.description or error
    if status == 413:
        message = "The request body is over the configured limit."
    elif status == 429:
        message = f"Too many requests: {exc.description}. Try again later."
    response = body(error, message)
    response.status_code = status
    headers = dict(exc.get_headers())
    for name in ("Allow", "Retry-After"):
        if name in headers:
            response.headers[name] = headers[name]
    return response


def internal_error():
    """An unexpected failure on an /api path (already logged with this request's id)."""
    return body("internal_error", f"Something went wrong on our side; it has been logged as "
                f"request {request_id()}."), 500


def register(app: Flask) -> None:
    """Answer a view's ApiError as JSON."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return body(exc.error, exc.message, **exc.details), exc.status
