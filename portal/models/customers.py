"""Customers, their consent as a record of changes, and the campaigns they are on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..vocabulary import (
    CONSENT_CHANNELS,
    ConsentSource,
)
from .base import BigId, UTCDateTime, utcnow, values_of


class Customer(db.Model):
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the customer withdrew consent themselves (unsubscribe, STOP): a list or an API
    # call that says yes later does not undo that; only a marketer's explicit choice does.
    email_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sms_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # The code browser finds a customer by email typed in any case (migration 0016).
    __table_args__ = (Index("ix_customer_email_lower", text("lower(email)")),)


class ConsentChange(db.Model):
    """One change of a customer's consent to a channel: when, how, and what it was before."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    consent: Mapped[bool] = mapped_column(Boolean)
    before: Mapped[bool | None] = mapped_column(Boolean)  # None: a new customer
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(200), default="")  # who, or which list
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(f"channel IN ({', '.join(repr(c) for c in CONSENT_CHANNELS)})", name="channel"),
        CheckConstraint(f"source IN ({values_of(ConsentSource)})", name="source"),
        Index("ix_consent_change_customer", "customer_id", "at"),
    )


class Audience(db.Model):
    """A customer a pool's campaign is meant for, whether or not they hold a code yet."""

    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
