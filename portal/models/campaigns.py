"""Reaching customers: channels, send jobs and their deliveries, alerts and replenishment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
from ..vocabulary import (
    JOB_UNDER_WAY,
    Channel,
    DeliveryState,
    JobState,
    Transport,
)
from .base import BigId, UTCDateTime, utcnow, values_of
from .customers import Customer


class ChannelSetting(db.Model):
    """How one pool reaches customers on one channel, and the message it sends there."""

    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    footer: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(f"channel IN ({values_of(Channel)})", name="channel"),
    )


class Job(db.Model):
    """A piece of background work (a campaign send, a large import or customer list)
    and where it has got to."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"), index=True)
    channel: Mapped[str | None] = mapped_column(String(16))  # a send's Transport
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    # What a file job works on and what it found: the upload's path and name, then
    # its result (the import batch, or the assignment's counts and failed lines).
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # The claim of the run holding it (host:pid/token), and when that run last showed
    # signs of life.
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # A send whose provider asked it to wait (HTTP 429 or 503 with Retry-After): nothing
    # goes out on its channel before paused_until; throttled_since is when the provider
    # began asking (cleared by the next message it accepts), for PROVIDER_MAX_WAIT.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    throttled_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint(f"state IN ({values_of(JobState)})", name="state"),)

    @property
    def active(self) -> bool:
        return self.state in JOB_UNDER_WAY


class Delivery(db.Model):
    """One campaign message to one customer on one channel: recorded once, ever."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.QUEUED.value)
    # Why it was skipped or failed: no_consent, no_address, pool_exhausted, redeemed,
    # interrupted, provider_throttled, error.
    reason: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("code.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer] = relationship()

    __table_args__ = (
        UniqueConstraint("pool_id", "customer_id", "channel", name="uq_delivery_once"),
        CheckConstraint(f"state IN ({values_of(DeliveryState)})", name="state"),
        CheckConstraint(f"channel IN ({values_of(Transport)})", name="channel"),
        Index("ix_delivery_job_state_id", "job_id", "state", "id"),
    )


class Alert(db.Model):
    """A warning about a pool, written in the transaction that caused it and sent after."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # low_stock, expiry or replenish
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class Replenishment(db.Model):
    """How a pool keeps itself filled: a URL fetched on a schedule, the drop folder, and
    a top-up by generation when it runs low. Secrets are stored encrypted."""

    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str | None] = mapped_column(String(2000))
    bearer_token_enc: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(200))
    password_enc: Mapped[str | None] = mapped_column(Text)
    every_hours: Mapped[int | None] = mapped_column(Integer)
    daily_at: Mapped[str | None] = mapped_column(String(5))  # HH:MM, UTC
    drop_folder: Mapped[bool] = mapped_column(Boolean, default=False)
    top_up_count: Mapped[int] = mapped_column(Integer, default=0)
    top_up_cap: Mapped[int | None] = mapped_column(BigInteger)
    # What the server said last time, to ask "changed since?" (ETag / Last-Modified).
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # One run at a time per pool, whichever worker or command starts it.
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set at the first failed run and cleared by a good one: the owner is told once.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The low-stock crossing (pool.low_stock_alerted_at) the last top-up answered.
    topped_up_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("every_hours IS NULL OR every_hours BETWEEN 1 AND 720", name="every_hours"),
        CheckConstraint("top_up_count >= 0", name="top_up_count"),
    )


class ReplenishmentRun(db.Model):
    """One replenishment run from one source, kept for the pool's history."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # url, drop_folder, top_up
    # imported, unchanged, failed, generated, skipped
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(500), default="")  # the file or address
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    imported: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_by_reason: Mapped[dict] = mapped_column(JSON, default=dict)
    generated: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_replenishment_run_pool_id", "pool_id", "id"),)
