"""The portal's log, and each request's id in it: an error page and a JSON error show the
id, so a person can quote it and an operator can find the traceback it belongs to."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, g, request

FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
HEADER = "X-Request-ID"
# An id a proxy or client sent is kept when it is plainly an id (so it cannot forge
# log lines or fill the log); anything else gets a fresh one.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def configure() -> None:
    """Log to standard error at INFO, unless the host already set logging up (gunicorn
    with --log-config, a test runner): every server the portal runs under then keeps the
    tracebacks of its 500s."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def request_id() -> str:
    """This request's id: the caller's X-Request-ID when it is a sane one, else a new one."""
    if "request_id" not in g:
        incoming = request.headers.get(HEADER, "")
        g.request_id = incoming if _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
    return g.request_id


def register(app: Flask) -> None:
    @app.after_request
    def send_request_id(response):  # noqa: ANN001, ANN202
        response.headers[HEADER] = request_id()
        return response
