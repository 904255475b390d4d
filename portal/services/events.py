"""Domain events: what one change must cause after it is committed.

A service records a small event object in its transaction (`record`); when that
transaction commits, `write_transaction` hands its events to the handler table that
the app installed (`portal.queue.HANDLERS`, the one place that says what runs after
what). A rolled-back transaction's events are dropped with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass

from flask import current_app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that happened in the domain and was committed."""


@dataclass(frozen=True)
class AlertWritten(Event):
    """An alert row was written: send it now rather than at the next periodic check."""

    pool_id: int


@dataclass(frozen=True)
class LowStockCrossed(Event):
    """The pool's available codes fell below its low-stock threshold (once per crossing)."""

    pool_id: int


@dataclass(frozen=True)
class OutboxWritten(Event):
    """Events for webhook endpoints were written: deliver them now rather than at the
    worker's next periodic check."""


Handlers = dict[type[Event], tuple[Callable[[Event], None], ...]]
EXTENSION = "portal.event_handlers"
# The events of the write transaction open in this context, None outside one.
_recorded: ContextVar[list[Event] | None] = ContextVar("portal_events", default=None)


def record(event: Event) -> None:
    """Record an event in the open write transaction; it is handled after the commit."""
    pending = _recorded.get()
    if pending is None:
        raise RuntimeError("events.record() outside a write transaction")
    if event not in pending:
        pending.append(event)


def collecting() -> tuple[list[Event] | None, object]:
    """Start collecting for a transaction: (the list, or None when an outer transaction
    already collects, and the token to stop with)."""
    if _recorded.get() is not None:
        return None, None
    pending: list[Event] = []
    return pending, _recorded.set(pending)


def stop_collecting(token: object) -> None:
    if token is not None:
        _recorded.reset(token)


def install(app, handlers: Handlers) -> None:  # noqa: ANN001
    """Give the app its handler table."""
    app.extensions[EXTENSION] = handlers


def publish(events: Iterable[Event]) -> None:
    """Run every handler of each committed event. A handler that fails is logged: the
    change is committed, and the worker's periodic checks catch up."""
    table: Handlers = current_app.extensions.get(EXTENSION, {})
    for event in events:
        for handler in table.get(type(event), ()):
            try:
                handler(event)
            except Exception:  # noqa: BLE001
                log.exception("handling %r failed; the periodic checks will catch up", event)
