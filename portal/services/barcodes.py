"""The voucher's code as a scannable picture, drawn on the server as SVG."""

from __future__ import annotations

import io

import barcode
import segno
from barcode.writer import SVGWriter


def svg(code: str, barcode_format: str) -> str | None:
    """SVG markup for the code in the pool's format, or None for `none`.

    EAN-13 needs 12 or 13 digits; any other code in such a pool is drawn as Code 128,
    which every till scanner reads, rather than not at all.
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
    if barcode_format == "ean13" and code.isdigit() and len(code) in (12, 13):
        drawn = barcode.get("ean13", code[:12], writer=SVGWriter())
    else:
        drawn = barcode.get("code128", code, writer=SVGWriter())
    out = io.BytesIO()
    drawn.write(out, options={"module_height": 18, "font_size": 0, "quiet_zone": 4})
    text = out.getvalue().decode()
    return text[text.index("<svg"):]
