"""Setting the portal up and running it: `portal init` and `portal serve`."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from .exits import EXIT_CONFLICT

FIRST_ADMIN = "admin@portal.local"


@click.command("init")
@with_appcontext
def init() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    upgrade_schema()
    click.echo("database is up to date")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--worker/--no-worker", default=True, show_default=True,
              help="Also run a background worker (portal worker) beside the web server.")
@with_appcontext
def serve(host: str, port: int, threads: int, worker: bool) -> None:
    """Bring the database up to date, make a first admin if needed, and serve."""
    from waitress import serve as waitress_serve

    upgrade_schema()
    ensure_first_admin()
    app_obj = current_app._get_current_object()
    helper = None
    if worker:
        helper = subprocess.Popen([sys.executable, "-m", "portal", "worker"],
                                  preexec_fn=_die_with_parent)
        # A stop signal ends the web server by way of `finally`, which stops the worker.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    click.echo(f"serving the voucher portal on http://{host}:{port}")
    try:
        waitress_serve(app_obj, host=host, port=port, threads=threads)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port} ({exc.strerror}); is the portal "
                   "already running? Choose another port with --port.", err=True)
        sys.exit(EXIT_CONFLICT)
    finally:
        if helper is not None:
            helper.terminate()  # a graceful stop: sends hand their job back
            try:
                helper.wait(timeout=90)
            except subprocess.TimeoutExpired:
                helper.kill()


def upgrade_schema() -> None:
    """Create or upgrade the database schema to the newest migration."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


def ensure_first_admin() -> None:
    """Create an admin with a generated password when there is none, and print it once."""
    from ..services import accounts

    if accounts.has_admin():
        return
    password = secrets.token_urlsafe(12)
    accounts.create_user(FIRST_ADMIN, password, "admin")
    click.echo("created the first admin account; note the password, it is shown only once:")
    click.echo(f"  email:    {FIRST_ADMIN}")
    click.echo(f"  password: {password}")


def _die_with_parent() -> None:
    """In the worker started by `serve`: on Linux, end when `serve` ends, however it ends."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
