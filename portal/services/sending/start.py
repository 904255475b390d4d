"""Starting a campaign send, and reading which sends a pool has had."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import and_, func, insert, literal, or_, select, union, update

from ...extensions import db
from ...models import (
    Audience,
    Code,
    Delivery,
    DeliveryState,
    Job,
    JobKind,
    JobState,
    PoolStatus,
    Transport,
    UTCDateTime,
    utcnow,
)
from .. import transports
from ..errors import InvalidInput, NotFound, PoolUnavailable
from ..pools import load_pool
from ..tx import write_transaction

_deliveries = Delivery.__table__
# Skipped for a reason that may have changed since: consent given, pool refilled.
REQUEUED = (DeliveryState.QUEUED.value, DeliveryState.SKIPPED.value, DeliveryState.FAILED.value)


def check_transport(transport: str) -> Transport:
    """The send target a caller named, refused when unknown or not configured."""
    try:
        chosen = Transport(transport)
    except ValueError:
        names = ", ".join(t.value for t in Transport)
        raise InvalidInput(f"Unknown channel {transport}; use one of {names}.", field="channel") from None
    refused = transports.refusal(current_app.config, chosen)
    if refused:
        raise InvalidInput(refused, field="channel", reason="channel_not_configured")
    return chosen


def _members(pool_id: int):  # noqa: ANN202
    """Everyone the campaign reaches: its list and everyone holding one of its codes."""
    return union(
        select(Audience.customer_id).where(Audience.pool_id == pool_id),
        select(Code.customer_id).where(Code.pool_id == pool_id, Code.customer_id.is_not(None)),
    ).subquery()


def start_send(pool_id: int, channel: str, *, user_id: int | None = None,
               resend_interrupted: bool = False) -> tuple[Job, bool]:
    """Queue the pool's campaign on a transport: (job, created).

    Every customer in the campaign without a sent message on it gets a queued delivery
    (skipped and failed ones are tried again). While a send of the pool on that
    transport is under way, the same job comes back with created=False.
    """
    transport = check_transport(channel)
    with write_transaction() as session:
        pool = load_pool(session, pool_id, lock=True)
        if pool.status != PoolStatus.ACTIVE:
            raise PoolUnavailable(f"The pool “{pool.name}” is {pool.status}; it sends nothing.",
                                  reason="pool_inactive")
        running = session.scalars(select(Job).where(
            Job.pool_id == pool_id, Job.channel == transport.value,
            Job.state.in_((JobState.QUEUED, JobState.RUNNING, JobState.WAITING)))).first()
        if running is not None:
            return running, False
        now = utcnow()
        job = Job(kind=JobKind.SEND.value, pool_id=pool_id, channel=transport.value, user_id=user_id,
                  state=JobState.QUEUED.value, created_at=now)
        session.add(job)
        session.flush()
        members = _members(pool_id)
        known = select(_deliveries.c.customer_id).where(
            _deliveries.c.pool_id == pool_id, _deliveries.c.channel == transport.value)
        session.execute(insert(_deliveries).from_select(
            ["pool_id", "customer_id", "channel", "state", "job_id", "attempts", "updated_at"],
            select(literal(pool_id), members.c.customer_id, literal(transport.value),
                   literal(DeliveryState.QUEUED.value), literal(job.id), literal(0),
                   literal(now, UTCDateTime()))
            .where(members.c.customer_id.not_in(known))
            .order_by(members.c.customer_id)))
        again = and_(_deliveries.c.state.in_(REQUEUED),
                     or_(_deliveries.c.reason.is_(None), _deliveries.c.reason != "interrupted"))
        if resend_interrupted:
            again = or_(again, _deliveries.c.reason == "interrupted")
        session.execute(update(_deliveries).where(
            _deliveries.c.pool_id == pool_id, _deliveries.c.channel == transport.value, again,
            _deliveries.c.job_id != job.id,
        ).values(state=DeliveryState.QUEUED.value, job_id=job.id, attempts=0, not_before=None,
                 reason=None, error=None, updated_at=now))
        job.total = session.execute(select(func.count()).where(_deliveries.c.job_id == job.id)).scalar_one()
        if job.total == 0:
            job.state, job.started_at, job.finished_at = JobState.DONE.value, now, now
    return job, True


def jobs_for(pool_id: int, limit: int = 10) -> list[Job]:
    """The pool's latest sends, newest first."""
    return list(db.session.scalars(select(Job).where(Job.pool_id == pool_id, Job.kind == JobKind.SEND.value)
                                   .order_by(Job.id.desc()).limit(limit)))


def get_job(pool_id: int, job_id: int) -> Job:
    """The pool's send, or NotFound(unknown_job)."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or job.pool_id != pool_id or job.kind != JobKind.SEND:
        raise NotFound(f"There is no send {job_id} for this pool.", reason="unknown_job")
    return job


def audience_size(pool_id: int) -> int:
    """How many customers the campaign reaches: its list and everyone holding a code."""
    return db.session.execute(select(func.count()).select_from(_members(pool_id))).scalar_one()
