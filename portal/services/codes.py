"""What a code may look like, and the normalized form it is found by."""

from __future__ import annotations

import re

MIN_LENGTH = 3
MAX_LENGTH = 64
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-]+")
_REMOVED = re.compile(r"[\s\-]+")


def normalize(code: str) -> str:
    """Upper case with whitespace and hyphens removed: `ab cd-12` finds `ABCD12`."""
    return _REMOVED.sub("", code).upper()


def rejection_reason(code: str) -> str | None:
    """Why a trimmed code may not be stored, or None when it may."""
    if len(code) < MIN_LENGTH:
        return "too_short"
    if len(code) > MAX_LENGTH:
        return "too_long"
    if not _ALLOWED.fullmatch(code):
        return "invalid_characters"
    if len(normalize(code)) < MIN_LENGTH:
        return "too_short"
    return None
