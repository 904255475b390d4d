"""Events out to other systems: endpoints, the outbox, and each delivery."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import BigId, UTCDateTime, utcnow


class EventEndpoint(db.Model):
    """A receiver an admin registered for domain events (webhooks for integrations)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON)  # the event types it wants
    description: Mapped[str] = mapped_column(String(200), default="")
    secret: Mapped[str] = mapped_column(Text)  # the signing secret, sealed (recoverable to sign)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Failed attempts in a row; at EVENT_PAUSE_AFTER the endpoint is paused until resumed.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # One worker at a time delivers to an endpoint, so its events keep their order.
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TransportSetting(db.Model):
    """A sending channel (email, SMS) an admin set up on the portal's channel page; the
    environment's settings, when present, win (services/transport_settings.py)."""

    transport: Mapped[str] = mapped_column(String(16), primary_key=True)
    values: Mapped[dict] = mapped_column(JSON)  # host, port, from…: nothing secret
    secret: Mapped[str | None] = mapped_column(Text)  # the password or token, sealed
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    __table_args__ = (CheckConstraint("transport IN ('email', 'sms')", name="transport"),)


class OutboxEvent(db.Model):
    """A domain event, written in the transaction of the change that caused it."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventDelivery(db.Model):
    """One event for one endpoint: pending until the receiver answers 2xx."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("event_endpoint.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_event.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[EventEndpoint] = relationship()
    event: Mapped[OutboxEvent] = relationship()

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_event_delivery_endpoint_event"),
        # The next pending event of an endpoint, in event order.
        Index("ix_event_delivery_next", "endpoint_id", "state", "event_id"),
        CheckConstraint("state IN ('pending', 'delivered')", name="state"),
    )
