"""What a pool's barcode format asks of its codes.

Only EAN-13 asks anything: a till's EAN scanner reads 13 digits whose last is the check
digit of the first twelve, so an EAN-13 pool holds only such codes. Generation adds the
check digit, an import refuses other lines (`not_ean13`), and a pool with other codes
cannot be switched to EAN-13. A 12-digit line is refused too rather than completed: it
may be a GTIN body without its check digit, or a UPC-A whose EAN-13 form is a leading 0
and the same 12 digits, and a guess would give the customer a code the partner never
issued.
"""

from __future__ import annotations

from collections.abc import Callable

from ..vocabulary import BarcodeFormat

NOT_EAN13 = "not_ean13"
EAN13_RULE = ("An EAN-13 pool holds only EAN-13 codes: 13 digits whose last is the check digit "
              "of the first twelve. A 12-digit number needs its check digit added first.")
EAN13_GENERATION = ("An EAN-13 pool's generated codes are 12 digits and the check digit the "
                    "portal adds: use the numeric character set (or digits only) and a length, "
                    "pattern, prefix and postfix that make 12 digits in all.")
EAN13_BODY = 12
DIGITS = frozenset("0123456789")


def check_digit(body: str) -> str:
    """The EAN check digit of 12 digits (GS1: weights 1 and 3 from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


def is_ean13(code: str) -> bool:
    """13 ASCII digits whose last is the check digit of the first twelve."""
    return (len(code) == 13 and code.isascii() and code.isdigit()
            and check_digit(code[:EAN13_BODY]) == code[EAN13_BODY])


def code_refusal(barcode_format: str) -> Callable[[str], str | None] | None:
    """For a pool of this format, a function giving the reason a storable code does not
    fit it (None when it fits); None when every storable code fits."""
    if barcode_format == BarcodeFormat.EAN13:
        return lambda code: None if is_ean13(code) else NOT_EAN13
    return None


def adds_check_digit(barcode_format: str) -> bool:
    """Whether generation appends a check digit to each code in a pool of this format."""
    return barcode_format == BarcodeFormat.EAN13


def generation_problem(barcode_format: str, template: str, alphabet: str, random: str) -> str | None:
    """Why a generator's template (with `random` for each drawn character) cannot make
    this pool's codes once the check digit is added, or None."""
    if not adds_check_digit(barcode_format):
        return None
    if not set(alphabet) <= DIGITS:
        return f"{EAN13_GENERATION} The character set chosen has letters."
    if not set(template) <= DIGITS | {random}:
        return f"{EAN13_GENERATION} The prefix, pattern or postfix has characters other than digits."
    if len(template) != EAN13_BODY:
        return f"{EAN13_GENERATION} These would make {len(template)}."
    return None


def generation_defaults(barcode_format: str) -> dict:
    """The generation form's starting values for a pool of this format."""
    if adds_check_digit(barcode_format):
        return {"charset": "numeric", "length": EAN13_BODY}
    return {}
