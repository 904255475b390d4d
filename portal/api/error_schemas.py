"""The one shape of every error the API answers, with the members some reasons add."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .schemas import PoolStatus


class FieldError(BaseModel):
    field: str = Field(description=(
        "The wrong field: its dotted path in the body (`customers.3.email`), a header's "
        "name (`Idempotency-Key`), or `(body)` for the body as a whole."))
    message: str


class Error(BaseModel):
    """Every error the API answers. `error` is one of `ErrorCode`, and each response lists
    the ones it can carry; the members after `request_id` come only with the errors named."""

    error: str = Field(description="Machine-readable reason, e.g. `pool_exhausted`; each "
                       "response lists the reasons it can carry.")
    message: str = Field(description="What went wrong, for people.")
    request_id: str = Field(description=(
        "This request's id, also sent as the `X-Request-ID` header (a request may name its "
        "own: 8–64 of A–Z a–z 0–9 . _ : -). The server logs its errors with it: quote it."))
    fields: list[FieldError] = Field(None, description=(
        "On every 400: the fields that are wrong (empty when the body as a whole is, such as "
        "JSON that does not parse). On a 409 or 422 about one value (`invalid_phone`, "
        "`invalid_email`, `invalid_window`, `conflict` for a taken name, …): that field."))
    redeemed_at: datetime = Field(None, description="`already_redeemed`: when it was redeemed.")
    store: str | None = Field(None, description=(
        "`already_redeemed`: the store's code where it was redeemed; null when no store was named."))
    allowed: int = Field(None, description=(
        "`too_many_codes`: the most codes one request may generate here. "
        "`code_space_too_small`: the most codes that can still be generated with these settings."))
    requested: int = Field(None, description="`code_space_too_small`: the codes asked for.")
    remaining: int = Field(None, description=(
        "`code_space_too_small`: the unused codes left in the pattern's space."))
    line: int = Field(None, description="`malformed_file`: the line that cannot be read.")
    misfits: int = Field(None, description="`not_ean13`: how many of the pool's codes are not EAN-13.")
    status: PoolStatus = Field(None, description="`pool_inactive`: the pool's status.")
    model_config = ConfigDict(extra="forbid")
