"""The `portal` command: Flask's CLI for this app plus the voucher commands."""

from __future__ import annotations

import functools
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from . import queue
from .extensions import db
from .models import Job, Transport
from .services import accounts, assignment, generation, imports, pools
from .services.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    MalformedFile,
    NotFound,
)
from .services.times import parse_moment

# Exit codes, so scripts can tell refusals apart.
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4

FIRST_ADMIN = "admin@portal.local"


def main() -> None:
    """Entry point of the `portal` console script."""
    from . import create_app

    FlaskGroup(create_app=create_app, help="Run and manage the voucher portal.")(
        prog_name="portal"
    )


def domain_errors(command: Callable) -> Callable:
    """Turn a service's refusal into a message on stderr and a distinct exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            click.echo(f"error: {exc.reason}: {exc.message}", err=True)
            if isinstance(exc, InvalidInput | MalformedFile):
                sys.exit(EXIT_BAD_INPUT)
            if isinstance(exc, NotFound):
                sys.exit(EXIT_NOT_FOUND)
            if isinstance(exc, Conflict):
                sys.exit(EXIT_CONFLICT)
            sys.exit(EXIT_REFUSED)

    return wrapper


class Moment(click.ParamType):
    name = "time"

    def __init__(self, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        try:
            return parse_moment(value, end_of_day=self.end_of_day)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time (2027-06-30T18:00+02:00).")


def upgrade_schema() -> None:
    """Create or upgrade the database schema to the newest migration."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


def register(app: Flask) -> None:
    """Attach the voucher commands to the app's CLI."""

    @app.cli.command("init")
    @with_appcontext
    def init() -> None:
        """Create or upgrade the database schema (safe to run again)."""
        upgrade_schema()
        click.echo("database is up to date")

    @app.cli.command("create-store")
    @click.argument("code")
    @click.argument("name")
    @with_appcontext
    @domain_errors
    def create_store(code: str, name: str) -> None:
        """Add a store that cashiers belong to."""
        store = accounts.create_store(code, name)
        click.echo(f"created store {store.code}")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--role", type=click.Choice(["admin", "marketer", "cashier"]), required=True)
    @click.option("--store", "store_code", help="The cashier's store code.")
    @click.option("--password-stdin", is_flag=True, required=True,
                  help="Read the password from standard input.")
    @with_appcontext
    @domain_errors
    def create_user(email: str, role: str, store_code: str | None, password_stdin: bool) -> None:
        """Add a user who signs in with email and password."""
        password = sys.stdin.readline().rstrip("\r\n")
        user = accounts.create_user(email, password, role, store_code)
        click.echo(f"created {user.role} {user.email}")

    @app.cli.command("create-api-key")
    @click.argument("name")
    @click.option("--scope", type=click.Choice(["pos", "integration"]), required=True)
    @with_appcontext
    @domain_errors
    def create_api_key(name: str, scope: str) -> None:
        """Make an API key; it is printed once, alone on the last line."""
        new = accounts.create_api_key(name, scope)
        click.echo(f"created {scope} key “{new.key.name}” (id {new.key.id}); store it now:")
        click.echo(new.secret)

    @app.cli.command("create-pool")
    @click.argument("name")
    @click.option("--per-customer-limit", type=click.IntRange(pools.PER_CUSTOMER_LIMIT_MIN,
                                                              pools.PER_CUSTOMER_LIMIT_MAX))
    @click.option("--valid-from", type=Moment())
    @click.option("--valid-until", type=Moment(end_of_day=True))
    @click.option("--low-stock-threshold", type=click.IntRange(pools.LOW_STOCK_THRESHOLD_MIN,
                                                               pools.LOW_STOCK_THRESHOLD_MAX))
    @click.option("--benefit", help="What the customer gets, as the customer reads it.")
    @click.option("--barcode-format", type=click.Choice(["qr", "code128", "ean13", "none"]))
    @with_appcontext
    @domain_errors
    def create_pool(name: str, **options: Any) -> None:
        """Create a code pool; its id is printed alone on the last line."""
        pool = pools.create_pool(name, **options)
        click.echo(f"created pool “{pool.name}”")
        click.echo(pool.id)

    @app.cli.command("import-codes")
    @click.argument("pool_id", type=int)
    @click.argument("file", type=click.File("rb"))
    @with_appcontext
    @domain_errors
    def import_codes(pool_id: int, file: Any) -> None:
        """Import a CSV or text file of codes into a pool (all of it or none)."""
        result = imports.import_codes(pool_id, file, source=getattr(file, "name", ""))
        click.echo(f"lines: {result.lines:,}")
        click.echo(f"imported: {result.imported:,}")
        click.echo(f"rejected: {result.rejected:,}")
        for reason, n in result.by_reason.items():
            click.echo(f"  {reason}: {n:,}")
        for rejection in result.rejections[:20]:
            click.echo(f"  line {rejection.line}: {rejection.reason}: {rejection.value!r}")
        if result.rejected > 20:
            click.echo(f"  … {result.rejected - 20:,} more rejected lines")
        for note in result.notes:
            click.echo(note)
        click.echo(f"pool now has {result.counts.available:,} available codes")

    @app.cli.command("generate-codes")
    @click.argument("pool_id", type=int)
    @click.option("--count", type=click.IntRange(min=1), required=True)
    @click.option("--length", type=click.IntRange(generation.LENGTH_MIN, generation.LENGTH_MAX),
                  default=generation.DEFAULT_LENGTH, show_default=True)
    @click.option("--charset", default="alphanumeric", show_default=True,
                  help="alphanumeric (no 0 O 1 I L), alphabetic, numeric, hex, or your own set.")
    @click.option("--pattern", help="For example SUMMER-####-#### (# is a random character).")
    @click.option("--prefix", default="")
    @click.option("--postfix", default="")
    @with_appcontext
    @domain_errors
    def generate_codes(pool_id: int, count: int, **spec: Any) -> None:
        """Generate unique random codes into a pool."""
        result = generation.generate_codes(pool_id, count, generation.Spec(**spec))
        click.echo(f"generated: {result.generated:,}")
        click.echo("sample: " + ", ".join(result.sample))
        click.echo(f"pool now has {result.counts.available:,} available codes")

    @app.cli.command("assign-codes")
    @click.argument("pool_id", type=int)
    @click.argument("file", type=click.File("rb"))
    @click.option("--on-send", is_flag=True,
                  help="Add the customers to the campaign; their codes come with their messages.")
    @with_appcontext
    @domain_errors
    def assign_codes(pool_id: int, file: Any, on_send: bool) -> None:
        """Assign codes to every customer in a CSV file."""
        result = assignment.assign_file(pool_id, file, now=not on_send)
        if on_send:
            click.echo(f"added to the campaign: {result.added:,}")
        click.echo(f"assigned: {result.assigned:,}")
        click.echo(f"already assigned: {result.already_assigned:,}")
        click.echo(f"failed: {len(result.failed):,}")
        for failure in result.failed[:20]:
            click.echo(f"  line {failure.line}: {failure.reason}: {failure.message}")

    @app.cli.command("send")
    @click.argument("pool_id", type=int)
    @click.option("--channel", type=click.Choice([t.value for t in Transport]), required=True)
    @click.option("--wait", is_flag=True,
                  help="Send from this process and return when done, with the counts.")
    @click.option("--resend-interrupted", is_flag=True,
                  help="Also send again the messages a stopped worker may have sent.")
    @with_appcontext
    @domain_errors
    def send(pool_id: int, channel: str, wait: bool, resend_interrupted: bool) -> None:
        """Send a pool's campaign on a channel to every customer not sent to yet."""
        from .services import sending

        job, created = sending.start_send(pool_id, channel, resend_interrupted=resend_interrupted)
        click.echo(f"{'started' if created else 'already under way:'} send {job.id} "
                   f"to {job.total:,} customers by {channel}")
        if not wait:
            if job.active:
                queue.run_job(job.id)
                click.echo("a worker (portal worker) sends it; follow it in the portal")
            return
        while job.active:
            # A run of this command stopped mid-message (Ctrl-C) left its row in doubt:
            # the recovery marks it interrupted, as a worker's would.
            queue.recover_jobs()
            due = queue.send_now(job.id)
            if due is not None:
                # Retries wait their turn: sleep until the first is due.
                time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.05)
            job = db.session.get(Job, job.id, populate_existing=True)
            if job.active and due is None:
                time.sleep(0.5)  # a worker holds the job: wait for it to finish
        report = sending.progress(job.id)
        click.echo(f"sent: {report.sent:,}")
        click.echo(f"failed: {report.failed:,}")
        for reason, n in sorted(report.failed_by_reason.items()):
            click.echo(f"  {reason}: {n:,}")
        click.echo(f"skipped: {report.skipped:,}")
        for reason, n in sorted(report.skipped_by_reason.items()):
            click.echo(f"  {reason}: {n:,}")
        for error, n in report.errors:
            click.echo(f"  {n:,} × {error}")
        if job.state == "failed":
            click.echo(f"error: {job.error}", err=True)
            sys.exit(EXIT_REFUSED)

    @app.cli.command("replenish")
    @click.argument("pool_id", type=int)
    @with_appcontext
    @domain_errors
    def replenish(pool_id: int) -> None:
        """Run a pool's replenishment now (URL, drop folder, top-up) and say what it did."""
        from .services import replenishment

        runs = replenishment.run_now(pool_id)
        if not runs:
            click.echo("nothing to do: no URL, no file waiting in the drop folder, no top-up due")
        for run in runs:
            line = f"{run.source}: {run.outcome}"
            if run.detail:
                line += f" ({run.detail})"
            if run.outcome == "imported":
                line += f": imported {run.imported:,}, rejected {run.rejected:,}"
                line += "".join(f", {reason} {n:,}" for reason, n in sorted(run.rejected_by_reason.items()))
            if run.generated:
                line += f": generated {run.generated:,}"
            if run.error:
                line += f": {run.error}"
            click.echo(line)
        click.echo(f"pool now has {pools.counts(pool_id).available:,} available codes")
        if any(run.outcome == "failed" for run in runs):
            sys.exit(EXIT_REFUSED)

    @app.cli.command("worker")
    @click.option("--threads", type=click.IntRange(min=1), help="Jobs run at once (WORKER_THREADS).")
    @with_appcontext
    def worker(threads: int | None) -> None:
        """Run background jobs (campaign sends, large files, alerts) until stopped."""
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        restarted = queue.recover_jobs()
        if restarted:
            click.echo(f"picked up {len(restarted)} unfinished job(s): {restarted}")
        queue.deliver_alerts()
        storage = current_app.config["QUEUE_STORAGE"]
        queue.run_worker(threads or current_app.config["WORKER_THREADS"],
                         on_ready=lambda: click.echo(f"worker ready ({storage} queue)"))

    @app.cli.command("serve")
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


def _die_with_parent() -> None:
    """In the worker started by `serve`: on Linux, end when `serve` ends, however it ends."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def ensure_first_admin() -> None:
    """Create an admin with a generated password when there is none, and print it once."""
    if accounts.has_admin():
        return
    password = secrets.token_urlsafe(12)
    accounts.create_user(FIRST_ADMIN, password, "admin")
    click.echo("created the first admin account; note the password, it is shown only once:")
    click.echo(f"  email:    {FIRST_ADMIN}")
    click.echo(f"  password: {password}")
