"""The API's request and response shapes. They validate requests and, through
pydantic's JSON Schema, make the OpenAPI document: one definition for both."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from .. import models
from ..services import customers, formats, generation, pools, text, times
from ..services.codes import MAX_LENGTH, MIN_LENGTH
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


def Text(**limits: int):  # noqa: N802
    """Any text without NUL (which no text column can hold)."""
    return Annotated[str, Field(pattern=text.TEXT_PATTERN, **limits)]


def Filled(**limits: int):  # noqa: N802
    """Text that is not blank once trimmed, as the services trim it: a name, an id, a reason."""
    return Annotated[str, Field(pattern=text.FILLED_PATTERN, **limits)]


def _in_years(moment: datetime) -> datetime:
    if not times.in_range(moment):
        raise ValueError(f"must be in the years {times.FIRST_YEAR} to {times.LAST_YEAR}")
    return moment


# A date-time with its zone, in the years the portal stores (as written).
Moment = Annotated[AwareDatetime, AfterValidator(_in_years),
                   Field(json_schema_extra={"pattern": times.YEAR_PATTERN})]


class Strict(BaseModel):
    """Request bodies: no unknown fields and no type coercion (0 is not a date)."""

    model_config = ConfigDict(extra="forbid", strict=True)


BARCODE_FORMAT = (
    "How the voucher page draws each code: `qr`, `code128`, `ean13` or `none`. "
    f"{formats.EAN13_RULE} In an `ean13` pool, an import refuses other lines (reason "
    f"`{formats.NOT_EAN13}`), generation adds the check digit, and switching a pool with other "
    f"codes to `ean13` is refused with 422 `{formats.NOT_EAN13}`.")


class PoolSettings(Strict):
    """The pool's settings other than its name, all optional."""

    description: Text(max_length=pools.DESCRIPTION_MAX) | None = None
    benefit: Text(max_length=pools.BENEFIT_MAX) | None = Field(None, description=(
        "What the customer gets, as the voucher and the till show it."))
    terms: Text(max_length=pools.TERMS_MAX) | None = None
    valid_from: Moment | None = None
    valid_until: Moment | None = Field(None, description="After valid_from (else 422 `invalid_window`).")
    per_customer_limit: Whole(ge=pools.PER_CUSTOMER_LIMIT_MIN, le=pools.PER_CUSTOMER_LIMIT_MAX) | None = None
    low_stock_threshold: Whole(ge=pools.LOW_STOCK_THRESHOLD_MIN,
                               le=pools.LOW_STOCK_THRESHOLD_MAX) | None = None
    barcode_format: BarcodeFormat | None = Field(None, description=BARCODE_FORMAT)
    require_assignment: bool | None = None


class ReplenishmentIn(Strict):
    """Keeping the pool filled; a field left out stays as it is."""

    url: Text(max_length=refill.URL_MAX) | None = Field(None, description=(
        "An http(s) address of the partner's file, fetched on the schedule; null removes it. "
        "One that is not such an address is refused with 422 `invalid_url`."))
    bearer_token: Text(max_length=refill.SECRET_MAX) | None = Field(None, description=(
        "Write-only: sent as `Authorization: Bearer`. Never returned; an empty string removes it."))
    username: Text(max_length=refill.USERNAME_MAX) | None = Field(None, description="For HTTP basic sign-in.")
    password: Text(max_length=refill.SECRET_MAX) | None = Field(None, description=(
        "Write-only, for HTTP basic sign-in. Never returned; an empty string removes it."))
    every_hours: Whole(ge=refill.EVERY_HOURS_MIN, le=refill.EVERY_HOURS_MAX) | None = Field(
        None, description="Fetch every N hours.")
    daily_at: str | None = Field(None, pattern=refill.DAILY_AT_PATTERN, description=(
        "Or fetch daily at HH:MM, UTC (not both: 422 `two_schedules`)."))
    drop_folder: bool | None = Field(None, description=(
        "Import files named `pool-<id>-…` that appear in the server's drop folder (422 "
        "`drop_folder_not_configured` when the server has none)."))
    top_up_count: Whole(ge=0, le=refill.TOP_UP_COUNT_MAX) | None = Field(None, description=(
        "Codes to generate (with the pool's latest generation settings) each time available "
        "codes fall below the low-stock threshold; 0 turns it off."))
    top_up_cap: Whole(ge=0, le=refill.TOP_UP_CAP_MAX) | None = Field(None, description=(
        "Top-ups stop at this many codes in the pool in all; null for no cap."))


class PoolCreate(PoolSettings):
    name: Filled(max_length=pools.NAME_MAX)


class PoolPatch(PoolSettings):
    """A field left out stays as it is; null clears the texts, the dates and the
    replenishment's settings, and is refused for the fields that always have a value."""

    name: Filled(max_length=pools.NAME_MAX) = None
    per_customer_limit: Whole(ge=pools.PER_CUSTOMER_LIMIT_MIN, le=pools.PER_CUSTOMER_LIMIT_MAX) = None
    low_stock_threshold: Whole(ge=pools.LOW_STOCK_THRESHOLD_MIN, le=pools.LOW_STOCK_THRESHOLD_MAX) = None
    barcode_format: BarcodeFormat = Field(None, description=BARCODE_FORMAT)
    require_assignment: bool = None
    status: PoolStatus = None
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
    charset: str = Field("alphanumeric", min_length=1, max_length=100,
                         pattern=generation.CHARSET_PATTERN, description=(
        "`alphanumeric` (without 0 O 1 I L), `alphabetic`, `numeric`, `hex`, or your own set "
        "of at least two different characters (else 422 `charset_too_small`). "
        f"{formats.EAN13_GENERATION} Otherwise 422 `{formats.NOT_EAN13}`."))
    pattern: str | None = Field(None, min_length=1, max_length=MAX_LENGTH,
                                pattern=generation.PATTERN_PATTERN,
                                description="For example `SUMMER-####-####`; # is random.")
    prefix: str = Field("", max_length=MAX_LENGTH, pattern=generation.LITERAL_PATTERN, description=(
        f"Prefix, random part and postfix make codes of {MIN_LENGTH}–{MAX_LENGTH} characters "
        "(else 422 `invalid_code_length`)."))
    postfix: str = Field("", max_length=MAX_LENGTH, pattern=generation.LITERAL_PATTERN)


class Generated(BaseModel):
    generated: int
    sample: list[str]
    counts: Counts


class CustomerRow(Strict):
    """A customer in a bulk assignment: a row whose values are refused (`missing_customer_id`,
    `invalid_email`, `invalid_phone`) is listed in `failed`, and the others are assigned."""

    customer_id: Text(max_length=200)
    email: Text(max_length=customers.EMAIL_MAX) | None = None
    phone: Text(max_length=32) | None = None
    first_name: Text(max_length=200) | None = None
    last_name: Text(max_length=200) | None = None
    email_consent: bool | None = None
    sms_consent: bool | None = None


class CustomerIn(CustomerRow):
    """One customer: values the services refuse are refused here, as a 400."""

    customer_id: Filled(max_length=200)
    email: str | None = Field(None, max_length=customers.EMAIL_MAX, pattern=customers.EMAIL_PATTERN)
    phone: str | None = Field(None, max_length=32, pattern=customers.PHONE_PATTERN)


ConsentChannel = Literal["email", "sms"]


class Assignment(BaseModel):
    code: str
    status: CodeStatus
    pool_id: int
    customer_id: str
    assigned_at: datetime
    expires_at: datetime | None
    voucher_url: str
    kept_withdrawn: list[ConsentChannel] = Field(default_factory=list, description=(
        "Channels the request said yes to that stay without consent: the customer had "
        "unsubscribed or sent STOP themselves. `POST /customers/{customer_id}/consent` "
        "subscribes them again when they have agreed again."))


class BulkAssign(Strict):
    customers: list[CustomerRow] = Field(max_length=10_000)


class BulkFailure(BaseModel):
    index: int
    customer_id: str
    error: str
    message: str


class BulkWithdrawn(BaseModel):
    index: int
    customer_id: str
    channels: list[ConsentChannel]


class BulkResult(BaseModel):
    assigned: int
    already_assigned: int
    failed: list[BulkFailure]
    counts: Counts
    withdrawn: list[BulkWithdrawn] = Field(default_factory=list, description=(
        "Customers the request said yes for who stay without consent on these channels: "
        "they had unsubscribed or sent STOP themselves."))


class ConsentState(BaseModel):
    channel: ConsentChannel
    consent: bool
    withdrawn_at: datetime | None = Field(description=(
        "When the customer unsubscribed or sent STOP themselves. A later yes from a list or "
        "an assignment does not undo it; only `POST /customers/{customer_id}/consent` does."))


class ConsentChange(BaseModel):
    channel: ConsentChannel
    consent: bool
    before: bool | None = Field(description="null: the customer was new.")
    source: models.ConsentSource
    detail: str
    at: datetime


class CustomerOut(BaseModel):
    customer_id: str
    email: str | None
    phone: str | None = Field(description="E.164, as the customer's list or call gave it, normalised.")
    first_name: str | None
    last_name: str | None
    consent: list[ConsentState]
    consent_history: list[ConsentChange] = Field(description="The last 100 changes, newest first.")


class ConsentIn(Strict):
    """An explicit choice: the customer agreed (again), or said no, on this channel."""

    channel: ConsentChannel
    consent: bool


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
    wallet_url: str = Field(description="The customer's page listing all their vouchers, each "
                                        "linking to its own page; for a message or a receipt.")
    vouchers: list[Voucher]


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
    failed_by_reason: dict[str, int] = Field(
        description="`error`, `interrupted` or `provider_throttled`.")
    errors: list[SendError] = Field(description="The commonest errors, most frequent first.")
    error: str | None = Field(description="Why the send stopped, when it did.")
    paused_until: datetime | None = Field(None, description=(
        "While the channel's provider has asked the send to wait (HTTP 429 or 503 with "
        "`Retry-After`): when it goes on. Null otherwise."))
    created_at: datetime
    finished_at: datetime | None
