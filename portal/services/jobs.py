"""Job records: background work (a campaign send, a large code file or customer list),
who holds it, and the recovery of work whose worker died.

A run takes a job with a token of its own (`host:pid/random`): the conditional
update that claims it succeeds for one run only, and only the run holding the
current token may record progress or finish the job. So a duplicated queue message,
or a recovery that wrongly thought a run dead, never runs a job twice at once.

A file job is marked done inside the transaction that applies its file: a worker that
dies before the commit leaves nothing applied and the job is run again; one that dies
after leaves the job done, so a file is never applied twice.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Delivery, DeliveryState, Job, JobKind, JobState, utcnow
from .actor import Actor
from .errors import Conflict, NotFound
from .pools import load_pool
from .times import as_utc
from .tx import write_transaction

KEPT_FAILURES = 500
# A file job's import is one long transaction that cannot show signs of life: it is
# given this many leases before it counts as silent (its commit checks its claim).
FILE_PATIENCE = 30
# Between a job's commit (or hand-back) and its queue message there is a moment with no
# message.
ENQUEUE_GRACE = timedelta(seconds=10)
# A job whose runs died this many times (a crash that comes back every time) fails
# instead of being taken over again and again.
MOST_RESTARTS = 5
CLAIMABLE = (JobState.QUEUED.value, JobState.WAITING.value)

_jobs = Job.__table__
_deliveries = Delivery.__table__


def worker_name() -> str:
    """host:pid of this process, which the recovery uses to tell a dead worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    """A job as one run holds it: `token` is the run's own, written on the job."""

    job_id: int
    token: str


def claim(job_id: int, worker: str | None = None) -> Claim | None:
    """Take a queued (or waiting) job for a new run; None when another run holds it or
    it has ended. The update is conditional, so of two runs one gets the job."""
    token = f"{worker or worker_name()}/{uuid.uuid4().hex[:12]}"
    now = utcnow()
    with write_transaction() as session:
        taken = session.execute(update(_jobs).where(
            _jobs.c.id == job_id, _jobs.c.state.in_(CLAIMABLE))
            .values(state=JobState.RUNNING.value, worker=token, heartbeat_at=now,
                    started_at=func.coalesce(_jobs.c.started_at, now))).rowcount
    return Claim(job_id, token) if taken else None


def _held(held: Claim):  # noqa: ANN202
    return (_jobs.c.id == held.job_id, _jobs.c.state == JobState.RUNNING.value,
            _jobs.c.worker == held.token)


def hold(session: Session, held: Claim, now: datetime) -> bool:
    """In the caller's transaction: show the run is alive, and check it still holds
    the job. False when a recovery has taken it over (the run must stop recording)."""
    return bool(session.execute(update(_jobs).where(*_held(held)).values(heartbeat_at=now)).rowcount)


def release(session: Session, held: Claim, state: JobState = JobState.QUEUED) -> bool:
    """Hand the job back (to the queue, or to wait for a retry) if this run holds it; the
    caller puts a message for it on the queue."""
    return bool(session.execute(update(_jobs).where(*_held(held))
                                .values(state=state.value, worker=None, heartbeat_at=utcnow())).rowcount)


def report_progress(held: Claim, **progress: object) -> None:
    """Show how far a file job has got, and that its run is alive, in a short transaction
    of its own (the page's progress bar reads it); raises Conflict when another run has
    taken the job over, so that this one stops before it applies anything."""
    with write_transaction() as session:
        job = session.get(Job, held.job_id, populate_existing=True)
        shown = job is not None and session.execute(update(_jobs).where(*_held(held)).values(
            heartbeat_at=utcnow(), details={**(job.details or {}), "progress": progress})).rowcount
    if not shown:
        raise _taken_over()


def _taken_over() -> Conflict:
    return Conflict("Another run of this job has taken it over; this one changed nothing.",
                    reason="job_taken_over")


def finish_in(session: Session, held: Claim | None, details: dict) -> None:
    """Mark a file job done in the caller's transaction, with what it found; raises
    Conflict (rolling the work back) when another run has taken the job over."""
    if held is None:
        return
    job = session.get(Job, held.job_id, populate_existing=True)
    done = session.execute(update(_jobs).where(*_held(held)).values(
        state=JobState.DONE.value, finished_at=utcnow(),
        details={**(job.details or {}), "result": details})).rowcount
    if not done:
        raise _taken_over()


def fail(held: Claim, message: str) -> None:
    """End a file job that was refused (a malformed file, an archived pool): nothing applied."""
    with write_transaction() as session:
        session.execute(update(_jobs).where(*_held(held)).values(
            state=JobState.FAILED.value, error=message[:2000], finished_at=utcnow()))


def _uploads() -> Path:
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def queue_file(kind: str, pool_id: int, stream: BinaryIO, name: str, *, user_id: int | None = None,
               **options: object) -> Job:
    """Save an uploaded file and record a job for a worker to apply it."""
    load_pool(db.session, pool_id)
    path = _uploads() / f"{uuid.uuid4().hex}.upload"
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
    try:
        with write_transaction() as session:
            job = Job(kind=JobKind(kind).value, pool_id=pool_id, user_id=user_id,
                      state=JobState.QUEUED.value,
                      details={"path": path.name, "name": (name or "upload")[:200], **options})
            session.add(job)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


@dataclass
class FileRun:
    """A file job as its run holds it: the job, the saved upload and who sent it."""

    job: Job
    path: Path
    actor: Actor
    claim: Claim


def begin_file(job_id: int, worker: str | None = None) -> FileRun | None:
    """Claim a queued file job; None when another run holds it or it has ended."""
    held = claim(job_id, worker)
    if held is None:
        return None
    job = db.session.get(Job, job_id, populate_existing=True)
    return FileRun(job, _uploads() / job.details["path"],
                   Actor(user_id=job.user_id, api_key_id=job.details.get("api_key_id")), held)


def forget_upload(run: FileRun) -> None:
    """Remove a file job's upload once the job has ended (done or refused)."""
    db.session.rollback()
    if not db.session.get(Job, run.job.id, populate_existing=True).active:
        run.path.unlink(missing_ok=True)


def get(pool_id: int, job_id: int) -> Job:
    """The pool's job, or NotFound."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or job.pool_id != pool_id:
        raise NotFound(f"There is no job {job_id} for this pool.", reason="unknown_job")
    return job


def for_a_worker(size: int | None) -> bool:
    """Whether an upload of this many bytes (None: unknown) is applied by a worker rather
    than within the request: above BACKGROUND_FILE_BYTES, or of unknown length."""
    return size is None or size > current_app.config["BACKGROUND_FILE_BYTES"]


def size_of(stream: BinaryIO) -> int:
    """The bytes left in an uploaded file's stream, without reading it."""
    here = stream.tell()
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(here)
    return size - here


def worker_gone(worker: str | None) -> bool:
    """True when the run's worker ran on this machine and its process is no longer there."""
    if not worker or ":" not in worker:
        return False
    host, _, rest = worker.partition(":")
    pid = rest.split("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False



def _lost(session: Session, job: Job, now: datetime, lease: timedelta, messaged: Collection[int]) -> bool:
    if job.state == JobState.RUNNING:
        patience = lease * (FILE_PATIENCE if job.kind != JobKind.SEND else 1)
        return (job.heartbeat_at or job.created_at) < now - patience or worker_gone(job.worker)
    # Queued or waiting: lost only when no queue message can still run it, however
    # long it has waited for a free worker.
    handed_over = max(job.created_at, job.heartbeat_at or job.created_at)
    if job.id in messaged or handed_over > now - ENQUEUE_GRACE:
        return False
    if job.state == JobState.WAITING:
        due = session.execute(select(func.min(_deliveries.c.not_before)).where(
            _deliveries.c.job_id == job.id,
            _deliveries.c.state == DeliveryState.QUEUED.value)).scalar_one()
        return due is None or as_utc(due) <= now
    return True


def recover(lease: timedelta, messaged: Collection[int]) -> list[int]:
    """Jobs that nothing will run: a running job whose worker died or went silent, or a
    queued or waiting job with no queue message (`messaged` holds the ids that have one).
    A dead run's in-flight delivery is marked interrupted, its claim is cleared, and the
    job is returned for the caller to put back on the queue."""
    now = utcnow()
    out = []
    with write_transaction() as session:
        jobs = session.scalars(select(Job).where(
            Job.state.in_((JobState.QUEUED, JobState.RUNNING, JobState.WAITING)))
            .execution_options(populate_existing=True)).all()
        for job in jobs:
            if not _lost(session, job, now, lease, messaged):
                continue
            if job.state == JobState.RUNNING and not _take_over(session, job, now):
                continue
            out.append(job.id)
    return out


def _take_over(session: Session, job: Job, now: datetime) -> bool:
    """Take a dead run's job back, conditional on nothing having changed since it was
    read (the run finished, showed signs of life, or another recovery came first). Its
    in-flight message is marked interrupted; after MOST_RESTARTS the job fails instead."""
    restarts = (job.details or {}).get("restarts", 0) + 1
    failing = restarts > MOST_RESTARTS
    seen = (_jobs.c.heartbeat_at.is_(None) if job.heartbeat_at is None
            else _jobs.c.heartbeat_at == job.heartbeat_at)
    values = {"state": JobState.QUEUED.value, "worker": None, "heartbeat_at": now,
              "details": {**(job.details or {}), "restarts": restarts}}
    if failing:
        values.update(state=JobState.FAILED.value, finished_at=now,
                      error=f"Its worker stopped {MOST_RESTARTS} times while running it; the rest "
                            "was not done. Look at the worker's log, then start it again.")
    taken = session.execute(update(_jobs).where(
        _jobs.c.id == job.id, _jobs.c.state == JobState.RUNNING.value, _jobs.c.worker == job.worker,
        seen).values(**values)).rowcount
    if not taken:
        return False
    session.execute(update(_deliveries).where(
        _deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.FAILED.value, reason="interrupted", updated_at=now,
                error="The worker stopped while handing this message over; it may "
                      "have gone out, so it is not sent again on its own."))
    session.expire(job)
    return not failing
