"""Security headers on every response: pages, fragments, JSON, files and static assets."""

from __future__ import annotations

from flask import Flask, Response

# Scripts, styles and everything else only from the portal itself: no inline script or
# style attribute, no eval (htmx runs with allowEval off, and the behaviour that was in
# hx-on attributes lives in static/portal.js), and no page of the portal in a frame.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # For browsers that predate frame-ancestors.
    "X-Frame-Options": "DENY",
    # Not no-referrer: over https, Flask-WTF refuses a form whose Referer is missing. The
    # portal's own pages still get it, other sites nothing (the voucher pages, with no
    # form, send no-referrer themselves).
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def register(app: Flask) -> None:
    """Send the security headers on every response the app makes."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
