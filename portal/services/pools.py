"""Code pools: their settings, their status and their counts."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import COUNTER_SHARDS, BarcodeFormat, Code, CodeStatus, Pool, PoolCounter, PoolStatus, utcnow
from . import alerts, formats
from .errors import Conflict, InvalidInput, NotFound
from .times import FIRST_YEAR, LAST_YEAR, in_range
from .tx import is_postgresql, write_transaction

EDITABLE = (
    "name",
    "description",
    "benefit",
    "terms",
    "barcode_format",
    "valid_from",
    "valid_until",
    "per_customer_limit",
    "low_stock_threshold",
    "require_assignment",
    "status",
)

# Each field's limits, enforced here; the wizard's PoolForm and the API's schemas import
# them, so a pool one surface saves can be saved again from the other. Longer values
# stored before a limit was lowered are still shown: only a new value is measured.
NAME_MAX = 200  # the column's size
BENEFIT_MAX = 500  # one line the customer reads on the voucher, and the cashier at the till
DESCRIPTION_MAX = 10_000
TERMS_MAX = 10_000
TEXT_MAX = {"benefit": BENEFIT_MAX, "description": DESCRIPTION_MAX, "terms": TERMS_MAX}
PER_CUSTOMER_LIMIT_MIN, PER_CUSTOMER_LIMIT_MAX = 1, 1_000_000
LOW_STOCK_THRESHOLD_MIN, LOW_STOCK_THRESHOLD_MAX = 0, 2**31 - 1  # a 32-bit column
_WHOLE = {"per_customer_limit": (PER_CUSTOMER_LIMIT_MIN, PER_CUSTOMER_LIMIT_MAX),
          "low_stock_threshold": (LOW_STOCK_THRESHOLD_MIN, LOW_STOCK_THRESHOLD_MAX)}
# How a refusal names each setting: the words people read on the page (the API names the
# field itself in its answer's `fields`).
SAID = {"benefit": "What the customer gets", "description": "The description", "terms": "The terms",
        "per_customer_limit": "Codes per customer", "low_stock_threshold": "The low-stock warning",
        "valid_from": "The start", "valid_until": "The end"}


@dataclass(frozen=True)
class Counts:
    available: int = 0
    assigned: int = 0
    redeemed: int = 0
    canceled: int = 0

    @property
    def total(self) -> int:
        return self.available + self.assigned + self.redeemed + self.canceled

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def _check(values: dict[str, Any]) -> None:
    """Refuse values the pool cannot hold, naming the field."""
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            raise InvalidInput("A pool needs a name.", field="name")
        if len(name) > NAME_MAX:
            raise InvalidInput(f"A pool's name is at most {NAME_MAX:,} characters.", field="name")
        values["name"] = name
    for field, most in TEXT_MAX.items():
        if field not in values:
            continue
        if values[field] is None:
            values[field] = ""  # no text is an empty one: the columns hold no NULL
        elif not isinstance(values[field], str):
            raise InvalidInput(f"{SAID[field]} must be text.", field=field)
        elif len(values[field]) > most:
            raise InvalidInput(f"{SAID[field]} is at most {most:,} characters; this one has "
                               f"{len(values[field]):,}.", field=field)
    if "barcode_format" in values and values["barcode_format"] not in set(BarcodeFormat):
        choices = ", ".join(BarcodeFormat)
        raise InvalidInput(f"Barcode format must be one of: {choices}.", field="barcode_format")
    if "status" in values and values["status"] not in set(PoolStatus):
        choices = ", ".join(PoolStatus)
        raise InvalidInput(f"Status must be one of: {choices}.", field="status")
    for field, (low, high) in _WHOLE.items():
        if field in values:
            value = values[field]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidInput(f"{SAID[field]} must be a whole number from {low} to {high:,}.",
                                   field=field)
    for field in ("valid_from", "valid_until"):
        value = values.get(field)
        if value is not None and not isinstance(value, datetime):
            raise InvalidInput(f"{SAID[field]} must be a date and time.", field=field)
        if value is not None and not in_range(value):
            raise InvalidInput(f"{SAID[field]} must be in the years {FIRST_YEAR} to {LAST_YEAR}.",
                               field=field)


def _check_window(pool: Pool) -> None:
    if pool.valid_from and pool.valid_until and pool.valid_until <= pool.valid_from:
        # Two fields together: the API answers 422 with this reason, not 400.
        raise InvalidInput("The end must be after the start.", field="valid_until",
                           reason="invalid_window")


def create_pool(name: str, *, owner_id: int | None = None, **values: Any) -> Pool:
    """Create an active pool with zeroed counters; the name must be unique. The owner
    hears about its alerts."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Unknown pool fields: {', '.join(sorted(unknown))}.")
    values = {key: value for key, value in values.items() if value is not None}
    values["name"] = name
    _check(values)
    try:
        with write_transaction() as session:
            pool = Pool(**values, owner_id=owner_id)
            _check_window(pool)
            session.add(pool)
            session.flush()
            session.add_all(PoolCounter(pool_id=pool.id, shard=s) for s in range(COUNTER_SHARDS))
    except IntegrityError as exc:
        raise Conflict(f"A pool named “{values['name']}” already exists.", field="name") from exc
    return pool


def update_pool(pool_id: int, **values: Any) -> Pool:
    """Change a pool's settings, status included."""
    return _update(pool_id, values)


def review_redemption(pool_id: int, **values: Any) -> Pool:
    """Save the redemption rules (window, per-customer limit) the marketer reviewed, and
    note when: the set-up's last stage is then done."""
    return _update(pool_id, values, reviewed=True)


def _update(pool_id: int, values: dict[str, Any], *, reviewed: bool = False) -> Pool:
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Unknown pool fields: {', '.join(sorted(unknown))}.")
    _check(values)
    if "barcode_format" in values:
        _check_codes_fit(pool_id, values["barcode_format"])
    try:
        with write_transaction() as session:
            pool = load_pool(session, pool_id)
            ends = pool.valid_until
            for key, value in values.items():
                setattr(pool, key, value)
            _check_window(pool)
            if pool.valid_until != ends:
                pool.expiry_alerted_at = None  # a new end date earns a new reminder
            if reviewed:
                pool.redemption_reviewed_at = utcnow()
            if "low_stock_threshold" in values:
                session.flush()
                alerts.check_low_stock(session, pool_id)
    except IntegrityError as exc:
        raise Conflict(f"A pool named “{values.get('name')}” already exists.", field="name") from exc
    return pool


def _check_codes_fit(pool_id: int, barcode_format: str) -> None:
    """Refuse a barcode format that some of the pool's codes to show (available or
    assigned) cannot be drawn in. Read before the write, so a big pool's scan holds no lock."""
    misfit = formats.code_refusal(barcode_format)
    if misfit is None or load_pool(db.session, pool_id).barcode_format == barcode_format:
        return
    shown = (CodeStatus.AVAILABLE.value, CodeStatus.ASSIGNED.value)
    misfits, example = 0, None
    for code in db.session.scalars(select(Code.code).where(Code.pool_id == pool_id, Code.status.in_(shown))
                                   .execution_options(yield_per=10_000)):
        if misfit(code):
            misfits += 1
            example = example or code
    if misfits:
        raise InvalidInput(
            f"{misfits:,} of this pool's codes cannot be drawn as EAN-13, for example “{example}”. "
            f"{formats.EAN13_RULE} Keep another barcode, or cancel those codes first.",
            field="barcode_format", reason=formats.NOT_EAN13, misfits=misfits)


def set_status(pool_id: int, status: str) -> Pool:
    """Pause, resume or archive a pool."""
    return update_pool(pool_id, status=status)


def load_pool(session: Session, pool_id: int, *, lock: bool = False) -> Pool:
    """The pool as this session's transaction sees it now, or NotFound(unknown_pool).
    With lock, its row is locked for the transaction on PostgreSQL."""
    # populate_existing: a long-lived session (a worker, a test) must see other writers.
    pool = session.get(Pool, pool_id, populate_existing=True,
                       with_for_update=lock and is_postgresql())
    if pool is None:
        raise NotFound(f"There is no pool {pool_id}.", reason="unknown_pool")
    return pool


def load_pool_for_codes(session: Session, pool_id: int) -> Pool:
    """The pool that an import or a generation adds codes to: not an archived one."""
    pool = load_pool(session, pool_id)
    if pool.status == PoolStatus.ARCHIVED:
        raise Conflict("This pool is archived; restore it before adding codes.", reason="pool_archived")
    return pool


def get_pool(pool_id: int) -> Pool:
    """The pool, or NotFound."""
    return load_pool(db.session, pool_id)


def list_pools() -> list[Pool]:
    """Every pool, newest first."""
    return list(db.session.scalars(select(Pool).order_by(Pool.id.desc())))


def counts(pool_id: int) -> Counts:
    """The pool's counts by status, read from its counter shards in constant time."""
    return counts_for([pool_id]).get(pool_id, Counts())


def counts_for(pool_ids: list[int]) -> dict[int, Counts]:
    """Counts of several pools in one query."""
    if not pool_ids:
        return {}
    rows = db.session.execute(
        select(
            PoolCounter.pool_id,
            func.sum(PoolCounter.available),
            func.sum(PoolCounter.assigned),
            func.sum(PoolCounter.redeemed),
            func.sum(PoolCounter.canceled),
        )
        .where(PoolCounter.pool_id.in_(pool_ids))
        .group_by(PoolCounter.pool_id)
    )
    return {row[0]: Counts(*(int(n or 0) for n in row[1:])) for row in rows}


_counters = PoolCounter.__table__


def adjust_counts(session: Session, pool_id: int, *, pool: Pool | None = None, **deltas: int) -> None:
    """Add deltas to one random shard of the pool's counters, in the caller's transaction.
    The pool, when the caller has it, spares the low-stock check a read."""
    columns = {key: _counters.c[key] + value for key, value in deltas.items() if value}
    if not columns:
        return
    session.execute(
        update(_counters)
        .where(_counters.c.pool_id == pool_id,
               _counters.c.shard == random.randrange(COUNTER_SHARDS))
        .values(columns)
    )
    if deltas.get("available"):
        alerts.check_low_stock(session, pool_id, known=pool)
