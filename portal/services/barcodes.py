"""The voucher's code as a scannable picture, drawn on the server as SVG.

A phone's screen is read by the till's scanner only when each module (the narrowest bar
or square) covers whole device pixels, at least two of them. So every picture is drawn
in modules (its viewBox) with its standard's quiet zones, and shown at a whole number of
CSS pixels per module:

- a QR code through its width and height attributes;
- a Code 128 or EAN-13 barcode, which should fill the card, at 1 CSS px per module
  scaled by `zoom` in static/voucher.css: the page names, for each band of screen widths
  (BANDS), how many pixels a module takes there (`zp-3`: three on a phone). One pixel is
  enough only on a screen of two device pixels per CSS pixel, so where a band gives one
  or none, the page also carries the code as a QR code and the stylesheet shows it, with
  a word why, where the barcode would be too small. All of this works without JavaScript.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass

import segno

from ..vocabulary import BarcodeFormat
from .formats import EAN13_BODY, is_ean13

# python-barcode says at import, at INFO, that Pillow is missing. It only encodes here
# (the portal draws the SVG itself), so that is no news worth a log line at start-up.
logging.getLogger("pyBarcode").setLevel(logging.WARNING)
from barcode import EAN13, Code128  # noqa: E402

# Bands of screen widths in CSS px: the band's narrowest screen, its name, the card's
# width there, and the most a barcode may take where the card is too narrow for 2 px
# per module (overhanging the card's sides, up to 8 px from the screen's edge).
# static/voucher.css has one media query per band with these widths;
# tests/web/test_voucher.py checks that they agree.
BANDS = ((0, "n", 288, 304), (360, "p", 328, 344), (600, "w", 480, 560))
MOST_PX_PER_MODULE = 4  # a wider barcode grows too tall to fit the screen beside the code
QR_QUIET, CODE128_QUIET, EAN13_QUIET = 4, (10, 10), (11, 7)  # modules, as the standards ask
QR_WIDTH = 232  # CSS px a QR code aims at (a whole number of px per module, at least 2)


@dataclass(frozen=True)
class Picture:
    """What the voucher page shows: `svg` in `kind` ("qr", "code128" or "ean13"), at
    `scale[band]` CSS px per module for a barcode, and `qr` (the code as a QR code)
    where some screens are too narrow for the barcode."""

    kind: str
    svg: str
    modules: int = 0
    scale: dict[str, int] | None = None
    qr: str | None = None

    @property
    def bands(self) -> str:
        """The classes that tell the stylesheet each band's scale: `zn-1 zp-2 zw-3`."""
        return " ".join(f"z{band}-{px}" for band, px in (self.scale or {}).items())

    @property
    def wider_helps(self) -> bool:
        """Whether a wide screen (a phone turned sideways) shows the barcode at 2 px."""
        return bool(self.scale) and self.scale["w"] >= 2


def picture(code: str, barcode_format: str) -> Picture | None:
    """The code drawn in the pool's format, or None for `none`.

    EAN-13 is drawn only for a 13-digit code with a valid check digit, so the scanner
    reads back exactly the code; any other code in such a pool (one stored before the
    pool became EAN-13) is drawn as Code 128, which every till scanner reads.
    """
    if barcode_format == BarcodeFormat.NONE:
        return None
    if barcode_format == BarcodeFormat.QR:
        return Picture("qr", qr_svg(code))
    if barcode_format == BarcodeFormat.EAN13 and is_ean13(code):
        kind, pattern, (left, right) = "ean13", EAN13(code[:EAN13_BODY]).build()[0], EAN13_QUIET
        height = 60  # about the standard's proportion (22.85 mm to 37.29 mm)
    else:
        kind, pattern, (left, right) = "code128", Code128(code).build()[0], CODE128_QUIET
        height = max(50, math.ceil(0.25 * (len(pattern) + left + right)))
    modules = left + len(pattern) + right
    scale = {band: min(MOST_PX_PER_MODULE, card // modules if card // modules >= 2 else most // modules)
             for _, band, card, most in BANDS}
    needs_qr = min(scale.values()) < 2
    return Picture(kind, _bars_svg(pattern, left, right, height, kind), modules, scale,
                   qr_svg(code) if needs_qr else None)


def _bars_svg(pattern: str, left: int, right: int, height: int, kind: str) -> str:
    """A 1D barcode as one path of bars on white, 1 CSS px per module before zoom."""
    width = left + len(pattern) + right
    bars, x = [], 0
    for run in _runs(pattern):
        if run[0] == "1":
            bars.append(f"M{left + x} 0h{len(run)}v{height}h-{len(run)}z")
        x += len(run)
    name = "EAN-13" if kind == "ean13" else "Code 128"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" shape-rendering="crispEdges" role="img" aria-label="{name} barcode">'
            f'<rect width="{width}" height="{height}" fill="#fff"/>'
            f'<path fill="#000" d="{"".join(bars)}"/></svg>')


def _runs(pattern: str) -> list[str]:
    """'1101' → ['11', '0', '1']."""
    runs: list[str] = []
    for bit in pattern:
        if runs and runs[-1][0] == bit:
            runs[-1] += bit
        else:
            runs.append(bit)
    return runs


def qr_svg(code: str) -> str:
    """The code as a QR code (never Micro QR, which few scanners read) with its 4-module
    quiet zone, at a whole number of CSS px per module."""
    qr = segno.make_qr(code, error="m")
    modules = qr.symbol_size(border=QR_QUIET)[0]
    px = max(2, QR_WIDTH // modules) * modules
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=1, border=QR_QUIET, xmldecl=False, svgns=True, omitsize=True,
            title="QR code", light="#fff", dark="#000")
    # segno writes a viewBox and no size; the size makes each module whole pixels.
    return out.getvalue().decode().replace(
        "<svg ", f'<svg width="{px}" height="{px}" shape-rendering="crispEdges" role="img" ', 1)
