"""Running a pool's sources: one run per pool at a time (a lease in the database,
whichever worker or command takes it), on demand, on the schedule, or right after a
low-stock crossing."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from ...extensions import db
from ...models import Pool, PoolStatus, Replenishment, ReplenishmentRun, utcnow
from ..errors import Conflict, InvalidInput
from ..pools import load_pool
from ..tx import write_transaction
from .drop_folder import from_drop_folder
from .settings import get, next_run
from .top_up import top_up
from .url_source import from_url

RUN_LEASE = timedelta(minutes=30)
_table = Replenishment.__table__


def _claim(pool_id: int, *, scheduled: bool) -> Replenishment | None:
    """Take the pool's replenishment for this process; None when another run has it (or,
    for a scheduled run, when it is not due). The due time moves on at once, so two
    workers looking at the same schedule run it once."""
    now = utcnow()
    with write_transaction() as session:
        rep = session.get(Replenishment, pool_id, populate_existing=True)
        if rep is None:
            return None
        conditions = [_table.c.pool_id == pool_id,
                      or_(_table.c.running_until.is_(None), _table.c.running_until < now)]
        values = {"running_until": now + RUN_LEASE}
        if scheduled:
            conditions.append(_table.c.next_run_at <= now)
            values["next_run_at"] = next_run(rep, now)
        taken = session.execute(update(_table).where(*conditions).values(values)).rowcount
    return get(pool_id) if taken else None


def _release(pool_id: int) -> None:
    with write_transaction() as session:
        session.execute(update(_table).where(_table.c.pool_id == pool_id).values(running_until=None))


def run_now(pool_id: int) -> list[ReplenishmentRun]:
    """Every source of the pool, now (the CLI, the API, the Run now button)."""
    load_pool(db.session, pool_id)
    rep = _claim(pool_id, scheduled=False)
    if rep is None:
        if get(pool_id) is None:
            raise InvalidInput("This pool has no replenishment set up.", reason="not_configured")
        raise Conflict("A replenishment of this pool is running now; try again shortly.",
                       reason="replenishment_running")
    return _run(rep, url=bool(rep.url))


def _run(rep: Replenishment, *, url: bool) -> list[ReplenishmentRun]:
    runs: list[ReplenishmentRun] = []
    try:
        if url:
            runs.append(from_url(rep))
        if rep.drop_folder and current_app.config.get("DROP_FOLDER"):
            runs += from_drop_folder(rep.pool_id)
        topped = top_up(rep.pool_id)
        if topped is not None:
            runs.append(topped)
    finally:
        _release(rep.pool_id)
    return runs


def run_due() -> list[ReplenishmentRun]:
    """What the worker does every minute: fetch the URLs that are due, scan the drop
    folder, and answer low-stock crossings with a top-up."""
    now = utcnow()
    runs: list[ReplenishmentRun] = []
    rows = db.session.execute(select(Replenishment, Pool.low_stock_alerted_at)
                              .join(Pool, Pool.id == Replenishment.pool_id)
                              .where(Pool.status == PoolStatus.ACTIVE.value)).all()
    for rep, crossing in rows:
        due = bool(rep.url and rep.next_run_at and rep.next_run_at <= now)
        wants_top_up = bool(rep.top_up_count and crossing and crossing != rep.topped_up_for)
        if not (due or rep.drop_folder or wants_top_up):
            continue
        claimed = _claim(rep.pool_id, scheduled=True) if due else _claim(rep.pool_id, scheduled=False)
        if claimed is not None:
            runs += _run(claimed, url=due)
    return runs


def top_up_pools(pool_ids: set[int]) -> None:
    """Right after a low-stock crossing: the top-up, without waiting for the minute."""
    for pool_id in pool_ids:
        rep = get(pool_id)
        if rep is None or not rep.top_up_count:
            continue
        claimed = _claim(pool_id, scheduled=False)
        if claimed is not None:
            try:
                top_up(pool_id)
            finally:
                _release(pool_id)
