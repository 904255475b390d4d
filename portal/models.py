"""Typed SQLAlchemy models: the tables and the invariants the database enforces."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .vocabulary import (  # noqa: F401 (re-exported: the models' words)
    CONSENT_CHANNELS,
    JOB_UNDER_WAY,
    ApiScope,
    BarcodeFormat,
    BatchState,
    Channel,
    CodeStatus,
    ConsentSource,
    DeliveryState,
    JobKind,
    JobState,
    PoolStatus,
    Role,
    Transport,
)

COUNTER_SHARDS = 16


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back time-zone aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Integer primary keys that are 64-bit on PostgreSQL and rowid aliases on SQLite; the
# others are 32-bit (vocabulary.ID_MAX and BIG_ID_MAX say how far each goes).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _values(enum_cls: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum_cls)


class Store(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # An IANA zone name (Europe/Warsaw) for the times its tills show; None: PORTAL_TIMEZONE.
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Brand(db.Model):
    """The shop's look on voucher pages and in emails: one row, set on the admin page."""

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_name: Mapped[str] = mapped_column(String(100), default="")
    accent_colour: Mapped[str] = mapped_column(String(7), default="")  # "#1f4fa8" or ""
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)  # PNG or JPEG only
    logo_type: Mapped[str | None] = mapped_column(String(16))  # image/png, image/jpeg
    logo_etag: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised to end every session of the user (sign-out, disabling, a new password):
    # a session holds the number it started with and stops working once it is stale.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    store: Mapped[Store | None] = relationship()

    __table_args__ = (CheckConstraint(f"role IN ({_values(Role)})", name="role"),)

    @property
    def is_active(self) -> bool:  # Flask-Login: a disabled user cannot sign in
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session (and a remember cookie): the id and the
        session version, so raising the version ends both (see portal/sessions.py)."""
        return f"{self.id}:{self.session_version}"


class ApiKey(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))
    # sha256 of the key: keys are long random strings, so a fast hash is enough.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint(f"scope IN ({_values(ApiScope)})", name="scope"),)


class Pool(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    benefit: Mapped[str] = mapped_column(Text, default="")
    terms: Mapped[str] = mapped_column(Text, default="")
    barcode_format: Mapped[str] = mapped_column(String(16), default=BarcodeFormat.QR.value)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    per_customer_limit: Mapped[int] = mapped_column(Integer, default=1)
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=0)
    require_assignment: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default=PoolStatus.ACTIVE.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who hears about the pool's alerts; admins do when nobody owns it.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # Set when available codes fell below the threshold, cleared when refilled above
    # it: the alert goes out once per crossing.
    low_stock_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expiry_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The settings of the pool's latest generation, which an automatic top-up reuses.
    generation_spec: Mapped[dict | None] = mapped_column(JSON)
    # When a marketer last saved the redemption rules in the wizard (its stage 5).
    redemption_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint(f"status IN ({_values(PoolStatus)})", name="status"),
        CheckConstraint(f"barcode_format IN ({_values(BarcodeFormat)})", name="barcode_format"),
        CheckConstraint("per_customer_limit >= 1", name="per_customer_limit"),
        CheckConstraint("low_stock_threshold >= 0", name="low_stock_threshold"),
    )


class PoolCounter(db.Model):
    """Per-pool counts by status, split over shards so concurrent writers rarely wait.

    Every change of a code's status adjusts one shard in the same transaction, so the
    sum over a pool's shards is always the real count and reads touch a fixed number
    of rows whatever the pool's size.
    """

    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    available: Mapped[int] = mapped_column(BigInteger, default=0)
    assigned: Mapped[int] = mapped_column(BigInteger, default=0)
    redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    canceled: Mapped[int] = mapped_column(BigInteger, default=0)


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
        CheckConstraint(f"source IN ({_values(ConsentSource)})", name="source"),
        Index("ix_consent_change_customer", "customer_id", "at"),
    )


class ImportBatch(db.Model):
    """One import or generation run into a pool, with what it did."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "import" or "generate"
    source: Mapped[str] = mapped_column(String(500), default="")
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    lines: Mapped[int] = mapped_column(BigInteger, default=0)
    imported: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected_by_reason: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    # A batch is written in steps while loading (services/loading.py): its codes are
    # those above code_floor, the highest code id when it began, and count once it is live.
    state: Mapped[str] = mapped_column(String(16), default=BatchState.LIVE.value,
                                       server_default=BatchState.LIVE.value, index=True)
    loader: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_floor: Mapped[int | None] = mapped_column(BigInteger)


class ImportRejection(db.Model):
    """A line an import turned away, kept for the downloadable report."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_import_rejection_batch_line", "batch_id", "line"),)


class Code(db.Model):
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    code: Mapped[str] = mapped_column(String(64))
    # Upper case without whitespace or hyphens; unique across the whole workspace.
    normalized: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=CodeStatus.AVAILABLE.value)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    redeemed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    redeemed_by_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    order_ref: Mapped[str | None] = mapped_column(String(200))

    pool: Mapped[Pool] = relationship()
    customer: Mapped[Customer | None] = relationship()
    redeemed_store: Mapped[Store | None] = relationship()

    __table_args__ = (
        CheckConstraint(f"status IN ({_values(CodeStatus)})", name="status"),
        # The assigner's "next available code of this pool" walks this index.
        Index("ix_code_pool_status_id", "pool_id", "status", "id"),
        Index("ix_code_customer_pool", "customer_id", "pool_id"),
    )


class Redemption(db.Model):
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("code.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    order_ref: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rolled_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rollback_reason: Mapped[str | None] = mapped_column(Text)

    code: Mapped[Code] = relationship()
    store: Mapped[Store | None] = relationship()


class RedemptionBatch(db.Model):
    """The first answer to a batch of redemptions sent with an Idempotency-Key: the same
    key again gets it back, and the key with another request is refused."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the request
    results: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CodeEvent(db.Model):
    """Append-only history: one row for every change of a code's state."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("code.id"), index=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    details: Mapped[dict] = mapped_column(JSON, default=dict)


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
        CheckConstraint(f"channel IN ({_values(Channel)})", name="channel"),
    )


class Audience(db.Model):
    """A customer a pool's campaign is meant for, whether or not they hold a code yet."""

    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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

    __table_args__ = (CheckConstraint(f"state IN ({_values(JobState)})", name="state"),)

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
        CheckConstraint(f"state IN ({_values(DeliveryState)})", name="state"),
        CheckConstraint(f"channel IN ({_values(Transport)})", name="channel"),
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
