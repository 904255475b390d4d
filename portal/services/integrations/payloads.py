"""What each event says: one pydantic model per event type for its `data`. The outbox
builds every payload through these models, and the OpenAPI document's `webhooks`
section describes them, so the two cannot drift."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VoucherAssigned(_Data):
    """A customer was given a code."""

    code: str
    pool_id: int
    customer_id: str = Field(description="The customer's id as the integration gave it.")
    assigned_at: datetime
    expires_at: datetime | None = Field(description="When the code stops being valid, if ever.")


class VoucherRedeemed(_Data):
    """A code was redeemed (at a till, through the API, alone or in a batch)."""

    code: str
    pool_id: int
    customer_id: str | None
    redemption_id: int
    store: str | None = Field(description="The store's code, when the redemption named one.")
    order_ref: str | None
    redeemed_at: datetime


class VoucherRedemptionRolledBack(_Data):
    """A redemption was undone; the code can be redeemed again."""

    code: str
    pool_id: int
    customer_id: str | None
    redemption_id: int
    reason: str
    rolled_back_at: datetime


class VoucherCanceled(_Data):
    """A code was voided; it can never be assigned or redeemed again."""

    code: str
    pool_id: int
    customer_id: str | None
    reason: str
    canceled_at: datetime


class PoolLowStock(_Data):
    """A pool's available codes fell below its low-stock threshold (once per crossing)."""

    pool_id: int
    available: int
    threshold: int


class PoolReplenished(_Data):
    """Codes were added to a pool by its replenishment (a fetched file, the drop folder
    or an automatic top-up)."""

    pool_id: int
    source: str = Field(description="`url`, `drop_folder` or `top_up`.")
    imported: int
    generated: int


class SendFinished(_Data):
    """A campaign send ended."""

    job_id: int
    pool_id: int
    channel: str | None
    state: str = Field(description="`done`, or `failed` when the send was stopped by a failure.")
    sent: int
    failed: int
    skipped: int


# The event types, in the order the admin page and the document list them.
EVENT_TYPES: dict[str, type[_Data]] = {
    "voucher.assigned": VoucherAssigned,
    "voucher.redeemed": VoucherRedeemed,
    "voucher.redemption_rolled_back": VoucherRedemptionRolledBack,
    "voucher.canceled": VoucherCanceled,
    "pool.low_stock": PoolLowStock,
    "pool.replenished": PoolReplenished,
    "send.finished": SendFinished,
}
