"""The code browser's page of codes and the pool's code export: the queries behind the
pool's page, shaped so a pool of millions of codes costs what a small one does.

No routes here (the pool page's route module imports it). Every query walks an index
to at most one page of rows, and only those rows meet the customer table.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, lateral, literal, literal_column, or_, select, true, tuple_, union_all
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Code, CodeStatus, Customer
from ..services.codes import MAX_LENGTH, normalize
from ..services.loading import is_live
from ..services.spreadsheet import (
    csv_cell_sql,
    csv_chunks,
    csv_line_sql,
    isoformat_sql,
    plain_cell_sql,
    safe_cell_sql,
)
from ..services.tx import copied_text, streamed

PAGE = 50
STATUSES = tuple(s.value for s in CodeStatus)
# The export reads this many rows per round trip (a server-side cursor on PostgreSQL).
EXPORT_CHUNK = 5000
EXPORT_HEADER = ["code", "status", "customer_id", "assigned_at", "redeemed_at", "expires_at"]

_codes = Code.__table__
_customers = Customer.__table__


def browse_codes(pool_id: int, query: str, status: str, after: int) -> tuple[list[Code], int | None]:
    """One page of the pool's codes by id (keyset paging: as fast on page 1,000 as page 1),
    and the id to continue after, or None on the last page.

    A search finds the exact code (typed loosely) or a customer by their id or email (in
    any case).
    """
    statuses = (status,) if status in STATUSES else STATUSES
    ids = _search_ids(pool_id, query, statuses, after) if query else _page_ids(pool_id, statuses, after)
    page = sorted(set(ids))[:PAGE + 1]  # a code can be both the code typed and the customer's
    codes = list(db.session.scalars(
        select(Code).options(joinedload(Code.customer)).where(Code.id.in_(page[:PAGE]))
        .order_by(Code.id))) if page else []
    return codes, (page[PAGE - 1] if len(page) > PAGE else None)


def _first_ids(*conditions, order=(_codes.c.id,)) -> select:  # noqa: ANN002
    """The first PAGE + 1 live code ids meeting the conditions, in id order."""
    return (select(_codes.c.id).where(*conditions, is_live(_codes.c.batch_id))
            .order_by(*order).limit(PAGE + 1))


def _page_ids(pool_id: int, statuses: tuple[str, ...], after: int) -> list[int]:
    """The next ids of the pool: one short walk of the (pool, status, id) index per status,
    merged, rather than a filter and a sort over every code of the pool."""
    # Written so that only the (pool, status, id) index can answer it, as a walk from the
    # page's start: status is bounded by a range rather than fixed with `=`, so the order
    # (status, id) is one the primary key cannot give. With `status = …` and `ORDER BY id`
    # PostgreSQL may walk the primary key hoping to meet the pool's codes soon, and read
    # millions of other pools' codes before it does.
    parts = [_first_ids(_codes.c.pool_id == pool_id,
                        tuple_(_codes.c.status, _codes.c.id) > tuple_(literal(one), literal(after)),
                        _codes.c.status <= one, order=(_codes.c.status, _codes.c.id))
             for one in statuses]
    if len(parts) == 1:
        return list(db.session.scalars(parts[0]))
    merged = union_all(*(select(part.subquery().c.id) for part in parts))
    return list(db.session.scalars(merged))


def _search_ids(pool_id: int, query: str, statuses: tuple[str, ...], after: int) -> list[int]:
    """Ids of the pool's codes that are the code typed or belong to the customer typed:
    lookups by unique or indexed keys (the code's normalized form; the customer's id or
    email), each bounded to a page, instead of one OR that filters the whole pool."""
    within = (_codes.c.pool_id == pool_id, _codes.c.status.in_(statuses), _codes.c.id > after)
    found: list[int] = []
    key = normalize(query)
    if key and len(key) <= MAX_LENGTH:
        found += db.session.scalars(_first_ids(_codes.c.normalized == key, *within))
    # The customers first, as values: the planner then sees how few they are and reads
    # their codes by the (customer, pool) index.
    customers = list(db.session.scalars(select(_customers.c.id).where(
        or_(_customers.c.external_id == query, func.lower(_customers.c.email) == query.lower()))))
    if customers:
        found += db.session.scalars(_first_ids(_codes.c.customer_id.in_(customers), *within))
    return found


def export_text(pool_id: int) -> Iterator[str]:
    """The pool's code export as CSV text in chunks, header first: written by PostgreSQL
    line by line and sending them with COPY (a million codes in seconds), by Python from
    plain rows elsewhere. Both give the same bytes."""
    if db.session.get_bind().dialect.name != "postgresql":
        yield from csv_chunks(EXPORT_HEADER, export_rows(pool_id))
        return
    yield from csv_chunks(EXPORT_HEADER, ())
    times = [plain_cell_sql(isoformat_sql(f"code.{at}_at")) for at in ("assigned", "redeemed", "expires")]
    line = csv_line_sql([csv_cell_sql("safe.code"), plain_cell_sql("code.status"),
                         csv_cell_sql("safe.holder"), *times])
    safe = lateral(select(literal_column(safe_cell_sql("code.code")).label("code"),
                          literal_column(safe_cell_sql("customer.external_id")).label("holder"))).alias("safe")
    yield from copied_text(_export_query(pool_id, literal_column(line)).join(safe, true()), EXPORT_CHUNK)


def _export_query(pool_id: int, *columns) -> select:  # noqa: ANN002
    return (select(*columns)
            .select_from(_codes.outerjoin(_customers, _customers.c.id == _codes.c.customer_id))
            .where(_codes.c.pool_id == pool_id, is_live(_codes.c.batch_id))
            .order_by(_codes.c.id))


def export_rows(pool_id: int) -> Iterator[tuple[str, ...]]:
    """Every live code of the pool with its status and holder, in id order, as plain rows
    streamed from one query (no ORM objects; memory stays flat whatever the pool's size)."""
    c = _codes.c
    stmt = _export_query(pool_id, c.code, c.status, _customers.c.external_id, c.assigned_at, c.redeemed_at,
                         c.expires_at)
    for rows in streamed(stmt, EXPORT_CHUNK).partitions():
        for code, status, holder, assigned_at, redeemed_at, expires_at in rows:
            yield (code, status, holder or "",
                   assigned_at.isoformat() if assigned_at else "",
                   redeemed_at.isoformat() if redeemed_at else "",
                   expires_at.isoformat() if expires_at else "")
