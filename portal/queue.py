"""Background work on Huey: what runs jobs, alerts and the worker's periodic checks, and
the table of what runs after a committed change.

The queue lives in an SQLite file in the instance folder by default, so one machine
needs no other server; with REDIS_URL set it lives in Redis, and workers on several
machines share it. What a job has done is kept in the portal's own database (the
`job` and `delivery` tables), so a lost queue message costs nothing: the periodic
recovery puts every job that nothing would run back on the queue.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from . import emails
from .extensions import db
from .models import Job, JobKind, utcnow
from .services import alerts, assignment, events, imports, jobs, loading, replenishment, sending
from .services.errors import DomainError
from .services.integrations import delivery as event_delivery

log = logging.getLogger(__name__)
# A running `portal worker` says it is alive this often, in the queue's storage; the
# worker is "ready" (/readyz) while the latest heartbeat is at most HEARTBEAT_FRESH old.
HEARTBEAT_KEY = "worker-heartbeat"
HEARTBEAT_SECONDS = 30
HEARTBEAT_FRESH = 120
huey = Huey("portal", storage_class=MemoryStorage, utc=True, results=False)
_app: Flask | None = None
# Set while `run_worker` is stopping: a send hands its job back between two messages.
_stopping: Callable[[], bool] = lambda: False  # noqa: E731


def init_queue(app: Flask) -> None:
    """Point the queue at the storage the app's configuration names, and give the app
    its table of what runs after a committed change."""
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
    events.install(app, HANDLERS)


def in_app(func: Callable) -> Callable:
    """Run a task inside the app's context (a worker thread has none of its own)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _app is None:
            raise RuntimeError("init_queue() was not called")
        with _app.app_context():
            return func(*args, **kwargs)

    return wrapper


def _run_file_job(job_id: int) -> None:
    """Apply a queued import or customer list, all of it or none of it."""
    run = jobs.begin_file(job_id)
    if run is None:
        return
    job = run.job
    try:
        with open(run.path, "rb") as stream:
            if job.kind == JobKind.IMPORT:
                imports.import_codes(job.pool_id, stream, source=job.details["name"], actor=run.actor,
                                     job=run.claim, wait=loading.WAIT_IN_BACKGROUND)
            else:
                assignment.assign_file(job.pool_id, stream, actor=run.actor,
                                       now=bool(job.details.get("now", True)), job=run.claim)
    except FileNotFoundError:
        jobs.fail(run.claim, "The uploaded file is gone from the server; upload it again.")
    except DomainError as exc:
        if exc.reason != "job_taken_over":
            jobs.fail(run.claim, exc.message)
    jobs.forget_upload(run)


def send_now(job_id: int) -> Any:
    """Run a send job in this process until nothing is due: when to run it again, or None."""
    return sending.process_send(job_id, emails.voucher_html, should_stop=_stopping)


@huey.task(name="job")
@in_app
def run_job(job_id: int) -> None:
    """Work on a job: deliver a send's messages (coming back when retries are due),
    or apply a queued file."""
    job = db.session.get(Job, job_id)
    if job is None:
        return
    if job.kind != JobKind.SEND:
        _run_file_job(job_id)
        return
    due = send_now(job_id)
    if due is not None:
        delay = max(0.0, (due - utcnow()).total_seconds())
        run_job.schedule((job_id,), delay=delay)


@huey.task(name="deliver_alerts")
@in_app
def deliver_alerts() -> None:
    """Send the alerts that are waiting."""
    alerts.deliver_pending(emails.alert_html)


def _messaged_jobs() -> set[int]:
    """The jobs that a message waiting on the queue (now or scheduled) will run."""
    waiting = list(huey.pending()) + list(huey.scheduled())
    return {task.args[0] for task in waiting if task.name == run_job.name and task.args}


def recover_jobs() -> list[int]:
    """Put back on the queue every job that nothing would run: its worker died or went
    silent, or its queue message was lost."""
    lease = timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])
    ids = jobs.recover(lease, _messaged_jobs())
    for job_id in ids:
        run_job(job_id)
    return ids


@huey.periodic_task(crontab(minute="*"), name="maintenance")
@in_app
def maintenance() -> None:
    """Every minute: remove the codes of loads that died, restart stalled jobs, catch
    missed low-stock crossings, warn about pools ending soon, send their alerts, and
    queue the delivery of waiting events."""
    loading.recover()
    recover_jobs()
    alerts.check_all_low_stock()
    alerts.check_expiry()
    alerts.deliver_pending(emails.alert_html)
    deliver_events()


@huey.task(name="deliver_events")
@in_app
def deliver_events() -> None:
    """Deliver the outbox's due events to the webhook endpoints, coming back when the
    next retry is due (the minute check also catches up)."""
    due = event_delivery.deliver_due()
    if due is not None:
        deliver_events.schedule(delay=max(1.0, (due - utcnow()).total_seconds()))


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


# What runs after a change is committed, in one place. Each handler only queues work:
# should the queue be unreachable, the worker's minute checks catch up.
HANDLERS: events.Handlers = {
    events.AlertWritten: (lambda event: deliver_alerts(),),
    events.LowStockCrossed: (lambda event: top_up([event.pool_id]),),
    events.OutboxWritten: (lambda event: deliver_events(),),
}


def start_send(pool_id: int, channel: str, **options: Any) -> tuple[Job, bool]:
    """Queue a campaign send and hand it to a worker."""
    job, created = sending.start_send(pool_id, channel, **options)
    if created and job.active:
        run_job(job.id)
    return job, created


def queue_file(kind: str, pool_id: int, stream, name: str, **options: Any) -> Job:  # noqa: ANN001
    """Save a large upload and hand its import or assignment to a worker."""
    job = jobs.queue_file(kind, pool_id, stream, name, **options)
    run_job(job.id)
    return job


def send_test(pool_id: int, channel: str, to: str) -> None:
    """Send the pool's message with a sample code to the marketer's own address or phone."""
    sending.send_test(pool_id, channel, to, emails.voucher_html)


def record_heartbeat(at: float | None = None) -> None:
    """Say in the queue's storage that a worker (this host and process) is alive."""
    huey.put(HEARTBEAT_KEY, {"at": time.time() if at is None else at,
                             "worker": f"{socket.gethostname()}:{os.getpid()}"})


def last_heartbeat() -> dict | None:
    """The latest worker heartbeat ({at, worker}), None when no worker ever sent one;
    raises when the queue's storage does not answer."""
    return huey.get(HEARTBEAT_KEY, peek=True)


def _beat(stop: threading.Event) -> None:
    """Record a heartbeat now and every HEARTBEAT_SECONDS until the worker stops: from a
    thread of its own, so a worker whose job threads are all busy with long sends is
    still seen alive."""
    while True:
        try:
            record_heartbeat()
        except Exception:  # noqa: BLE001 - the storage is down; /readyz says so
            log.warning("could not record the worker's heartbeat", exc_info=True)
        if stop.wait(HEARTBEAT_SECONDS):
            return


def run_worker(threads: int, on_ready: Callable[[], None] = lambda: None) -> None:
    """Run the consumer until stopped (recover unfinished jobs first with recover_jobs).
    SIGTERM stops it gracefully: a send hands its job back between two messages. Ctrl-C
    stops it at once; the recovery then takes its jobs over."""
    global _stopping
    consumer = huey.create_consumer(
        workers=threads, worker_type="thread", periodic=True, initial_delay=0.05, backoff=1.5,
        max_delay=1.0, graceful_signal="TERM", shutdown_timeout=60)
    _stopping = consumer.stop_flag.is_set
    threading.Thread(target=_beat, args=(consumer.stop_flag,), name="heartbeat", daemon=True).start()
    on_ready()
    consumer.run()
