"""The shop's brand on voucher pages and in emails: its name, its logo and its accent
colour, in one row set on the admin page.

The rules live here once: which logos are accepted (PNG or JPEG that decode, within
LOGO_MAX_BYTES and LOGO_MAX_SIDE), and how much contrast the accent colour needs
against white (contrast_ratio, MIN_CONTRAST), since it colours text and buttons on
white and is the background of white text.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import defer

from ..extensions import db
from ..models import Brand, utcnow
from .errors import InvalidInput
from .tx import write_transaction

SHOP_NAME_MAX = 100
# The logo is drawn at most 3rem tall; a file this size is ample, and keeps the first view
# of a voucher page on a phone light (the logo is then cached for a year).
LOGO_MAX_BYTES = 64 * 1024
LOGO_MAX_SIDE = 1000
MIN_CONTRAST = 4.5  # WCAG 2 AA for body text
WHITE = "#ffffff"
# The stored type for each format Pillow names; nothing else is accepted (SVG can carry script).
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Look:
    """What a page or an email needs of the brand (never the logo's bytes)."""

    shop_name: str = ""
    accent_colour: str = ""
    logo_etag: str | None = None
    logo_type: str | None = None

    @property
    def is_set(self) -> bool:
        return bool(self.shop_name or self.logo_etag)


@dataclass(frozen=True)
class Logo:
    data: bytes
    content_type: str
    etag: str


def current() -> Look:
    """The brand as it is now; an empty Look when none was ever set."""
    row = db.session.scalar(select(Brand).options(defer(Brand.logo)).order_by(Brand.id).limit(1))
    if row is None:
        return Look()
    return Look(row.shop_name or "", row.accent_colour or "", row.logo_etag, row.logo_type)


def logo() -> Logo | None:
    """The stored logo with its type and etag, or None."""
    row = db.session.scalar(select(Brand).order_by(Brand.id).limit(1))
    if row is None or not row.logo:
        return None
    return Logo(row.logo, row.logo_type, row.logo_etag)


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def _luminance(colour: str) -> float:
    hex_digits = colour.lstrip("#")
    r, g, b = (int(hex_digits[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(colour: str, other: str = WHITE) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(colour), _luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def check_accent(colour: str) -> str:
    """The colour as #rrggbb in lower case ("" for none); refuses one that is not a colour
    or whose contrast against white is below MIN_CONTRAST, saying the ratio."""
    colour = (colour or "").strip()
    if not colour:
        return ""
    match = _COLOUR.fullmatch(colour)
    if match is None:
        raise InvalidInput("Give the colour as # and six hex digits, e.g. #1f4fa8.",
                           field="accent_colour")
    colour = "#" + match.group(1).lower()
    ratio = contrast_ratio(colour)
    # Rounded down, so a colour just under the minimum never reads as 4.5:1.
    if ratio < MIN_CONTRAST:
        shown = int(ratio * 100) / 100
        raise InvalidInput(f"{colour} has a contrast ratio of {shown:.2f}:1 against white; it needs "
                           f"at least {MIN_CONTRAST}:1 to be readable. Choose a darker colour.",
                           field="accent_colour")
    return colour


def _too_big(size: int) -> InvalidInput:
    return InvalidInput(f"The logo is {-(-size // 1024):,} KB; it may be at most "
                        f"{LOGO_MAX_BYTES // 1024} KB.", field="logo")


def read_logo(stream: BinaryIO) -> bytes:
    """An uploaded logo's bytes, refusing a file over LOGO_MAX_BYTES without reading it."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    if size > LOGO_MAX_BYTES:
        raise _too_big(size)
    stream.seek(0)
    return stream.read()


def check_logo(data: bytes) -> str:
    """The logo's content type; refuses anything but a PNG or JPEG that decodes whole,
    within LOGO_MAX_BYTES and LOGO_MAX_SIDE pixels on each side."""
    limits = f"PNG or JPEG, at most {LOGO_MAX_BYTES // 1024} KB and {LOGO_MAX_SIDE} × {LOGO_MAX_SIDE} pixels"
    if len(data) > LOGO_MAX_BYTES:
        raise _too_big(len(data))
    kind = next((name for magic, name in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise InvalidInput(f"The logo must be a PNG or JPEG image ({limits}); this file is not.",
                           field="logo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
                if width > LOGO_MAX_SIDE or height > LOGO_MAX_SIDE:
                    raise InvalidInput(f"The logo is {width} × {height} pixels; it may be at most "
                                       f"{LOGO_MAX_SIDE} × {LOGO_MAX_SIDE}.", field="logo")
                image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInput(f"The logo could not be read as a {kind} image ({limits}).",
                           field="logo") from exc
    return LOGO_TYPES[kind]


def _row(session) -> Brand:  # noqa: ANN001
    row = session.scalar(select(Brand).order_by(Brand.id).limit(1))
    if row is None:
        row = Brand(shop_name="", accent_colour="")
        session.add(row)
    return row


def save(shop_name: str, accent_colour: str, logo: BinaryIO | bytes | None = None) -> Look:
    """Set the shop name and accent colour, and the logo when one is given (bytes or an
    upload). Everything is checked first: a refusal changes nothing."""
    logo_data = read_logo(logo) if logo is not None and not isinstance(logo, bytes) else logo
    shop_name = " ".join((shop_name or "").split())
    if len(shop_name) > SHOP_NAME_MAX:
        raise InvalidInput(f"The shop name may be at most {SHOP_NAME_MAX} characters.",
                           field="shop_name")
    colour = check_accent(accent_colour)
    logo_type = check_logo(logo_data) if logo_data else None
    with write_transaction() as session:
        row = _row(session)
        row.shop_name, row.accent_colour, row.updated_at = shop_name, colour, utcnow()
        if logo_data:
            row.logo, row.logo_type = logo_data, logo_type
            row.logo_etag = hashlib.sha256(logo_data).hexdigest()[:32]
    return current()


def remove_logo() -> Look:
    """Remove the logo; the name and the colour stay."""
    with write_transaction() as session:
        row = _row(session)
        row.logo = row.logo_type = row.logo_etag = None
        row.updated_at = utcnow()
    return current()


def style_version(look: Look) -> str:
    """The tag in the URL of the stylesheet that carries the accent colour: the colour's
    hex digits, so a new colour is a new URL and the old one can be cached for ever."""
    return look.accent_colour.lstrip("#")
