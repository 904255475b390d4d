"""Giving codes to customers (stage 3 of a campaign)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Code, CodeStatus, ConsentSource, Pool, PoolStatus, utcnow
from . import history, jobs, pools
from .actor import SYSTEM, Actor
from .codes import effective_expiry
from .customers import CustomerData, add_to_audience, parse_consent, upsert
from .errors import DomainError, InvalidInput, PoolUnavailable
from .filereader import header_key, open_table
from .integrations import voucher_events
from .loading import is_live
from .tx import is_postgresql, write_transaction

CUSTOMER_COLUMNS = {
    "customer_id": {"customer id", "customer", "customer number", "external id", "id"},
    "email": {"email", "e mail", "email address"},
    "phone": {"phone", "mobile", "phone number", "msisdn"},
    "first_name": {"first name", "firstname", "given name"},
    "last_name": {"last name", "lastname", "surname", "family name"},
    "email_consent": {"email consent", "email opt in", "email optin"},
    "sms_consent": {"sms consent", "sms opt in", "sms optin"},
}
CUSTOMER_COLUMNS = {name: {header_key(s) for s in spellings}
                    for name, spellings in CUSTOMER_COLUMNS.items()}
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


@dataclass
class Failure:
    line: int
    customer_id: str
    reason: str
    message: str


@dataclass
class Withdrawn:
    """A line whose consent "yes" did not take: the customer had unsubscribed or sent STOP."""

    line: int
    customer_id: str
    channels: list[str]


@dataclass
class BulkResult:
    assigned: int = 0
    already_assigned: int = 0
    added: int = 0  # to the campaign, their codes to come with its messages
    failed: list[Failure] = field(default_factory=list)
    counts: pools.Counts | None = None
    failed_count: int | None = None  # when `failed` holds only the first of them
    withdrawn: list[Withdrawn] = field(default_factory=list)
    withdrawn_count: int | None = None  # when `withdrawn` holds only the first of them

    def summary(self, kept: int = 500) -> dict:
        """The counts and the first failed lines, as a background job keeps them."""
        return {"assigned": self.assigned, "already_assigned": self.already_assigned,
                "added": self.added, "failed_count": len(self.failed),
                "failed": [asdict(f) for f in self.failed[:kept]],
                "withdrawn_count": len(self.withdrawn),
                "withdrawn": [asdict(w) for w in self.withdrawn[:kept]]}

    @classmethod
    def from_summary(cls, data: dict) -> BulkResult:
        return cls(data["assigned"], data["already_assigned"], data["added"],
                   [Failure(**f) for f in data["failed"]], failed_count=data["failed_count"],
                   withdrawn=[Withdrawn(**w) for w in data.get("withdrawn", [])],
                   withdrawn_count=data.get("withdrawn_count", 0))

    @property
    def withdrawals(self) -> int:
        return len(self.withdrawn) if self.withdrawn_count is None else self.withdrawn_count

    @property
    def failures(self) -> int:
        return len(self.failed) if self.failed_count is None else self.failed_count


def _usable_pool(session: Session, pool_id: int) -> Pool:
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
    # An unredeemed code first ("assigned" sorts before "redeemed"), newest first.
    held = sorted((row for row in rows if row.status in HELD),
                  key=lambda row: (row.status, -row.assigned_at.timestamp(), -row.id))
    if len(held) >= pool.per_customer_limit:
        return _assignment(held[0], pool, customer_id, new=False)

    now = utcnow()
    pick = (
        select(_codes.c.id)
        .where(
            _codes.c.pool_id == pool.id,
            givable(now),
        )
        .order_by(_codes.c.id)
        .limit(1)
    )
    if is_postgresql():
        # Concurrent assigners each take a different free row instead of queuing.
        pick = pick.with_for_update(skip_locked=True)
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
        pool = _usable_pool(session, pool_id)
        result = _assign_in(session, pool, data, actor)
        if result.new:
            pools.adjust_counts(session, pool_id, pool=pool, available=-1, assigned=1)
    return result


def assign_many(
    pool_id: int, customers: Iterable[tuple[int, CustomerData | DomainError]],
    *, actor: Actor = SYSTEM, now: bool = True, job: jobs.Claim | None = None,
) -> BulkResult:
    """Add a list of (line, customer) to the pool's campaign and, unless `now` is
    false, assign their codes, in one transaction.

    Lines that cannot be served are reported, not fatal: a wrong field fails that
    line, and once the pool runs out every later line fails with pool_exhausted
    (those customers stay in the campaign and get a code when it is sent, if the
    pool has been refilled by then). With `now` false, codes are given out as the
    campaign's messages go.
    """
    result = BulkResult()
    source = consent_source(actor, one=False)

    def add(line: int, data: CustomerData) -> int:
        customer = upsert(session, data, *source)
        add_to_audience(session, pool.id, customer.id)
        if customer.kept_withdrawn:
            result.withdrawn.append(Withdrawn(line, data.customer_id, list(customer.kept_withdrawn)))
        return customer.id

    with write_transaction() as session:
        pool = _usable_pool(session, pool_id)
        exhausted = False
        # Customers are locked in customer_id order, so two lists with the same
        # customers in another order wait for each other instead of deadlocking.
        ordered = sorted(customers, key=lambda item: (
            "" if isinstance(item[1], DomainError) else (item[1].customer_id or "").strip(), item[0]))
        for line, data in ordered:
            if isinstance(data, DomainError):
                result.failed.append(Failure(line, data.details.get("customer_id", ""),
                                             data.reason, data.message))
                continue
            try:
                data = data.checked()
            except InvalidInput as exc:
                result.failed.append(Failure(line, data.customer_id or "", exc.reason, exc.message))
                continue
            customer_pk = add(line, data)
            if not now:
                result.added += 1
                continue
            if exhausted:
                result.failed.append(Failure(line, data.customer_id, "pool_exhausted",
                                             "The pool had no codes left."))
                continue
            try:
                assignment = assign_to(session, pool, customer_pk, data.customer_id, actor)
            except PoolUnavailable as exc:
                exhausted = exc.reason == "pool_exhausted"
                result.failed.append(Failure(line, data.customer_id, exc.reason, exc.message))
                continue
            if assignment.new:
                result.assigned += 1
            else:
                result.already_assigned += 1
        result.failed.sort(key=lambda failure: failure.line)
        result.withdrawn.sort(key=lambda withdrawn: withdrawn.line)
        jobs.finish_in(session, job, result.summary())
        pools.adjust_counts(session, pool_id, pool=pool, available=-result.assigned,
                            assigned=result.assigned)
    result.counts = pools.counts(pool_id)
    return result


def read_customer_file(stream: BinaryIO) -> Iterable[tuple[int, CustomerData | DomainError]]:
    """(line, customer) for each row of a customer CSV, or the line's error."""
    table = open_table(stream, CUSTOMER_COLUMNS, "customer_id")
    cols = table.columns

    def cell(cells: list[str], name: str) -> str | None:
        index = cols.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    for line, cells in table.rows():
        customer_id = (cell(cells, "customer_id") or "").strip()
        try:
            yield line, CustomerData(
                customer_id=customer_id,
                email=cell(cells, "email"),
                phone=cell(cells, "phone"),
                first_name=cell(cells, "first_name"),
                last_name=cell(cells, "last_name"),
                email_consent=parse_consent(cell(cells, "email_consent"), "email_consent"),
                sms_consent=parse_consent(cell(cells, "sms_consent"), "sms_consent"),
            )
        except InvalidInput as exc:
            exc.details["customer_id"] = customer_id
            yield line, exc


def assign_file(pool_id: int, stream: BinaryIO, *, actor: Actor = SYSTEM,
                now: bool = True, job: jobs.Claim | None = None) -> BulkResult:
    """Assign codes to every customer in a CSV file (same reading rules as imports)."""
    return assign_many(pool_id, read_customer_file(stream), actor=actor, now=now, job=job)


def holdings(customer_pk: int) -> list[Code]:
    """A customer's codes, newest first."""
    return list(db.session.scalars(
        select(Code).where(Code.customer_id == customer_pk).order_by(Code.assigned_at.desc())
    ))


