"""Refusals raised by the services, each with a machine-readable reason."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the caller can show: `reason` is stable, `message` is for people."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason
        self.details = details


class NotFound(DomainError):
    reason = "not_found"


class InvalidInput(DomainError):
    """A value the caller gave is wrong; `details['field']` names it where one does."""

    reason = "invalid_request"


class Forbidden(DomainError):
    """The actor may not do this (though someone else may)."""

    reason = "forbidden"


class Conflict(DomainError):
    reason = "conflict"


class MalformedFile(DomainError):
    """An uploaded file that cannot be read at all (binary, wrong encoding, broken CSV)."""

    reason = "malformed_file"


class PoolUnavailable(DomainError):
    """The pool refuses new assignments: pool_exhausted, pool_inactive or pool_expired."""

    reason = "pool_unavailable"


class CodeSpaceTooSmall(DomainError):
    reason = "code_space_too_small"


class RedemptionRefused(DomainError):
    """The code cannot be redeemed now; `reason` is one of validate()'s reasons."""

    reason = "refused"
