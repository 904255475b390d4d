"""Giving one customer a code: the API's single assignment, and what the list and the
send paths share (which codes may be given, whose consent it was, the pool's checks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, or_, select, update
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import Code, CodeStatus, ConsentSource, Pool, PoolStatus, utcnow
from .. import history, pools
from ..actor import SYSTEM, Actor
from ..codes import effective_expiry
from ..customers import CustomerData, upsert
from ..errors import PoolUnavailable
from ..integrations import voucher_events
from ..loading import is_live
from ..tx import is_postgresql, write_transaction

HELD = (CodeStatus.ASSIGNED.value, CodeStatus.REDEEMED.value)


@dataclass(frozen=True)
class Assignment:
    code: str
    code_id: int
    pool_id: int
    customer_id: str
    status: str
    assigned_at: datetime
    expires_at: datetime | None  # effective: the code's own or the pool's end, the earlier
    # False when the customer already held their limit and got their code back.
    new: bool
    # The channels whose consent "yes" did not take: the customer had said no themselves.
    kept_withdrawn: tuple[str, ...] = ()


def usable_pool(session: Session, pool_id: int) -> Pool:
    pool = pools.load_pool(session, pool_id)
    if pool.status != PoolStatus.ACTIVE:
        raise PoolUnavailable(f"The pool “{pool.name}” is {pool.status}; it gives out no codes.",
                              reason="pool_inactive", status=pool.status)
    if pool.valid_until is not None and pool.valid_until <= utcnow():
        raise PoolUnavailable(f"The pool “{pool.name}” ended on {pool.valid_until:%Y-%m-%d}.",
                              reason="pool_expired")
    return pool


# Core statements on the tables: assignment is the hot path, and the ORM's per-object
# bookkeeping cost more than the database's own work.
_codes = Code.__table__
_RETURNED = (_codes.c.id, _codes.c.code, _codes.c.status, _codes.c.assigned_at,
             _codes.c.expires_at)


def givable(now: datetime) -> ColumnElement[bool]:
    """Which codes may be given to a customer now: available, not past their own expiry,
    and in a batch that has finished loading."""
    return and_(_codes.c.status == CodeStatus.AVAILABLE.value,
                or_(_codes.c.expires_at.is_(None), _codes.c.expires_at > now),
                is_live(_codes.c.batch_id))


def next_free(pool_id: int, now: datetime, limit: int):  # noqa: ANN201
    """The ids of the pool's next `limit` codes that may be given, in id order. On
    PostgreSQL they are locked, and those another transaction holds are skipped: several
    assigners each take different codes instead of queuing for the same ones."""
    pick = (select(_codes.c.id).where(_codes.c.pool_id == pool_id, givable(now))
            .order_by(_codes.c.id).limit(limit))
    return pick.with_for_update(skip_locked=True) if is_postgresql() else pick


def consent_source(actor: Actor, *, one: bool) -> tuple[ConsentSource, str]:
    """How and by whom customers' consent came with an assignment, for their record."""
    if actor.api_key_id is not None:
        return ConsentSource.API, f"API key {actor.api_key_id}"
    if actor.user_id is not None:
        return (ConsentSource.ADMIN if one else ConsentSource.LIST), f"user {actor.user_id}"
    return ConsentSource.LIST, "command line"


def _assign_in(session: Session, pool: Pool, data: CustomerData, actor: Actor) -> Assignment:
    """One customer's assignment inside the caller's transaction."""
    customer = upsert(session, data, *consent_source(actor, one=True))
    given = assign_to(session, pool, customer.id, data.customer_id, actor)
    return replace(given, kept_withdrawn=customer.kept_withdrawn)


def give_each(session: Session, pool: Pool, customers: Sequence[tuple[int, str]],
              actor: Actor = SYSTEM) -> dict[int, Assignment | None]:
    """For each (customer pk, customer id), in the caller's transaction: what `assign_to`
    gives them, or None where the pool has run out, in a few statements for the whole
    batch rather than a few per customer. A campaign send prepares its messages with it.

    The caller holds the customers' rows (locked on PostgreSQL), so nobody else gives
    them a code meanwhile; the codes are taken with SKIP LOCKED, as `assign_to` takes them.
    """
    rows = session.execute(
        select(_codes.c.customer_id, *_RETURNED)
        .where(_codes.c.pool_id == pool.id, _codes.c.customer_id.in_([pk for pk, _ in customers]))
    ).all()
    holding: dict[int, list] = {}
    for row in rows:
        if row.status in HELD:
            holding.setdefault(row.customer_id, []).append(row)
    result: dict[int, Assignment | None] = {}
    wanting = []
    for pk, customer_id in customers:
        held = sorted(holding.get(pk, ()), key=_held_first)
        if len(held) >= pool.per_customer_limit:
            result[pk] = _assignment(held[0], pool, customer_id, new=False)
        else:
            wanting.append((pk, customer_id))
    if not wanting:
        return result
    now = utcnow()
    picked = session.execute(next_free(pool.id, now, len(wanting))).scalars().all()
    pairs = dict(zip(picked, [pk for pk, _ in wanting][:len(picked)], strict=True))  # code -> customer
    given = {}
    if pairs:
        given = {row.customer_id: row for row in session.execute(
            update(_codes)
            .where(_codes.c.id.in_(pairs), _codes.c.status == CodeStatus.AVAILABLE.value)
            .values(status=CodeStatus.ASSIGNED.value, assigned_at=now,
                    customer_id=case(pairs, value=_codes.c.id))
            .returning(_codes.c.customer_id, *_RETURNED))}
        assert len(given) == len(pairs), (len(given), len(pairs))  # only available codes were picked
        history.record_many(session, [
            {"code_id": row.id, "pool_id": pool.id, "customer_id": pk, "kind": "assigned",
             "before": CodeStatus.AVAILABLE.value, "after": CodeStatus.ASSIGNED.value}
            for pk, row in given.items()], at=now, actor=actor)
    for pk, customer_id in wanting:
        row = given.get(pk)
        result[pk] = None if row is None else _assignment(row, pool, customer_id, new=True)
        if row is not None:
            voucher_events.assigned(session, code=row.code, pool_id=pool.id, customer_id=customer_id,
                                    assigned_at=now, expires_at=result[pk].expires_at)
    return result


def _held_first(row) -> tuple:  # noqa: ANN001
    """An unredeemed code first ("assigned" sorts before "redeemed"), newest first."""
    return row.status, -row.assigned_at.timestamp(), -row.id


def assign_to(session: Session, pool: Pool, customer_pk: int, customer_id: str,
              actor: Actor = SYSTEM) -> Assignment:
    """The code a known customer holds in the pool, or a new one, in the caller's
    transaction; the caller adjusts the counts when `new` is true."""
    # Status is filtered here, not in SQL: with `status IN (...)` in the WHERE clause
    # SQLite's planner preferred the (pool_id, status) index and walked every assigned
    # code of the pool, making each assignment slower than the last.
    rows = session.execute(
        select(*_RETURNED)
        .where(_codes.c.customer_id == customer_pk, _codes.c.pool_id == pool.id)
    ).all()
    held = sorted((row for row in rows if row.status in HELD), key=_held_first)
    if len(held) >= pool.per_customer_limit:
        return _assignment(held[0], pool, customer_id, new=False)

    now = utcnow()
    pick = next_free(pool.id, now, 1)
    row = session.execute(
        update(_codes)
        .where(_codes.c.id == pick.scalar_subquery(),
               _codes.c.status == CodeStatus.AVAILABLE.value)
        .values(status=CodeStatus.ASSIGNED.value, customer_id=customer_pk, assigned_at=now)
        .returning(*_RETURNED)
    ).first()
    if row is None:
        raise PoolUnavailable(f"The pool “{pool.name}” has no codes left.", reason="pool_exhausted")
    history.record(session, code_id=row.id, pool_id=pool.id, customer_id=customer_pk, kind="assigned",
                   before=CodeStatus.AVAILABLE.value, after=CodeStatus.ASSIGNED.value, at=now, actor=actor)
    voucher_events.assigned(session, code=row.code, pool_id=pool.id, customer_id=customer_id,
                            assigned_at=now, expires_at=effective_expiry(row.expires_at, pool.valid_until))
    return _assignment(row, pool, customer_id, new=True)


def _assignment(row, pool: Pool, customer_id: str, *, new: bool) -> Assignment:  # noqa: ANN001
    return Assignment(row.code, row.id, pool.id, customer_id, row.status, row.assigned_at,
                      effective_expiry(row.expires_at, pool.valid_until), new)


def assign_code(pool_id: int, customer: CustomerData, *, actor: Actor = SYSTEM) -> Assignment:
    """Give the customer the pool's next available code, or the one they already hold.

    Asking twice is safe: a customer at the pool's per-customer limit gets their
    existing code back with `new=False`.
    """
    data = customer.checked()
    with write_transaction() as session:
        pool = usable_pool(session, pool_id)
        result = _assign_in(session, pool, data, actor)
        if result.new:
            pools.adjust_counts(session, pool_id, pool=pool, available=-1, assigned=1)
    return result


def holdings(customer_pk: int) -> list[Code]:
    """A customer's codes, newest first."""
    return list(db.session.scalars(
        select(Code).where(Code.customer_id == customer_pk).order_by(Code.assigned_at.desc())
    ))


