"""Background file jobs: a large code file or customer list handled by a worker.

The upload is saved in the instance folder and a `job` row records it. The worker
runs the same all-or-nothing import or assignment as the web request would, and the
job is marked done inside that transaction: a worker that dies before the commit
leaves nothing applied and the job is run again; one that dies after leaves the job
done, so a file is never applied twice.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Job, JobState, Pool, utcnow
from .actor import Actor
from .errors import Conflict, DomainError, NotFound
from .tx import write_transaction

FILE_KINDS = ("import", "assign")
KEPT_FAILURES = 500


def _uploads() -> Path:
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def queue_file(kind: str, pool_id: int, stream: BinaryIO, name: str, *, user_id: int | None = None,
               **options: object) -> Job:
    """Save an uploaded file and record a job for a worker to apply it."""
    if db.session.get(Pool, pool_id) is None:
        raise NotFound(f"There is no pool {pool_id}.", reason="unknown_pool")
    path = _uploads() / f"{uuid.uuid4().hex}.upload"
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
    try:
        with write_transaction() as session:
            job = Job(kind=kind, pool_id=pool_id, user_id=user_id, state=JobState.QUEUED.value,
                      details={"path": path.name, "name": (name or "upload")[:200], **options})
            session.add(job)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


@dataclass(frozen=True)
class Claim:
    """A file job as one worker holds it: the import marks it done only if it still
    holds it, so two runs of one job (a recovery that thought it dead) apply it once."""

    job_id: int
    worker: str


def finish_in(session: Session, claim: Claim | None, details: dict) -> None:
    """Mark a file job done in the caller's transaction, with what it found; raises
    Conflict (rolling the work back) when another run has taken the job over."""
    if claim is None:
        return
    job = session.get(Job, claim.job_id, populate_existing=True)
    held = session.execute(update(Job.__table__).where(
        Job.id == claim.job_id, Job.state == JobState.RUNNING.value, Job.worker == claim.worker)
        .values(state=JobState.DONE.value, finished_at=utcnow(),
                details={**(job.details or {}), "result": details})).rowcount
    if not held:
        raise Conflict("Another run of this job has taken it over; this one changed nothing.",
                       reason="job_taken_over")


@dataclass
class Run:
    job: Job
    path: Path
    actor: Actor
    claim: Claim


def begin(job_id: int, worker: str) -> Run | None:
    """Take a queued file job for this run; None when it is not queued (done, failed,
    or held by another run — a recovery puts a dead run's job back in the queue)."""
    token = f"{worker}/{uuid.uuid4().hex[:8]}"
    now = utcnow()
    with write_transaction() as session:
        taken = session.execute(update(Job.__table__).where(
            Job.id == job_id, Job.state == JobState.QUEUED.value)
            .values(state=JobState.RUNNING.value, worker=token, heartbeat_at=now)).rowcount
        if not taken:
            return None
        job = session.get(Job, job_id, populate_existing=True)
        job.started_at = job.started_at or now
    return Run(job, _uploads() / job.details["path"], Actor(user_id=job.user_id), Claim(job_id, token))


def fail(claim: Claim, message: str) -> None:
    """End a file job that was refused (a malformed file, an archived pool): nothing applied."""
    with write_transaction() as session:
        session.execute(update(Job.__table__).where(
            Job.id == claim.job_id, Job.state == JobState.RUNNING.value, Job.worker == claim.worker)
            .values(state=JobState.FAILED.value, error=message[:2000], finished_at=utcnow()))


def run_file_job(job_id: int, worker: str) -> None:
    """Apply a queued import or customer list, all of it or none of it."""
    from . import assignment, imports

    run = begin(job_id, worker)
    if run is None:
        return
    job = run.job
    try:
        with open(run.path, "rb") as stream:
            if job.kind == "import":
                imports.import_codes(job.pool_id, stream, source=job.details["name"], actor=run.actor,
                                     job=run.claim)
            else:
                assignment.assign_file(job.pool_id, stream, actor=run.actor,
                                       now=bool(job.details.get("now", True)), job=run.claim)
    except FileNotFoundError:
        fail(run.claim, "The uploaded file is gone from the server; upload it again.")
    except DomainError as exc:
        if exc.reason != "job_taken_over":
            fail(run.claim, exc.message)
    db.session.rollback()
    if not db.session.get(Job, job.id, populate_existing=True).active:
        run.path.unlink(missing_ok=True)


def get(pool_id: int, job_id: int) -> Job:
    """The pool's job, or NotFound."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or job.pool_id != pool_id:
        raise NotFound(f"There is no job {job_id} for this pool.", reason="unknown_job")
    return job


def size_of(stream: BinaryIO) -> int:
    """The bytes left in an uploaded file's stream, without reading it."""
    here = stream.tell()
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(here)
    return size - here
