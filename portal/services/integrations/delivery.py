"""Delivering the outbox: each endpoint's events in event order, signed as Standard
Webhooks (webhooks.Signer, as campaign webhooks are), POSTed to the checked and pinned
address (replenishment.fetch.guarded_post). A failure keeps the event, and every later
one, waiting for a retry with a doubling backoff; EVENT_PAUSE_AFTER failures in a row
pause the endpoint until an admin resumes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import EventDelivery, EventEndpoint, OutboxEvent, utcnow
from .. import events, transports, webhooks
from ..errors import DomainError, NotFound
from ..replenishment.fetch import guarded_post
from ..replenishment.settings import allowed_networks
from ..secrets import unseal
from ..tx import write_transaction

PENDING, DELIVERED = "pending", "delivered"
TIMEOUT = 10.0
LEASE = timedelta(minutes=2)
BACKOFF_CAP = 3600.0
# At most this many events per endpoint in one turn, so one busy endpoint does not hold
# the worker; the rest are due at once and the next turn takes them.
PER_TURN = 100
_deliveries = EventDelivery.__table__
_endpoints = EventEndpoint.__table__


def backoff(attempts: int) -> timedelta:
    """How long an event waits after its `attempts`-th failure: EVENT_RETRY_SECONDS,
    doubling each time, at most an hour."""
    first = current_app.config["EVENT_RETRY_SECONDS"]
    return timedelta(seconds=min(BACKOFF_CAP, first * 2 ** max(0, attempts - 1)))


def body_of(event: OutboxEvent) -> bytes:
    """The JSON document a receiver gets: {id, type, timestamp, data}."""
    return json.dumps({"id": event.id, "type": event.type, "timestamp": event.created_at.isoformat(),
                       "data": event.data}, separators=(",", ":"), ensure_ascii=False).encode()


def _claim(endpoint_id: int, now: datetime) -> bool:
    """Take the endpoint for this worker (one at a time, so the order holds)."""
    with write_transaction() as session:
        return session.execute(update(_endpoints).where(
            _endpoints.c.id == endpoint_id, _endpoints.c.paused_at.is_(None),
            or_(_endpoints.c.busy_until.is_(None), _endpoints.c.busy_until < now),
        ).values(busy_until=now + LEASE)).rowcount == 1


def _release(endpoint_id: int) -> None:
    with write_transaction() as session:
        session.execute(update(_endpoints).where(_endpoints.c.id == endpoint_id).values(busy_until=None))


def _post(endpoint: EventEndpoint, event: OutboxEvent) -> tuple[int | None, str | None]:
    """(HTTP status or None, the error or None) of one attempt."""
    secret = unseal(endpoint.secret)
    if secret is None:
        return None, "The signing secret cannot be read (SECRET_KEY changed): delete the endpoint " \
                     "and register it again."
    body = body_of(event)
    signer = webhooks.Signer(secret, str(current_app.config.get("SECRET_KEY") or ""))
    headers = {"Content-Type": "application/json", "User-Agent": transports.user_agent(),
               "X-Portal-Event": event.type, **signer.headers(f"event-{event.id}", body)}
    try:
        with guarded_post(endpoint.url, body, headers, TIMEOUT, allowed=allowed_networks()) as answer:
            status = answer.status
            text = b"".join(answer.chunks(1024))[:200].decode("utf-8", "replace")
    except DomainError as exc:
        return None, exc.message
    if 200 <= status < 300:
        return status, None
    return status, f"The receiver answered HTTP {status}: {text}"


def _next(endpoint_id: int) -> EventDelivery | None:
    return db.session.scalar(
        select(EventDelivery).where(EventDelivery.endpoint_id == endpoint_id, EventDelivery.state == PENDING)
        .order_by(EventDelivery.event_id).limit(1).execution_options(populate_existing=True))


def _outcome(delivery: EventDelivery, status: int | None, error: str | None, now: datetime) -> bool:
    """Keep one attempt's outcome; False when the endpoint must stop for now."""
    with write_transaction() as session:
        attempts = delivery.attempts + 1
        if error is None:
            session.execute(update(_deliveries).where(_deliveries.c.id == delivery.id).values(
                state=DELIVERED, attempts=attempts, last_status=status, last_error=None, delivered_at=now))
            session.execute(update(_endpoints).where(_endpoints.c.id == delivery.endpoint_id)
                            .values(failures=0, last_error=None))
            return True
        session.execute(update(_deliveries).where(_deliveries.c.id == delivery.id).values(
            attempts=attempts, last_status=status, last_error=error[:1000],
            next_attempt_at=now + backoff(attempts)))
        failures = _endpoints.c.failures + 1
        session.execute(update(_endpoints).where(_endpoints.c.id == delivery.endpoint_id).values(
            failures=failures, last_error=error[:1000]))
        session.execute(update(_endpoints).where(
            _endpoints.c.id == delivery.endpoint_id, _endpoints.c.paused_at.is_(None),
            _endpoints.c.failures >= current_app.config["EVENT_PAUSE_AFTER"]).values(paused_at=now))
        return False


def _deliver_to(endpoint_id: int) -> None:
    """Send the endpoint's due events in order until one fails or none is due."""
    if not _claim(endpoint_id, utcnow()):
        return
    try:
        endpoint = db.session.get(EventEndpoint, endpoint_id, populate_existing=True)
        for _ in range(PER_TURN):
            delivery = _next(endpoint_id)
            now = utcnow()
            if delivery is None or delivery.next_attempt_at > now:
                return
            status, error = _post(endpoint, delivery.event)
            if not _outcome(delivery, status, error, utcnow()):
                return
    finally:
        _release(endpoint_id)


def deliver_due() -> datetime | None:
    """Deliver every due event to every endpoint that is not paused; when the next
    waiting event is due (None when nothing waits)."""
    waiting = (select(_deliveries.c.endpoint_id).where(_deliveries.c.state == PENDING).distinct())
    ids = db.session.scalars(select(_endpoints.c.id).where(
        _endpoints.c.paused_at.is_(None), _endpoints.c.id.in_(waiting)).order_by(_endpoints.c.id)).all()
    db.session.rollback()  # no read snapshot held across the deliveries
    for endpoint_id in ids:
        _deliver_to(endpoint_id)
    due = db.session.scalar(select(func.min(_deliveries.c.next_attempt_at)).join(
        _endpoints, _endpoints.c.id == _deliveries.c.endpoint_id).where(
        _deliveries.c.state == PENDING, _endpoints.c.paused_at.is_(None)))
    db.session.rollback()
    return due.replace(tzinfo=UTC) if due is not None and due.tzinfo is None else due


def due_now(session: Session, endpoint_id: int) -> None:
    """Make the endpoint's waiting events due at once, in the caller's transaction."""
    session.execute(update(_deliveries).where(_deliveries.c.endpoint_id == endpoint_id,
                                              _deliveries.c.state == PENDING)
                    .values(next_attempt_at=utcnow()))
    events.record(events.OutboxWritten())


def resend(delivery_id: int) -> EventDelivery:
    """Send one event to its endpoint again (a receiver that lost it, or a failed one now)."""
    with write_transaction() as session:
        done = session.execute(update(_deliveries).where(_deliveries.c.id == delivery_id).values(
            state=PENDING, attempts=0, next_attempt_at=utcnow(), delivered_at=None)).rowcount
        if not done:
            raise NotFound(f"There is no delivery {delivery_id}.", reason="unknown_delivery")
        events.record(events.OutboxWritten())
    return db.session.get(EventDelivery, delivery_id, populate_existing=True)


def recent_deliveries(limit: int = 50) -> list[EventDelivery]:
    """The latest deliveries, newest event first, with their endpoint and event."""
    return list(db.session.scalars(select(EventDelivery).order_by(EventDelivery.id.desc()).limit(limit)))
