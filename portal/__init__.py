"""The voucher portal: code pools, assignment, distribution and redemption."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def register_security(app: Flask) -> None:
    """Session cookies and which sessions count, and the security headers."""
    from . import headers, sessions

    sessions.register(app)
    headers.register(app)


def create_app(test_config: dict | None = None, *, surfaces: bool = True) -> Flask:
    """Build the Flask app; test_config overrides what the environment says.

    Without `surfaces` the app has its services, queue and commands but no pages, API or
    migrations: what a command that loads or assigns codes needs, built in a fraction of
    the time (the `portal` command builds such an app for those commands).
    """
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from . import config, logs
    from .row_ids import CONVERTERS

    logs.configure()

    app.url_map.converters.update(CONVERTERS)

    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
        config.check_timezone(app.config["PORTAL_TIMEZONE"])
    if app.config["TRUSTED_PROXIES"]:
        # The client's address (for per-address limits) and scheme are those the nearest
        # proxies forwarded. Without trusted proxies the headers are ignored: a client
        # could otherwise claim any address it likes.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    from .extensions import configure_sqlite, db

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    if surfaces:
        _add_surfaces(app)

    from .queue import init_queue

    init_queue(app)

    from .commands import register

    register(app)
    return app


def _add_surfaces(app: Flask) -> None:
    """The pages, the API and what serves them: sign-in, limits, CSRF, security headers,
    request logs and metrics; and Flask-Migrate's `db` commands."""
    from flask_migrate import Migrate

    from .extensions import csrf, db, limiter, login_manager

    limiter.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    Migrate(app, db, directory=str(ROOT / "migrations"))

    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .api import errors as api_errors
    from .auth import bp as auth_bp
    from .cashier import bp as cashier_bp
    from .main import bp as main_bp
    from .optout import bp as optout_bp
    from .pools import bp as pools_bp
    from .voucher import bp as voucher_bp

    for blueprint in (main_bp, auth_bp, pools_bp, cashier_bp, admin_bp, voucher_bp, optout_bp, api_bp):
        app.register_blueprint(blueprint)
    csrf.exempt(api_bp)  # API calls carry a bearer key, not a browser session
    # A mailbox provider's one-click POST has no session, and an SMS provider a token.
    csrf.exempt(optout_bp)
    api_errors.register(app)

    register_security(app)

    from . import logs, metrics
    from .web import register as register_web

    logs.register(app)
    metrics.register(app)
    register_web(app)
