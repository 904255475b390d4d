"""Getting codes to customers and keeping pools stocked: `portal send`, `replenish`, `worker`."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from ..vocabulary import Transport
from .exits import EXIT_REFUSED, POOL_ID, domain_errors


@click.command("send")
@click.argument("pool_id", type=POOL_ID)
@click.option("--channel", type=click.Choice([word.value for word in Transport]), required=True)
@click.option("--wait", is_flag=True,
              help="Send from this process and return when done, with the counts.")
@click.option("--resend-interrupted", is_flag=True,
              help="Also send again the messages a stopped worker may have sent.")
@with_appcontext
@domain_errors
def send(pool_id: int, channel: str, wait: bool, resend_interrupted: bool) -> None:
    """Send a pool's campaign on a channel to every customer not sent to yet."""
    from ..extensions import db
    from ..models import Job
    from ..queue import recover_jobs, run_job, send_now
    from ..services import sending

    job, created = sending.start_send(pool_id, channel, resend_interrupted=resend_interrupted)
    click.echo(f"{'started' if created else 'already under way:'} send {job.id} "
               f"to {job.total:,} customers by {channel}")
    if not wait:
        if job.active:
            run_job(job.id)
            click.echo("a worker (portal worker) sends it; follow it in the portal")
        return
    while job.active:
        # A run of this command stopped mid-message (Ctrl-C) left its row in doubt:
        # the recovery marks it interrupted, as a worker's would.
        recover_jobs()
        due = send_now(job.id)
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


@click.command("replenish")
@click.argument("pool_id", type=POOL_ID)
@with_appcontext
@domain_errors
def replenish(pool_id: int) -> None:
    """Run a pool's replenishment now (URL, drop folder, top-up) and say what it did."""
    from ..services import pools, replenishment

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


@click.command("worker")
@click.option("--threads", type=click.IntRange(min=1), help="Jobs run at once (WORKER_THREADS).")
@with_appcontext
def worker(threads: int | None) -> None:
    """Run background jobs (campaign sends, large files, alerts) until stopped."""
    from ..queue import deliver_alerts, recover_jobs, run_worker

    restarted = recover_jobs()
    if restarted:
        click.echo(f"picked up {len(restarted)} unfinished job(s): {restarted}")
    deliver_alerts()
    # SIGTERM stops gracefully (sends hand their job back between messages); Ctrl-C at once.
    storage = current_app.config["QUEUE_STORAGE"]
    run_worker(threads or current_app.config["WORKER_THREADS"],
               on_ready=lambda: click.echo(f"worker ready ({storage} queue)"))
