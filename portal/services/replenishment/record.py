"""What each run did: its record (and the owner's alert when a source starts failing),
a file imported once whatever source brought it, and the runs read back."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import BatchState, ImportBatch, Replenishment, ReplenishmentRun, utcnow
from .. import alerts, imports, loading
from ..errors import DomainError
from ..integrations.outbox import emit
from ..integrations.payloads import PoolReplenished
from ..tx import write_transaction

_table = Replenishment.__table__


def record(pool_id: int, source: str, outcome: str, detail: str = "", *, batch_id: int | None = None,
           error: str | None = None, generated: int = 0) -> ReplenishmentRun:
    """Keep one run's outcome in the pool's history."""
    with write_transaction() as session:
        run = ReplenishmentRun(pool_id=pool_id, source=source, outcome=outcome, detail=detail[:500],
                               error=error, generated=generated, at=utcnow())
        if batch_id is not None:
            batch = session.get(ImportBatch, batch_id)
            run.batch_id, run.imported, run.rejected = batch.id, batch.imported, batch.rejected
            run.rejected_by_reason = dict(batch.rejected_by_reason)
        session.add(run)
        if run.imported or generated:
            emit(session, "pool.replenished", lambda: PoolReplenished(
                pool_id=pool_id, source=source, imported=run.imported or 0, generated=generated))
        if source != "top_up":
            _failure_state(session, pool_id, source, outcome, error)
    return run


def _failure_state(session: Session, pool_id: int, source: str, outcome: str, error: str | None) -> None:
    """A failing source alerts the owner once; the next good run re-arms it."""
    now = utcnow()
    if outcome != "failed":
        session.execute(update(_table).where(_table.c.pool_id == pool_id).values(failing_since=None))
        return
    first = session.execute(update(_table).where(
        _table.c.pool_id == pool_id, _table.c.failing_since.is_(None)).values(failing_since=now)).rowcount
    if first:
        alerts.write(session, pool_id, "replenish", {"source": source, "error": (error or "")[:500]}, now)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _seen(pool_id: int, sha: str) -> bool:
    return db.session.scalar(select(ImportBatch.id).where(
        ImportBatch.pool_id == pool_id, ImportBatch.sha256 == sha,
        ImportBatch.state == BatchState.LIVE.value).limit(1)) is not None


def import_file(pool_id: int, path: Path, source: str, detail: str,
                wait: float = loading.WAIT_IN_REQUEST) -> ReplenishmentRun:
    """Import one file with the core's rules, unless the pool has had this content."""
    if _seen(pool_id, _sha256(path)):
        return record(pool_id, source, "unchanged", detail)
    try:
        with open(path, "rb") as stream:
            result = imports.import_codes(pool_id, stream, source=f"{source}: {detail}", wait=wait)
    except DomainError as exc:
        return record(pool_id, source, "failed", detail, error=exc.message)
    return record(pool_id, source, "imported", detail, batch_id=result.batch_id)


def history(pool_id: int, limit: int = 50) -> list[ReplenishmentRun]:
    """The pool's runs, newest first."""
    return list(db.session.scalars(select(ReplenishmentRun).where(ReplenishmentRun.pool_id == pool_id)
                                   .order_by(ReplenishmentRun.id.desc()).limit(limit)))


def last_runs(pool_ids: Collection[int]) -> dict[int, ReplenishmentRun]:
    """Each pool's latest run, for several pools in one query; pools without one are left out."""
    if not pool_ids:
        return {}
    latest = (select(func.max(ReplenishmentRun.id)).where(ReplenishmentRun.pool_id.in_(list(pool_ids)))
              .group_by(ReplenishmentRun.pool_id))
    found = db.session.scalars(select(ReplenishmentRun).where(ReplenishmentRun.id.in_(latest)))
    return {run.pool_id: run for run in found}
