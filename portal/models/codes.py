"""Pools and their codes: counters, import batches, codes, redemptions and each code's history."""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..vocabulary import (
    BarcodeFormat,
    BatchState,
    CodeStatus,
    PoolStatus,
)
from .base import BigId, UTCDateTime, utcnow, values_of
from .customers import Customer
from .people import Store, User


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
        CheckConstraint(f"status IN ({values_of(PoolStatus)})", name="status"),
        CheckConstraint(f"barcode_format IN ({values_of(BarcodeFormat)})", name="barcode_format"),
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
    # The batch that loaded the code. Not a foreign key (migration 0015): checking it
    # cost PostgreSQL a quarter of a large import; a batch is only ever deleted by
    # loading.discard, after its codes.
    batch_id: Mapped[int | None] = mapped_column(BigId)
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
        CheckConstraint(f"status IN ({values_of(CodeStatus)})", name="status"),
        # The assigner's "next available code of this pool" walks this index.
        Index("ix_code_pool_status_id", "pool_id", "status", "id"),
        # Only codes with a customer (migration 0015): an available code, all that an
        # import or generation writes, carries no entry here.
        Index("ix_code_customer_pool", "customer_id", "pool_id",
              postgresql_where=text("customer_id IS NOT NULL"),
              sqlite_where=text("customer_id IS NOT NULL")),
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
