"""How far a send has got: its deliveries counted by state, with reasons and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import Delivery, DeliveryState, Job, JobState, utcnow
from ..errors import NotFound
from ..integrations.outbox import emit
from ..integrations.payloads import SendFinished

_deliveries = Delivery.__table__


def _counts(session: Session, job_id: int) -> list[list]:
    return [list(row) for row in session.execute(
        select(_deliveries.c.state, _deliveries.c.reason, func.count())
        .where(_deliveries.c.job_id == job_id)
        .group_by(_deliveries.c.state, _deliveries.c.reason))]


def _errors(session: Session, job_id: int) -> list[list]:
    """The job's five commonest errors, with how often each happened."""
    return [list(row) for row in session.execute(
        select(_deliveries.c.error, func.count()).where(
            _deliveries.c.job_id == job_id, _deliveries.c.error.is_not(None))
        .group_by(_deliveries.c.error).order_by(func.count().desc()).limit(5))]


def close(session: Session, job: Job, state: JobState, now: datetime) -> None:
    """End the job, keeping its final counts: a later send takes over its failed and
    skipped deliveries, and this job's report must not change when it does."""
    job.state, job.finished_at = state.value, now
    counts = _counts(session, job.id)
    job.details = {**(job.details or {}), "counts": counts, "errors": _errors(session, job.id)}
    emit(session, "send.finished", lambda: SendFinished(
        job_id=job.id, pool_id=job.pool_id, channel=job.channel, state=state.value,
        **{name: sum(n for kind, _, n in counts if kind == name) for name in ("sent", "failed", "skipped")}))


@dataclass
class Progress:
    job: Job
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    remaining: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[str, int]] = field(default_factory=list)
    # Until when the provider asked the send to wait (HTTP 429/503 with Retry-After).
    paused_until: datetime | None = None

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def percent(self) -> int:
        total = self.job.total
        return 100 if not total else min(100, int(self.done * 100 / total))


def progress(job_id: int) -> Progress:
    """Counts of a job's deliveries by state, with the reasons and the commonest errors."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"There is no send {job_id}.", reason="unknown_job")
    out = Progress(job)
    if job.active and job.paused_until is not None and job.paused_until > utcnow():
        out.paused_until = job.paused_until
    kept = None if job.active else (job.details or {}).get("counts")
    rows = kept if kept is not None else _counts(db.session, job_id)
    for state, reason, n in rows:
        if state == DeliveryState.SENT:
            out.sent += n
        elif state == DeliveryState.FAILED:
            out.failed += n
            out.failed_by_reason[reason or "error"] = out.failed_by_reason.get(reason or "error", 0) + n
        elif state == DeliveryState.SKIPPED:
            out.skipped += n
            out.skipped_by_reason[reason] = out.skipped_by_reason.get(reason, 0) + n
        else:
            out.remaining += n
    errors = (job.details or {}).get("errors") if kept is not None else None
    out.errors = [tuple(row) for row in (errors if errors is not None else _errors(db.session, job_id))]
    return out
