"""The portal with two routes that fail, for the log tests: `python -m tests.faulty_app
serve ...` runs `portal serve` on it, and gunicorn serves `tests.faulty_app:faulty_app()`."""

from __future__ import annotations

from flask import Flask

from portal import create_app
from portal.__main__ import PortalGroup

API_FAULT = "an API fault for the log test"
PAGE_FAULT = "a page fault for the log test"


def faulty_app() -> Flask:
    app = create_app()

    @app.get("/api/v1/test-fault")
    def api_fault():
        """Fail as a bug in an API view would."""
        raise RuntimeError(API_FAULT)

    @app.get("/test-fault")
    def page_fault():
        """Fail as a bug in a page would."""
        raise RuntimeError(PAGE_FAULT)

    return app


if __name__ == "__main__":
    PortalGroup(create_app=faulty_app)(prog_name="portal")
