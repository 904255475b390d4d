"""The API's request and response shapes. They validate requests and, through
pydantic's JSON Schema, make the OpenAPI document: one definition for both."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from .. import models
from ..services import generation, pools
from ..services.codes import MAX_LENGTH
from ..services.replenishment import settings as refill


def _choices(enum_cls: type[enum.StrEnum]):  # noqa: ANN202
    """A schema's closed set of strings, taken from the model's enum (their one home)."""
    return Literal[tuple(member.value for member in enum_cls)]


BarcodeFormat = _choices(models.BarcodeFormat)
PoolStatus = _choices(models.PoolStatus)
CodeStatus = _choices(models.CodeStatus)
Transport = _choices(models.Transport)
JobState = _choices(models.JobState)


def _whole(value: object) -> object:
    """JSON Schema counts 12.0 as an integer, so the API does too."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def Whole(**bounds: int):  # noqa: N802  (reads like a type in the models)
    """An integer with bounds, taking 12.0 as 12 but never "12"."""
    return Annotated[int, Field(**bounds), BeforeValidator(_whole)]


class Strict(BaseModel):
    """Request bodies: no unknown fields and no type coercion (0 is not a date)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Error(BaseModel):
    error: str = Field(description="Machine-readable reason, e.g. `pool_exhausted`.")
    message: str = Field(description="What went wrong, for people.")
    model_config = ConfigDict(extra="allow")


class PoolSettings(Strict):
    """The pool's settings other than its name, all optional."""

    description: str | None = Field(None, max_length=pools.DESCRIPTION_MAX)
    benefit: str | None = Field(None, max_length=pools.BENEFIT_MAX, description=(
        "What the customer gets, as the voucher and the till show it."))
    terms: str | None = Field(None, max_length=pools.TERMS_MAX)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    per_customer_limit: Whole(ge=pools.PER_CUSTOMER_LIMIT_MIN, le=pools.PER_CUSTOMER_LIMIT_MAX) | None = None
    low_stock_threshold: Whole(ge=pools.LOW_STOCK_THRESHOLD_MIN,
                               le=pools.LOW_STOCK_THRESHOLD_MAX) | None = None
    barcode_format: BarcodeFormat | None = None
    require_assignment: bool | None = None


class ReplenishmentIn(Strict):
    """Keeping the pool filled; a field left out stays as it is."""

    url: str | None = Field(None, max_length=refill.URL_MAX, description=(
        "An http(s) address of the partner's file, fetched on the schedule; null removes it."))
    bearer_token: str | None = Field(None, max_length=refill.SECRET_MAX, description=(
        "Write-only: sent as `Authorization: Bearer`. Never returned; an empty string removes it."))
    username: str | None = Field(None, max_length=refill.USERNAME_MAX, description="For HTTP basic sign-in.")
    password: str | None = Field(None, max_length=refill.SECRET_MAX, description=(
        "Write-only, for HTTP basic sign-in. Never returned; an empty string removes it."))
    every_hours: Whole(ge=refill.EVERY_HOURS_MIN, le=refill.EVERY_HOURS_MAX) | None = Field(
        None, description="Fetch every N hours.")
    daily_at: str | None = Field(None, pattern=refill.DAILY_AT_PATTERN,
                                 description="Or fetch daily at HH:MM, UTC.")
    drop_folder: bool | None = Field(None, description=(
        "Import files named `pool-<id>-…` that appear in the server's drop folder."))
    top_up_count: Whole(ge=0, le=refill.TOP_UP_COUNT_MAX) | None = Field(None, description=(
        "Codes to generate (with the pool's latest generation settings) each time available "
        "codes fall below the low-stock threshold; 0 turns it off."))
    top_up_cap: Whole(ge=0, le=refill.TOP_UP_CAP_MAX) | None = Field(None, description=(
        "Top-ups stop at this many codes in the pool in all; null for no cap."))


class PoolCreate(PoolSettings):
    name: str = Field(min_length=1, max_length=pools.NAME_MAX)


class PoolPatch(PoolSettings):
    name: str | None = Field(None, min_length=1, max_length=pools.NAME_MAX)
    status: PoolStatus | None = None
    replenishment: ReplenishmentIn | None = None


class Counts(BaseModel):
    available: int
    assigned: int
    redeemed: int
    canceled: int
    total: int


class ReplenishmentRun(BaseModel):
    id: int
    at: datetime
    source: Literal["url", "drop_folder", "top_up"]
    outcome: Literal["imported", "unchanged", "failed", "generated", "skipped"]
    detail: str
    imported: int
    rejected: int
    rejected_by_reason: dict[str, int]
    generated: int
    error: str | None


class ReplenishmentOut(BaseModel):
    url: str | None = Field(description="Without any user:password written into it.")
    bearer_token: None = Field(None, description="Write-only: always null.")
    bearer_token_set: bool
    username: str | None
    password: None = Field(None, description="Write-only: always null.")
    password_set: bool
    every_hours: int | None
    daily_at: str | None
    drop_folder: bool
    top_up_count: int
    top_up_cap: int | None
    next_run_at: datetime | None
    last_run: ReplenishmentRun | None


class ReplenishmentRuns(BaseModel):
    runs: list[ReplenishmentRun]


class Pool(BaseModel):
    id: int
    name: str
    description: str
    benefit: str
    terms: str
    valid_from: datetime | None
    valid_until: datetime | None
    per_customer_limit: int
    low_stock_threshold: int
    barcode_format: BarcodeFormat
    require_assignment: bool
    status: PoolStatus
    created_at: datetime
    counts: Counts
    replenishment: ReplenishmentOut | None = Field(description="null when none is set up.")


class PoolList(BaseModel):
    pools: list[Pool]


class Rejection(BaseModel):
    line: int
    value: str
    reason: str


class ImportResult(BaseModel):
    imported: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejections: list[Rejection] = Field(description=(
        "The first 1,000 rejected lines. Every rejected line is counted in `rejected_by_reason`; "
        "the report keeps the first 10,000 lines of each reason."))
    notes: list[str]
    counts: Counts


class ImportJob(BaseModel):
    """A large file imported by a worker: poll its URL until `state` is `done` or `failed`."""

    id: int
    pool_id: int
    state: JobState
    created_at: AwareDatetime
    finished_at: AwareDatetime | None
    error: str | None = Field(description="Why the file was refused, when `state` is `failed`; "
                                          "nothing was imported then.")
    result: ImportResult | None = Field(description="What the import did, once `state` is `done`.")


class Generate(Strict):
    count: Whole(ge=1, le=generation.REQUEST_MAX_COUNT) = Field(description=(
        f"How many codes; at most {generation.REQUEST_MAX_COUNT:,} per request (the CLI takes "
        f"up to {generation.MAX_COUNT:,})."))
    length: Whole(ge=generation.LENGTH_MIN, le=generation.LENGTH_MAX) = generation.DEFAULT_LENGTH
    charset: str = Field("alphanumeric", min_length=1, max_length=100, description=(
        "`alphanumeric` (without 0 O 1 I L), `alphabetic`, `numeric`, `hex`, or your own set."))
    pattern: str | None = Field(None, min_length=1, max_length=MAX_LENGTH,
                                description="For example `SUMMER-####-####`; # is random.")
    prefix: str = Field("", max_length=MAX_LENGTH)
    postfix: str = Field("", max_length=MAX_LENGTH)


class Generated(BaseModel):
    generated: int
    sample: list[str]
    counts: Counts


class CustomerIn(Strict):
    customer_id: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    email_consent: bool | None = None
    sms_consent: bool | None = None


class Assignment(BaseModel):
    code: str
    status: CodeStatus
    pool_id: int
    customer_id: str
    assigned_at: datetime
    expires_at: datetime | None
    voucher_url: str


class BulkAssign(Strict):
    customers: list[CustomerIn] = Field(max_length=10_000)


class BulkFailure(BaseModel):
    index: int
    customer_id: str
    error: str
    message: str


class BulkResult(BaseModel):
    assigned: int
    already_assigned: int
    failed: list[BulkFailure]
    counts: Counts


class Voucher(BaseModel):
    code: str
    pool_id: int
    pool_name: str
    benefit: str
    status: CodeStatus
    customer_id: str | None
    assigned_at: datetime | None
    redeemed_at: datetime | None
    expires_at: datetime | None = Field(description="The earlier of the code's and the pool's end.")
    voucher_url: str | None


class CustomerVouchers(BaseModel):
    customer_id: str
    vouchers: list[Voucher]


class Validate(Strict):
    code: str = Field(max_length=200)


class Validation(BaseModel):
    valid: bool
    reason: str | None
    voucher: Voucher | None


class Redeem(Strict):
    code: str = Field(max_length=200)
    store: str | None = Field(None, max_length=32, description="The store's code.")
    order_ref: str | None = Field(None, max_length=200)


class Redemption(BaseModel):
    id: int
    code: str
    pool_id: int
    customer_id: str | None
    store: str | None
    order_ref: str | None
    redeemed_at: datetime


class Rollback(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class RolledBack(Redemption):
    rolled_back_at: datetime
    rollback_reason: str
    code_status: CodeStatus


class Health(BaseModel):
    status: str


class SendStart(Strict):
    channel: Transport
    resend_interrupted: bool = Field(False, description=(
        "Also send again the messages a stopped worker may have sent (`failed: interrupted`)."))


class SendError(BaseModel):
    message: str
    count: int


class Send(BaseModel):
    """A campaign send and where it has got to; each customer gets the message once."""

    id: int
    pool_id: int
    channel: Transport
    state: JobState
    total: int
    sent: int
    failed: int
    skipped: int
    remaining: int
    skipped_by_reason: dict[str, int] = Field(
        description="`no_consent`, `no_address`, `pool_exhausted`, `redeemed`.")
    failed_by_reason: dict[str, int] = Field(description="`error` or `interrupted`.")
    errors: list[SendError] = Field(description="The commonest errors, most frequent first.")
    error: str | None = Field(description="Why the send stopped, when it did.")
    created_at: datetime
    finished_at: datetime | None
