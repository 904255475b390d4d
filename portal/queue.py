"""Background work on Huey: campaign sends, alerts and the worker's periodic checks.

The queue lives in an SQLite file in the instance folder by default, so one machine
needs no other server; with REDIS_URL set it lives in Redis, and workers on several
machines share it. What a job has done is kept in the portal's own database (the
`job` and `delivery` tables), so a lost queue message costs nothing: the periodic
recovery puts every unfinished job back on the queue.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import event
from sqlalchemy.orm import Session

from .extensions import db
from .models import Job, utcnow
from .services import alerts, deliveries, jobs, replenishment
from .services.errors import DomainError

log = logging.getLogger(__name__)
huey = Huey("portal", storage_class=MemoryStorage, utc=True, results=False)
_app: Flask | None = None


def init_queue(app: Flask) -> None:
    """Point the queue at the storage the app's configuration names."""
    global _app
    _app = app
    name = app.config["QUEUE_NAME"]
    kind = app.config["QUEUE_STORAGE"]
    if kind == "memory":
        huey.storage = MemoryStorage(name)
    elif kind == "redis":
        huey.storage = RedisStorage(name, url=app.config["REDIS_URL"], read_timeout=1)
    else:
        path = Path(app.instance_path) / "queue.sqlite3"
        huey.storage = SqliteStorage(name, filename=str(path))
    huey.name = name


def in_app(func: Callable) -> Callable:
    """Run a task inside the app's context (a worker thread has none of its own)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _app is None:
            raise RuntimeError("init_queue() was not called")
        with _app.app_context():
            return func(*args, **kwargs)

    return wrapper


@huey.task(name="job")
@in_app
def run_job(job_id: int) -> None:
    """Work on a job: deliver a send's messages (coming back when retries are due),
    or apply a queued file."""
    job = db.session.get(Job, job_id)
    if job is None:
        return
    if job.kind in jobs.FILE_KINDS:
        jobs.run_file_job(job_id, deliveries.worker_name())
        return
    due = deliveries.process_send(job_id)
    if due is not None:
        delay = max(0.0, (due - utcnow()).total_seconds())
        run_job.schedule((job_id,), delay=delay)


@huey.task(name="deliver_alerts")
@in_app
def deliver_alerts() -> None:
    """Send the alerts that are waiting."""
    alerts.deliver_pending()


def recover_jobs() -> list[int]:
    """Put back on the queue every job whose worker died or whose message was lost."""
    lease = timedelta(seconds=_app.config["JOB_LEASE_SECONDS"])
    ids = deliveries.recover(lease)
    for job_id in ids:
        run_job(job_id)
    return ids


@huey.periodic_task(crontab(minute="*"), name="maintenance")
@in_app
def maintenance() -> None:
    """Every minute: restart stalled jobs, catch missed low-stock crossings, warn about
    pools ending soon, and send their alerts."""
    recover_jobs()
    alerts.check_all_low_stock()
    alerts.check_expiry()
    alerts.deliver_pending()


@huey.task(name="top_up")
@in_app
def top_up(pool_ids: list[int]) -> None:
    """Answer low-stock crossings with the pools' automatic top-up."""
    replenishment.top_up_pools(set(pool_ids))


@huey.task(name="replenish_now")
@in_app
def replenish_now(pool_id: int) -> None:
    """A marketer's "Run now": every source of the pool."""
    try:
        replenishment.run_now(pool_id)
    except DomainError:
        pass  # another run has the pool, or nothing is set up: that run's record tells


@huey.periodic_task(crontab(minute="*"), name="replenish")
@in_app
def replenish() -> None:
    """Every minute: fetch the URLs that are due, scan the drop folder, top up."""
    replenishment.run_due()


@event.listens_for(Session, "after_commit")
def _alerts_written(session: Session) -> None:
    # An alert row was committed: have a worker send it now rather than within a minute,
    # and top up a pool that just ran low.
    pending = session.info.pop(alerts.PENDING_FLAG, False)
    crossed = session.info.pop(alerts.CROSSED_FLAG, None)
    try:
        if pending:
            deliver_alerts()
        if crossed:
            top_up(sorted(crossed))
    except Exception:  # noqa: BLE001
        # The change is committed; the worker's minute checks send and top up anyway.
        log.exception("could not queue the alert or top-up; the periodic check will")


@event.listens_for(Session, "after_rollback")
def _alerts_dropped(session: Session) -> None:
    session.info.pop(alerts.PENDING_FLAG, None)
    session.info.pop(alerts.CROSSED_FLAG, None)


def start_send(pool_id: int, channel: str, **options: Any) -> tuple[Job, bool]:
    """Queue a campaign send and hand it to a worker."""
    job, created = deliveries.start_send(pool_id, channel, **options)
    if created and job.active:
        run_job(job.id)
    return job, created


def queue_file(kind: str, pool_id: int, stream, name: str, **options: Any) -> Job:  # noqa: ANN001
    """Save a large upload and hand its import or assignment to a worker."""
    job = jobs.queue_file(kind, pool_id, stream, name, **options)
    run_job(job.id)
    return job
