"""Small helpers shared by the tests."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select

from portal.extensions import db
from portal.models import Code
from portal.services import imports, pools
from portal.services.customers import CustomerData


def upload(text: str | bytes):
    """A file-like upload of the given text (UTF-8) or bytes."""
    return io.BytesIO(text.encode() if isinstance(text, str) else text)


def pool_with_codes(name: str = "Spring", n: int = 10, **pool_values) -> int:
    """A new pool holding n codes named {name[:3]}-0001…; returns its id."""
    pool = pools.create_pool(name, **pool_values)
    prefix = "".join(ch for ch in name.upper() if ch.isalnum())[:4] or "POOL"
    lines = "\n".join(f"{prefix}-{i:05d}" for i in range(1, n + 1))
    if n:
        imports.import_codes(pool.id, upload(lines))
    return pool.id


def real_counts(pool_id: int) -> dict[str, int]:
    """Counts by status computed from the codes themselves (the slow, true way)."""
    rows = db.session.execute(
        select(Code.status, func.count()).where(Code.pool_id == pool_id).group_by(Code.status)
    )
    found = dict(rows.all())
    return {s: found.get(s, 0) for s in ("available", "assigned", "redeemed", "canceled")}


def kept_counts(pool_id: int) -> dict[str, int]:
    counts = pools.counts(pool_id).as_dict()
    counts.pop("total")
    return counts


def customer(n: int | str, **values) -> CustomerData:
    return CustomerData(customer_id=str(n), **values)


def run_queue(limit: int = 10_000) -> int:
    """Run the tasks waiting on the job queue in this process, as a worker would."""
    from portal import queue

    ran = 0
    while ran < limit:
        task = queue.huey.dequeue()
        if task is None:
            return ran
        queue.huey.execute(task)
        ran += 1
    return ran


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    """The SQL statements the engine sends while the block runs."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
