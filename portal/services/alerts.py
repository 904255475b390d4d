"""Warnings for a pool's owner: codes running low, and vouchers about to expire unused.

An alert is written as a row in the same transaction as the change that caused it
and sent afterwards by the worker, so a rolled-back change alerts nobody and a
crashed worker loses no alert. A flag on the pool makes it once per crossing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Alert, Pool, PoolCounter, PoolStatus, Role, Transport, User, utcnow
from . import transports
from .events import AlertWritten, LowStockCrossed, record
from .integrations.outbox import emit
from .integrations.payloads import PoolLowStock
from .tx import write_transaction

EXPIRY_NOTICE = timedelta(days=7)
# An alert a worker took but did not finish is taken again after this long.
CLAIM_LEASE = timedelta(minutes=5)
# Tries per alert when a target fails for a passing reason, CLAIM_LEASE apart.
ATTEMPTS = 5

_pools = Pool.__table__
_counters = PoolCounter.__table__


def write(session: Session, pool_id: int, kind: str, details: dict, now: datetime) -> None:
    """Write an alert in the caller's transaction; it is sent once that commits."""
    session.add(Alert(pool_id=pool_id, kind=kind, created_at=now, details=details))
    record(AlertWritten(pool_id))


def check_low_stock(session: Session, pool_id: int, known: Pool | None = None) -> None:
    """After a change of available codes: alert on falling below the threshold, re-arm
    on rising to it again. Runs in the caller's transaction."""
    if known is not None and known.low_stock_threshold == 0 and known.low_stock_alerted_at is None:
        return  # no threshold and nothing to re-arm: the hot paths skip the read
    pool = session.execute(
        select(_pools.c.low_stock_threshold, _pools.c.low_stock_alerted_at)
        .where(_pools.c.id == pool_id)
    ).first()
    if pool is None or (pool.low_stock_threshold == 0 and pool.low_stock_alerted_at is None):
        return
    available = int(session.execute(
        select(func.coalesce(func.sum(_counters.c.available), 0)).where(_counters.c.pool_id == pool_id)
    ).scalar_one())
    now = utcnow()
    if available < pool.low_stock_threshold:
        if pool.low_stock_alerted_at is not None:
            return
        # Conditional: of two transactions crossing at once, one alerts.
        crossed = session.execute(
            update(_pools).where(_pools.c.id == pool_id, _pools.c.low_stock_alerted_at.is_(None))
            .values(low_stock_alerted_at=now)
        ).rowcount
        if crossed:
            write(session, pool_id, "low_stock",
                  {"available": available, "threshold": pool.low_stock_threshold}, now)
            record(LowStockCrossed(pool_id))
            emit(session, "pool.low_stock", lambda: PoolLowStock(
                pool_id=pool_id, available=available, threshold=pool.low_stock_threshold))
    elif pool.low_stock_alerted_at is not None:
        session.execute(update(_pools).where(_pools.c.id == pool_id)
                        .values(low_stock_alerted_at=None))


def check_all_low_stock() -> None:
    """Look at every active pool with a threshold (a safety net beside the inline check)."""
    ids = db.session.scalars(select(Pool.id).where(
        Pool.status == PoolStatus.ACTIVE.value,
        or_(Pool.low_stock_threshold > 0, Pool.low_stock_alerted_at.is_not(None)))).all()
    for pool_id in ids:
        with write_transaction() as session:
            check_low_stock(session, pool_id)


def check_expiry(now: datetime | None = None) -> int:
    """Alert the owners of pools ending within seven days whose customers still hold
    unredeemed codes; returns how many alerts were written."""
    now = now or utcnow()
    written = 0
    candidates = db.session.scalars(select(Pool.id).where(
        Pool.status == PoolStatus.ACTIVE.value, Pool.expiry_alerted_at.is_(None),
        Pool.valid_until.is_not(None), Pool.valid_until > now,
        Pool.valid_until <= now + EXPIRY_NOTICE)).all()
    for pool_id in candidates:
        with write_transaction() as session:
            assigned = int(session.execute(
                select(func.coalesce(func.sum(_counters.c.assigned), 0))
                .where(_counters.c.pool_id == pool_id)).scalar_one())
            if not assigned:
                continue
            marked = session.execute(
                update(_pools).where(_pools.c.id == pool_id, _pools.c.expiry_alerted_at.is_(None))
                .values(expiry_alerted_at=now)).rowcount
            if marked:
                ends = session.get(Pool, pool_id).valid_until
                write(session, pool_id, "expiry", {"unredeemed": assigned, "valid_until": ends.isoformat()},
                      now)
                written += 1
    return written


@dataclass
class Notice:
    subject: str
    text: str
    event: str
    payload: dict


def _notice(alert: Alert, pool: Pool) -> Notice:
    d = alert.details
    if alert.kind == "low_stock":
        subject = f"“{pool.name}” is running low: {d['available']:,} codes left"
        text = (f"The pool “{pool.name}” has {d['available']:,} available codes, below its "
                f"low-stock threshold of {d['threshold']:,}. Import or generate more codes "
                "before it runs out; customers who ask after that get no code.")
        return Notice(subject, text, "pool.low_stock", {"available": d["available"],
                                                        "threshold": d["threshold"]})
    if alert.kind == "replenish":
        where = {"url": "its address", "drop_folder": "the drop folder"}.get(d["source"], d["source"])
        subject = f"“{pool.name}” could not be refilled from {where}"
        text = (f"Refilling the pool “{pool.name}” from {where} failed: {d['error']} Nothing was "
                "imported. The portal keeps trying on schedule and tells you again only after a "
                "run has worked.")
        return Notice(subject, text, "pool.replenishment_failed", {"source": d["source"],
                                                                   "error": d["error"]})
    ends = datetime.fromisoformat(d["valid_until"])
    subject = f"“{pool.name}” ends on {ends:%d %b %Y} with {d['unredeemed']:,} vouchers unused"
    text = (f"The pool “{pool.name}” ends on {ends:%d %b %Y %H:%M} UTC. {d['unredeemed']:,} customers "
            "hold a code they have not redeemed yet; a reminder now may bring them in.")
    return Notice(subject, text, "pool.expiring", {"unredeemed": d["unredeemed"],
                                                   "valid_until": d["valid_until"]})


def recipients(pool: Pool) -> list[str]:
    """The pool's owner, or every active admin when it has none (or the owner left)."""
    if pool.owner is not None and pool.owner.active:
        return [pool.owner.email]
    return list(db.session.scalars(select(User.email).where(
        User.role == Role.ADMIN.value, User.active.is_(True)).order_by(User.id)))


# The HTML part of an alert email, composed at the edge from the notice and the pool.
AlertHtml = Callable[["Notice", Pool], str]


def deliver_pending(html: AlertHtml) -> int:
    """Send every alert not sent yet, each one once; returns how many went out."""
    config = current_app.config
    sent = 0
    mailer = transports.Mailer(config) if transports.configured(config, Transport.EMAIL) else None
    hook = transports.WebhookSender(config) if transports.configured(config, Transport.WEBHOOK) else None
    try:
        while True:
            now = utcnow()
            with write_transaction() as session:
                alert = session.scalars(
                    select(Alert).where(Alert.sent_at.is_(None), or_(
                        Alert.claimed_at.is_(None), Alert.claimed_at < now - CLAIM_LEASE))
                    .order_by(Alert.id).limit(1)).first()
                if alert is None:
                    return sent
                taken = session.execute(
                    update(Alert.__table__).where(Alert.id == alert.id, Alert.sent_at.is_(None),
                                                  or_(Alert.claimed_at.is_(None),
                                                      Alert.claimed_at < now - CLAIM_LEASE))
                    .values(claimed_at=now)).rowcount
            if not taken:
                continue
            done = set(alert.details.get("done", []))
            errors, transient = _send(alert, mailer, hook, done, html)
            with write_transaction() as session:
                row = session.get(Alert, alert.id, populate_existing=True)
                attempts = row.details.get("attempts", 0) + 1
                row.details = {**row.details, "done": sorted(done), "attempts": attempts}
                row.error = "; ".join(errors) or None
                if transient and attempts < ATTEMPTS:
                    continue  # still claimed: taken again once the claim lapses, minutes later
                row.sent_at = utcnow()
            sent += 1
    finally:
        if mailer:
            mailer.close()
        if hook:
            hook.close()


def _send(alert: Alert, mailer: transports.Mailer | None, hook: transports.WebhookSender | None,
          done: set[str], html: AlertHtml) -> tuple[list[str], bool]:
    """Send the alert to every target not in `done` (which it adds to): (errors, whether
    one of them is worth another attempt)."""
    pool = db.session.get(Pool, alert.pool_id)
    notice = _notice(alert, pool)
    errors, transient = [], False
    if mailer is None and hook is None:
        errors.append("no email or webhook is configured; the banner in the portal shows it")
    if mailer is not None:
        part = html(notice, pool)
        for address in recipients(pool):
            if f"email:{address}" in done:
                continue
            try:
                mailer.send(transports.Email(address, notice.subject, notice.text, part,
                                             message_id=mailer.message_id(
                                                 f"alert-{alert.id}", alert.created_at.isoformat())))
                done.add(f"email:{address}")
            except transports.DeliveryError as exc:
                errors.append(f"email to {address}: {exc.message}")
                transient = transient or exc.transient
    if hook is not None and "webhook" not in done:
        payload = {"pool": {"id": pool.id, "name": pool.name}, "alert_id": alert.id,
                   "message": notice.text, **notice.payload}
        try:
            hook.send(notice.event, payload, reference=f"alert-{alert.id}")
            done.add("webhook")
        except transports.DeliveryError as exc:
            errors.append(f"webhook: {exc.message}")
            transient = transient or exc.transient
    return errors, transient


def low_pools() -> list[Pool]:
    """Pools below their threshold right now: the portal's banner."""
    return list(db.session.scalars(select(Pool).where(
        Pool.low_stock_alerted_at.is_not(None), Pool.status != PoolStatus.ARCHIVED.value)
        .order_by(Pool.name)))
