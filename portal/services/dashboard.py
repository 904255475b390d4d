"""The marketer's dashboard: how the campaigns are doing (totals), what needs attention,
and one page of pools found by name, phase and order.

Counts come from the pools' counter shards, never from counting codes, and every part
is a fixed number of queries however many pools there are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select

from ..extensions import db
from ..models import (
    Audience,
    Delivery,
    DeliveryState,
    Pool,
    PoolCounter,
    PoolStatus,
    Redemption,
    Replenishment,
    utcnow,
)
from .alerts import EXPIRY_NOTICE
from .pools import Counts

PAGE_SIZE = 25
NAME_QUERY_MAX = 200
RECENT_DAYS = 7
ATTENTION_MAX = 20  # items listed; the rest are counted


class Phase(enum.StrEnum):
    """Where a pool's campaign is, as its pill says: the stored status (paused,
    archived) and, for an active pool, its validity window (scheduled, active, ended)."""

    ACTIVE = "active"
    SCHEDULED = "scheduled"
    PAUSED = "paused"
    ENDED = "ended"
    ARCHIVED = "archived"


PHASE_WORDS = {Phase.ACTIVE: "Active", Phase.SCHEDULED: "Scheduled", Phase.PAUSED: "Paused",
               Phase.ENDED: "Ended", Phase.ARCHIVED: "Archived"}


def phase(pool: Pool, now: datetime | None = None) -> Phase:
    """The pool's phase now (the pill on the dashboard and on the pool's page)."""
    now = now or utcnow()
    if pool.status == PoolStatus.ARCHIVED:
        return Phase.ARCHIVED
    if pool.valid_until is not None and pool.valid_until <= now:
        return Phase.ENDED
    if pool.status == PoolStatus.PAUSED:
        return Phase.PAUSED
    if pool.valid_from is not None and pool.valid_from > now:
        return Phase.SCHEDULED
    return Phase.ACTIVE


def phase_is(wanted: Phase, now: datetime) -> ColumnElement[bool]:
    """The SQL condition for pools in this phase: the same rules as `phase`."""
    archived = Pool.status == PoolStatus.ARCHIVED.value
    ended = and_(~archived, Pool.valid_until.is_not(None), Pool.valid_until <= now)
    running = and_(~archived, or_(Pool.valid_until.is_(None), Pool.valid_until > now))
    if wanted == Phase.ARCHIVED:
        return archived
    if wanted == Phase.ENDED:
        return ended
    if wanted == Phase.PAUSED:
        return and_(running, Pool.status == PoolStatus.PAUSED.value)
    started = or_(Pool.valid_from.is_(None), Pool.valid_from <= now)
    active = and_(running, Pool.status == PoolStatus.ACTIVE.value)
    return and_(active, ~started) if wanted == Phase.SCHEDULED else and_(active, started)


def _counter_sums():  # noqa: ANN202
    """Each pool's counts, summed over its shards, as a subquery."""
    return (select(PoolCounter.pool_id.label("pool_id"),
                   func.sum(PoolCounter.available).label("available"),
                   func.sum(PoolCounter.assigned).label("assigned"),
                   func.sum(PoolCounter.redeemed).label("redeemed"),
                   func.sum(PoolCounter.canceled).label("canceled"))
            .group_by(PoolCounter.pool_id).subquery())


# --- the tiles -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Totals:
    active_pools: int
    available: int
    given_out: int  # assigned or redeemed
    redeemed: int
    redeemed_recently: int  # in the last RECENT_DAYS days
    recent_days: int = RECENT_DAYS

    @property
    def redemption_rate(self) -> float | None:
        """Redeemed of the codes given out (None before any is given out)."""
        return self.redeemed / self.given_out if self.given_out else None


def totals(now: datetime | None = None) -> Totals:
    """The dashboard's tiles, over every pool not archived: two queries."""
    now = now or utcnow()
    sums = _counter_sums()
    row = db.session.execute(
        select(func.count(case((phase_is(Phase.ACTIVE, now), 1))),
               func.coalesce(func.sum(sums.c.available), 0),
               func.coalesce(func.sum(sums.c.assigned), 0),
               func.coalesce(func.sum(sums.c.redeemed), 0))
        .select_from(Pool).outerjoin(sums, sums.c.pool_id == Pool.id)
        .where(Pool.status != PoolStatus.ARCHIVED.value)).one()
    recent = db.session.scalar(
        select(func.count()).select_from(Redemption)
        .where(Redemption.redeemed_at >= now - timedelta(days=RECENT_DAYS),
               Redemption.rolled_back_at.is_(None)))
    active, available, assigned, redeemed = (int(n or 0) for n in row)
    return Totals(active, available, assigned + redeemed, redeemed, int(recent or 0))


# --- what needs attention -------------------------------------------------------------------------

class Concern(enum.StrEnum):
    LOW_STOCK = "low_stock"
    EXPIRING = "expiring"
    FAILED_SENDS = "failed_sends"
    FAILED_REFILL = "failed_refill"


@dataclass(frozen=True)
class Attention:
    pool_id: int
    pool_name: str
    concern: Concern
    count: int  # codes available, codes unredeemed, messages failed; 0 for a refill
    threshold: int = 0
    since: datetime | None = None  # when a refill began failing; when a pool ends


def low_stock_condition(sums, now: datetime) -> ColumnElement[bool]:  # noqa: ANN001
    """A running pool needs codes: fewer available than its threshold, or none at all
    once it has had codes or has customers waiting for theirs (even with no threshold:
    a pool that ran dry is what a marketer must hear about). A new, empty pool with
    nobody waiting is not low on stock: its set-up stage says it needs codes."""
    available = func.coalesce(sums.c.available, 0)
    had_codes = (func.coalesce(sums.c.assigned, 0) + func.coalesce(sums.c.redeemed, 0)
                 + func.coalesce(sums.c.canceled, 0)) > 0
    waiting = select(Audience.pool_id).where(Audience.pool_id == Pool.id).exists()
    running = or_(phase_is(Phase.ACTIVE, now), phase_is(Phase.SCHEDULED, now))
    return and_(running, or_(available < Pool.low_stock_threshold,
                             and_(available == 0, or_(had_codes, waiting))))


def attention(now: datetime | None = None) -> tuple[list[Attention], int]:
    """(the first ATTENTION_MAX concerns, how many there are in all): low stock, ending
    soon with codes still unredeemed, messages that failed, a refill that keeps failing.
    Four queries, whatever the number of pools."""
    now = now or utcnow()
    sums = _counter_sums()
    found: list[Attention] = []
    live = Pool.status != PoolStatus.ARCHIVED.value
    for pool_id, name, available, threshold in db.session.execute(
            select(Pool.id, Pool.name, func.coalesce(sums.c.available, 0), Pool.low_stock_threshold)
            .outerjoin(sums, sums.c.pool_id == Pool.id)
            .where(low_stock_condition(sums, now)).order_by(Pool.name)):
        found.append(Attention(pool_id, name, Concern.LOW_STOCK, int(available), threshold))
    for pool_id, name, unredeemed, ends in db.session.execute(
            select(Pool.id, Pool.name, sums.c.assigned, Pool.valid_until)
            .join(sums, sums.c.pool_id == Pool.id)
            .where(live, Pool.valid_until > now, Pool.valid_until <= now + EXPIRY_NOTICE,
                   sums.c.assigned > 0).order_by(Pool.valid_until)):
        found.append(Attention(pool_id, name, Concern.EXPIRING, int(unredeemed), since=ends))
    failed = (select(Delivery.pool_id, func.count().label("n"))
              .where(Delivery.state == DeliveryState.FAILED.value)
              .group_by(Delivery.pool_id).subquery())
    for pool_id, name, n in db.session.execute(
            select(Pool.id, Pool.name, failed.c.n).join(failed, failed.c.pool_id == Pool.id)
            .where(live).order_by(failed.c.n.desc(), Pool.name)):
        found.append(Attention(pool_id, name, Concern.FAILED_SENDS, int(n)))
    for pool_id, name, since in db.session.execute(
            select(Pool.id, Pool.name, Replenishment.failing_since)
            .join(Replenishment, Replenishment.pool_id == Pool.id)
            .where(live, Replenishment.failing_since.is_not(None)).order_by(Pool.name)):
        found.append(Attention(pool_id, name, Concern.FAILED_REFILL, 0, since=since))
    return found[:ATTENTION_MAX], len(found)


# --- one page of pools ---------------------------------------------------------------------------

SORTS = {
    "created": "Newest first",
    "name": "Name (A to Z)",
    "available": "Most codes available",
    "rate": "Highest redemption rate",
}


@dataclass(frozen=True)
class Listing:
    rows: list[tuple[Pool, Counts]]
    total: int  # pools matching, on every page
    page: int
    pages: int
    query: str
    phase: str
    sort: str


def listing(query: str = "", wanted: str = "", sort: str = "created", page: int = 1,
            now: datetime | None = None) -> Listing:
    """One page of pools whose name contains `query`, in phase `wanted` (any when empty),
    in the order `sort` names: two queries."""
    now = now or utcnow()
    query = query.strip()[:NAME_QUERY_MAX]
    wanted = wanted if wanted in set(Phase) else ""
    sort = sort if sort in SORTS else "created"
    sums = _counter_sums()
    conditions = []
    if query:
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(func.lower(Pool.name).like(f"%{escaped.lower()}%", escape="\\"))
    if wanted:
        conditions.append(phase_is(Phase(wanted), now))
    total = int(db.session.scalar(select(func.count()).select_from(Pool).where(*conditions)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    available = func.coalesce(sums.c.available, 0)
    given = func.coalesce(sums.c.assigned, 0) + func.coalesce(sums.c.redeemed, 0)
    rate = case((given > 0, func.coalesce(sums.c.redeemed, 0) * literal(1.0) / given), else_=-1.0)
    order = {"created": (Pool.created_at.desc(), Pool.id.desc()),
             "name": (func.lower(Pool.name), Pool.id),
             "available": (available.desc(), Pool.id.desc()),
             "rate": (rate.desc(), given.desc(), Pool.id.desc())}[sort]
    rows = db.session.execute(
        select(Pool, available, func.coalesce(sums.c.assigned, 0), func.coalesce(sums.c.redeemed, 0),
               func.coalesce(sums.c.canceled, 0))
        .outerjoin(sums, sums.c.pool_id == Pool.id).where(*conditions)
        .order_by(*order).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    out = [(pool, Counts(*(int(n) for n in numbers))) for pool, *numbers in rows]
    return Listing(out, total, page, pages, query, wanted, sort)
