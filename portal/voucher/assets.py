"""The brand's logo and accent colour, served to voucher pages and emails.

Both URLs carry a tag of what they serve (the logo's etag, the colour), so a browser
keeps them for a year; a URL whose tag is no longer current still answers, with what is
current now, but is not cached for long.
"""

from __future__ import annotations

from flask import Response, abort, request

from ..services import brand
from .blueprint import bp

FOR_EVER = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"


def _conditional(response: Response, tag: str, current: bool) -> Response:
    response.set_etag(tag)
    response.headers["Cache-Control"] = FOR_EVER if current else REVALIDATE
    return response.make_conditional(request)


@bp.get("/brand/logo/<etag>")
def brand_logo(etag: str):
    """The shop's logo as stored (PNG or JPEG); 404 when there is none."""
    logo = brand.logo()
    if logo is None:
        abort(404)
    return _conditional(Response(logo.data, content_type=logo.content_type), logo.etag,
                        etag == logo.etag)


@bp.get("/brand.css")
def brand_css():
    """The accent colour as a CSS custom property: pages may not carry inline style."""
    look = brand.current()
    tag = brand.style_version(look) or "none"
    css = f":root{{--accent:{look.accent_colour}}}\n" if look.accent_colour else ""
    return _conditional(Response(css, content_type="text/css; charset=utf-8"), tag,
                        request.args.get("v") == tag)


@bp.context_processor
def brand_look() -> dict:
    """Every voucher page gets the brand: its header, its stylesheet and its logo."""
    return {"brand": brand.current(), "brand_style_version": brand.style_version}
