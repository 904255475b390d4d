"""Writing domain events into the outbox, in the transaction of the change that caused
them: a rollback takes the event with it, and a commit hands it to the worker
(events.OutboxWritten, queue.HANDLERS)."""

from __future__ import annotations

import weakref
from collections.abc import Callable

from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, SessionTransaction

from ...models import EventDelivery, EventEndpoint, OutboxEvent, utcnow
from .. import events
from .payloads import EVENT_TYPES

_events = OutboxEvent.__table__
_deliveries = EventDelivery.__table__
_endpoints = EventEndpoint.__table__
# Which endpoints want which event type, read once per transaction: a bulk assignment of
# thousands of codes asks the database once, and a portal without endpoints pays one
# small read per transaction and writes nothing.
_wanted: weakref.WeakKeyDictionary[SessionTransaction, dict[str, list[int]]] = weakref.WeakKeyDictionary()


# The endpoints and the events each wants, as one JSON value ([[id, events], …] or null):
# a statement that does other work can read them along with it, and prime() the table.
ENDPOINTS_SQL = "(SELECT json_agg(json_build_array(id, events) ORDER BY id) FROM event_endpoint)"


def prime(session: Session, endpoints: list | None) -> None:
    """Set this transaction's table of wanted endpoints from ENDPOINTS_SQL's value, so that
    emit() need not read it."""
    transaction = session.get_transaction()
    if transaction is None:
        return
    table: dict[str, list[int]] = {}
    for endpoint_id, wanted in endpoints or ():
        for name in wanted or ():
            table.setdefault(name, []).append(endpoint_id)
    _wanted[transaction] = table


def endpoints_wanting(session: Session, event_type: str) -> list[int]:
    transaction = session.get_transaction()
    table = _wanted.get(transaction) if transaction is not None else None
    if table is None:
        table = {}
        for endpoint_id, wanted in session.execute(select(_endpoints.c.id, _endpoints.c.events)
                                                   .order_by(_endpoints.c.id)):
            for name in wanted or ():
                table.setdefault(name, []).append(endpoint_id)
        if transaction is not None:
            _wanted[transaction] = table
    return table.get(event_type, [])


def emit(session: Session, event_type: str, build: Callable[[], BaseModel]) -> None:
    """Write the event for every endpoint that wants it, in the caller's transaction;
    `build` makes its data (only when some endpoint wants it)."""
    model = EVENT_TYPES[event_type]
    wanted = endpoints_wanting(session, event_type)
    if not wanted:
        return
    data = build()
    assert isinstance(data, model), (event_type, type(data))
    now = utcnow()
    event_id = session.execute(insert(_events).values(
        type=event_type, data=data.model_dump(mode="json"), created_at=now
    ).returning(_events.c.id)).scalar_one()
    session.execute(insert(_deliveries), [
        {"endpoint_id": endpoint_id, "event_id": event_id, "state": "pending", "attempts": 0,
         "next_attempt_at": now} for endpoint_id in wanted])
    events.record(events.OutboxWritten())
