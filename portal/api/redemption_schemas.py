"""The shapes of checking, redeeming (one code or a batch) and rolling back."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ..services import redemption_batch
from ..services.wording import REASONS
from .schemas import CodeStatus, Filled, Strict, Text, Voucher

# Named enums, so a generated client gets one type for each: the reasons a code cannot
# be redeemed now (the till's words, services/wording.py), and a batch item's.
RedemptionReason = enum.StrEnum("RedemptionReason", {reason: reason for reason in REASONS})
BatchReason = enum.StrEnum("BatchReason", {reason: reason for reason in redemption_batch.ITEM_REASONS})


class Validate(Strict):
    code: Text(max_length=200)


class Validation(BaseModel):
    valid: bool
    reason: RedemptionReason | None = Field(description=(
        "Why the code cannot be redeemed now; null when it can."))
    voucher: Voucher | None


class Redeem(Strict):
    code: Text(max_length=200)
    store: Text(max_length=32) | None = Field(None, description=(
        "The store's code (422 `unknown_store` when there is no such store)."))
    order_ref: Text(max_length=200) | None = None


class Redemption(BaseModel):
    id: int
    code: str
    pool_id: int
    customer_id: str | None
    store: str | None
    order_ref: str | None
    redeemed_at: datetime


class Rollback(Strict):
    reason: Filled(max_length=1000)


class RolledBack(Redemption):
    rolled_back_at: datetime
    rollback_reason: str
    code_status: CodeStatus


class BatchRedeem(Strict):
    """A basket of codes. Each item counts against the redemption rate limit as one
    request would, and an unknown code against the allowance of unknown codes as a single
    one does; once that allowance is used up, the items left are refused `rate_limited`."""

    items: list[Redeem] = Field(min_length=1, max_length=redemption_batch.MAX_ITEMS, description=(
        f"1–{redemption_batch.MAX_ITEMS} codes, each redeemed as `POST /redemptions` would."))
    all_or_nothing: bool = Field(False, description=(
        "false: each item stands alone, and a refused one leaves the others redeemed. "
        "true: all the items are redeemed or none is; the results say which refused."))


class BatchItemResult(BaseModel):
    index: int = Field(description="The item's place in `items`, from 0.")
    code: str = Field(description="The code as the item gave it.")
    status: Literal["redeemed", "refused", "not_redeemed"] = Field(description=(
        "`redeemed`; `refused` (see `error`); or `not_redeemed`: this item could be "
        "redeemed, but another item of an all-or-nothing batch was refused."))
    error: BatchReason | None = Field(description=(
        "Why the item was refused: a single redemption's reason (`unknown_code`, "
        "`already_redeemed`, `unknown_store`, …), `duplicate_in_batch` for a code an earlier "
        "item has, or `rate_limited` once the key's allowance of unknown codes is used up."))
    message: str = Field(description="What happened, for people: the till's words.")
    redemption: Redemption | None = Field(description="The redemption, when `status` is `redeemed`.")
    redeemed_at: datetime | None = Field(None, description="`already_redeemed`: when it was redeemed.")
    store: str | None = Field(None, description="`already_redeemed`: the store's code where it was.")


class BatchResult(BaseModel):
    all_or_nothing: bool
    redeemed: int = Field(description="How many items were redeemed.")
    refused: int = Field(description="How many items were refused.")
    results: list[BatchItemResult] = Field(description="One per item, in the order of `items`.")
