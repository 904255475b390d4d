"""What a code may look like, and the normalized form it is found by."""

from __future__ import annotations

import re
from datetime import datetime

MIN_LENGTH = 3
MAX_LENGTH = 64
CHARACTERS = r"A-Za-z0-9_.\-"  # a regex character class's inside: what a code is made of
_ALLOWED = re.compile(f"[{CHARACTERS}]+")
_REMOVED = re.compile(r"[\s\-]+")


def normalize(code: str) -> str:
    """Upper case with whitespace and hyphens removed: `ab cd-12` finds `ABCD12`."""
    return _REMOVED.sub("", code).upper()


def rejection_reason(code: str) -> str | None:
    """Why a trimmed code may not be stored, or None when it may."""
    return check(code)[1]


def check(code: str, _allowed=_ALLOWED.fullmatch) -> tuple[str | None, str | None]:
    """(normalized form, None) for a storable trimmed code, else (None, reason).

    The import's inner loop: one regex and two string methods per line.
    """
    size = len(code)
    if size < MIN_LENGTH:
        return None, "too_short"
    if size > MAX_LENGTH:
        return None, "too_long"
    if _allowed(code) is None:
        return None, "invalid_characters"
    # Valid codes hold no whitespace, so normalizing is dropping hyphens.
    normalized = code.replace("-", "").upper()
    if len(normalized) < MIN_LENGTH:
        return None, "too_short"
    return normalized, None


# What str.strip removes from ASCII text: the trimming that check's callers do, for
# the SQL below (which sees only ASCII lines).
ASCII_WHITESPACE = "".join(chr(c) for c in range(128) if chr(c).isspace())
_SQL_OUTSIDE = {"sqlite": "{v} GLOB '*[^A-Za-z0-9_.-]*'", "postgresql": "{v} ~ '[^A-Za-z0-9_.-]'"}


# The bytes a code may hold (CHARACTERS), for telling text made only of them.
ALLOWED_BYTES = bytes(c for c in range(128) if _ALLOWED.fullmatch(chr(c)))


def sql_check(column: str, dialect: str, *, only_allowed: bool = False) -> tuple[str, str]:
    """check() as SQL expressions (normalized, reason) over a column of trimmed ASCII
    codes, for loading whole blocks of lines at once; tests hold the two to one verdict.
    With only_allowed the caller knows every character is allowed (ALLOWED_BYTES), and
    only the lengths are checked."""
    stripped = f"replace({column}, '-', '')"
    characters = "" if only_allowed else (
        f"WHEN {_SQL_OUTSIDE[dialect].format(v=column)} THEN 'invalid_characters' ")
    reason = (f"CASE WHEN length({column}) < {MIN_LENGTH} THEN 'too_short' "
              f"WHEN length({column}) > {MAX_LENGTH} THEN 'too_long' {characters}"
              f"WHEN length({stripped}) < {MIN_LENGTH} THEN 'too_short' END")
    return f"upper({stripped})", reason


def effective_expiry(code_expires_at: datetime | None, pool_valid_until: datetime | None) -> datetime | None:
    """When a code stops being redeemable: the earlier of its own expiry and its pool's
    end, or None when neither is set. Every surface that shows or checks an expiry asks
    this, so the API, the pages, the messages and the till always agree."""
    ends = [moment for moment in (code_expires_at, pool_valid_until) if moment is not None]
    return min(ends) if ends else None


def expiry_text(moment: datetime | None) -> str:
    """An expiry as a customer's message writes it: `30 Jun 2027`, or `no end date`."""
    return moment.strftime("%d %b %Y") if moment is not None else "no end date"
