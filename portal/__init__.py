"""The voucher portal: code pools, assignment, distribution and redemption."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

ROOT = Path(__file__).resolve().parent.parent


class RowId(IntegerConverter):
    """A database id in a URL: any other number (0, or past 64 bits) is a plain 404."""

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number < 2**63:
            raise NotFound()
        return number


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app; test_config overrides what the environment says."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from . import config

    app.url_map.converters["id"] = RowId

    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)

    from .extensions import configure_sqlite, db, limiter, migrate

    db.init_app(app)
    limiter.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])

    from . import models  # noqa: F401  (register the tables with the metadata)
    from .api import bp as api_bp
    from .api import errors as api_errors
    from .main import bp as main_bp
    from .voucher import bp as voucher_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(voucher_bp)
    api_errors.register(app)

    from .cli import register

    register(app)
    return app
