"""What operators watch, read from the database cheaply: whether it answers, codes per
active pool, jobs under way, and deliveries per channel and state.

Each figure comes from rows the portal keeps anyway and that stay few whatever the
number of codes: the pools' counter rows (sixteen per pool), the job table (a row per
send or large file), and for the sends under way their deliveries through the
(job_id, state) index. No query reads the code or delivery tables whole.
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import func, select, text

from ..extensions import db
from ..models import JOB_UNDER_WAY, CodeStatus, Delivery, Job, JobKind, Pool, PoolCounter, PoolStatus

log = logging.getLogger(__name__)


def database_answers() -> bool:
    """Whether the database answers a trivial query now; why not goes to the log only
    (its message may name hosts and users)."""
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "not answering"
        log.warning("the database did not answer: %s", exc)
        db.session.rollback()
        return False


def pool_codes() -> list[tuple[int, str, str, int]]:
    """(pool id, name, status, count) for every active pool and code status."""
    statuses = [status.value for status in CodeStatus]
    sums = [func.coalesce(func.sum(getattr(PoolCounter, status)), 0) for status in statuses]
    rows = db.session.execute(
        select(Pool.id, Pool.name, *sums)
        .join(PoolCounter, PoolCounter.pool_id == Pool.id)
        .where(Pool.status == PoolStatus.ACTIVE)
        .group_by(Pool.id, Pool.name)
        .order_by(Pool.id))
    return [(pool_id, name, status, int(n))
            for pool_id, name, *counts in rows for status, n in zip(statuses, counts, strict=True)]


def jobs_under_way() -> list[tuple[str, str, int]]:
    """(kind, state, count) of the jobs that are queued, running or waiting."""
    rows = db.session.execute(
        select(Job.kind, Job.state, func.count())
        .where(Job.state.in_(JOB_UNDER_WAY))
        .group_by(Job.kind, Job.state)
        .order_by(Job.kind, Job.state))
    return [(kind, state, n) for kind, state, n in rows]


def deliveries() -> list[tuple[str, str, int]]:
    """(channel, state, count): each finished send's final counts (kept on its job) plus
    the live counts of the sends under way."""
    totals: Counter[tuple[str, str]] = Counter()
    finished = db.session.execute(
        select(Job.channel, Job.details)
        .where(Job.kind == JobKind.SEND, Job.state.not_in(JOB_UNDER_WAY)))
    for channel, details in finished:
        for state, _reason, n in (details or {}).get("counts", ()):
            totals[channel, state] += n
    live = db.session.execute(
        select(Job.channel, Delivery.state, func.count())
        .join(Delivery, Delivery.job_id == Job.id)
        .where(Job.kind == JobKind.SEND, Job.state.in_(JOB_UNDER_WAY))
        .group_by(Job.channel, Delivery.state))
    for channel, state, n in live:
        totals[channel, state] += n
    return [(channel, state, n) for (channel, state), n in sorted(totals.items())]
