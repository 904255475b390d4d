"""What trimming takes away, written once as a regex character class, so the rules the
services apply to trimmed text can also be stated as patterns over text as given (the
API's OpenAPI document states them so)."""

from __future__ import annotations

# Every character str.strip() removes (str.isspace()), as the inside of a character class
# that Python's re, the Rust regex crate (pydantic) and JSON Schema's ECMA 262 read alike.
BLANK = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# PostgreSQL text cannot hold NUL, so no text field takes it (portal.web refuses it too).
NUL = r"\u0000"
TEXT_PATTERN = f"^[^{NUL}]*$"
# Text that is more than blanks once trimmed: a name, a reason, an id.
FILLED_PATTERN = f"^[^{NUL}]*[^{NUL}{BLANK}][^{NUL}]*$"
