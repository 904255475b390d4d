"""The voucher's code as a scannable picture, drawn on the server as SVG."""

from __future__ import annotations

import io
import re

import barcode
import segno
from barcode.writer import SVGWriter


def svg(code: str, barcode_format: str) -> str | None:
    """SVG markup for the code in the pool's format, or None for `none`.

    EAN-13 is drawn only for a 13-digit code with a valid check digit, so the scanner
    reads back exactly the code; any other code in such a pool is drawn as Code 128,
    which every till scanner reads.
    """
    if barcode_format == "none":
        return None
    if barcode_format == "qr":
        out = io.BytesIO()
        # make_qr, not make: short codes would otherwise become Micro QR, which few
        # scanners read.
        segno.make_qr(code, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False,
                                         svgns=True, omitsize=True, title=f"QR code for {code}")
        return out.getvalue().decode()
    if barcode_format == "ean13" and is_ean13(code):
        drawn = barcode.get("ean13", code[:12], writer=SVGWriter())  # draws the same 13th digit
    else:
        drawn = barcode.get("code128", code, writer=SVGWriter())
    out = io.BytesIO()
    drawn.write(out, options={"module_height": 18, "write_text": False, "quiet_zone": 4})
    text = out.getvalue().decode()
    return _STYLE.sub(_as_attributes, text[text.index("<svg"):])


# python-barcode colours each bar with a style attribute, which the portal's
# Content-Security-Policy (no inline style) refuses: the white background would turn
# black. The same declarations as SVG presentation attributes are allowed.
_STYLE = re.compile(r'style="([^"]*)"')


def _as_attributes(match: re.Match) -> str:
    declarations = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
    return " ".join(f'{name.strip()}="{value.strip()}"' for name, value in declarations)


def is_ean13(code: str) -> bool:
    """13 digits whose last is the EAN check digit of the first twelve."""
    if len(code) != 13 or not code.isascii() or not code.isdigit():
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(code[:12]))
    return (10 - total % 10) % 10 == int(code[12])
