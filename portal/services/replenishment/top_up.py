"""The top-up: codes generated with the pool's latest settings, once per low-stock
crossing and within the pool's cap."""

from __future__ import annotations

from sqlalchemy import or_, update

from ...extensions import db
from ...models import Pool, PoolStatus, Replenishment, ReplenishmentRun
from .. import generation, loading, pools
from ..errors import DomainError
from ..tx import write_transaction
from .record import record
from .settings import get

_table = Replenishment.__table__


def top_up(pool_id: int) -> ReplenishmentRun | None:
    """Generate the pool's top-up once per low-stock crossing, within its cap."""
    rep, pool = get(pool_id), db.session.get(Pool, pool_id, populate_existing=True)
    if rep is None or not rep.top_up_count or pool is None or pool.status != PoolStatus.ACTIVE:
        return None
    crossing = pool.low_stock_alerted_at
    if crossing is None:
        return None
    with write_transaction() as session:
        answered = session.execute(update(_table).where(
            _table.c.pool_id == pool_id,
            or_(_table.c.topped_up_for.is_(None), _table.c.topped_up_for != crossing))
            .values(topped_up_for=crossing)).rowcount
    if not answered:
        return None  # this crossing has had its top-up
    count = rep.top_up_count
    if rep.top_up_cap is not None:
        count = min(count, max(0, rep.top_up_cap - pools.counts(pool_id).total))
    if count == 0:
        return record(pool_id, "top_up", "skipped", f"cap of {rep.top_up_cap:,} codes reached")
    spec = generation.Spec(**(pool.generation_spec or {}))
    try:
        result = generation.generate_codes(pool_id, count, spec, wait=loading.WAIT_IN_BACKGROUND)
    except DomainError as exc:
        return record(pool_id, "top_up", "failed", spec.describe(), error=exc.message)
    return record(pool_id, "top_up", "generated", spec.describe(), generated=result.generated)
