"""Every response carries the security headers, and the pages need nothing the
Content-Security-Policy forbids: no inline script, no hx-on, no style attribute."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portal.services import assignment, pools
from portal.services.barcodes import picture
from portal.services.links import VOUCHER, make_token
from tests.helpers import customer, pool_with_codes

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
HEADERS = {"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "X-Content-Type-Options": "nosniff"}


def assert_secured(response, **stricter: str) -> None:  # noqa: ANN001
    for name, value in {**HEADERS, **stricter}.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    policy = dict(part.strip().split(" ", 1) for part in
                  response.headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path, status, kind", [
    ("/login", 200, "text/html"),
    ("/no/such/page", 404, "text/html"),
    ("/static/portal.js", 200, "text/javascript"),
    ("/static/vendor/htmx.min.js", 200, "text/javascript"),
    ("/static/portal.css", 200, "text/css"),
    ("/api/v1/pools", 401, "application/json"),
])
def test_every_kind_of_response_carries_the_headers(client, path, status, kind):
    response = client.get(path)
    assert response.status_code == status and response.mimetype == kind
    assert_secured(response)


def test_signed_in_pages_fragments_and_json_carry_the_headers(as_role, as_htmx, app):
    pool_id = pool_with_codes(n=3)
    marketer = as_role("marketer")
    assert_secured(marketer.get(f"/pools/{pool_id}"))
    counts = as_htmx("marketer").get(f"/pools/{pool_id}/live-counts")
    assert counts.status_code == 200 and 'id="pool-counts"' in counts.text
    assert_secured(counts)
    till = as_htmx("cashier").post("/till/check", data={"code": "NOPE-0000"})
    assert till.status_code == 200 and "UNKNOWN CODE" in till.text
    assert_secured(till)


def _served_templates() -> list[Path]:
    # Emails are read in mail clients, not served under the portal's policy.
    return [path for path in TEMPLATES.rglob("*.html") if "email" not in path.relative_to(TEMPLATES).parts]


@pytest.mark.parametrize("path", _served_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_need_no_inline_script_or_style(path):
    text = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert "hx-on" not in text, "hx-on needs eval"
    assert not re.search(r"\sstyle=", text) and "<style" not in text, "inline style"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"


def test_htmx_runs_without_eval_inline_scripts_or_injected_styles():
    config = re.search(r"""<meta name="htmx-config" content='([^']+)'""",
                       (TEMPLATES / "base.html").read_text()).group(1)
    settings = json.loads(config)
    assert settings["allowEval"] is False and settings["allowScriptTags"] is False
    assert settings["includeIndicatorStyles"] is False


@pytest.mark.parametrize("barcode_format, code", [("qr", "SPRI-0001"), ("code128", "SPRI-0001"),
                                                  ("ean13", "4006381333931")])
def test_barcodes_are_drawn_without_style_attributes(barcode_format, code):
    drawn = picture(code, barcode_format)
    for svg in (drawn.svg, drawn.qr or ""):
        assert "style=" not in svg and "<style" not in svg
    assert drawn.svg.startswith("<svg") and 'fill="#fff"' in drawn.svg


def test_the_pool_page_and_a_code128_voucher_have_no_style_attribute(app, as_role, client):
    pool_id = pool_with_codes(n=3)
    pools.update_pool(pool_id, barcode_format="code128")
    given = assignment.assign_code(pool_id, customer("C1"))
    voucher = client.get("/v/" + make_token(VOUCHER, given.code_id))
    assert voucher.status_code == 200 and "<svg" in voucher.text
    pool_page = as_role("marketer").get(f"/pools/{pool_id}")
    assert pool_page.status_code == 200 and "Campaign report" in pool_page.text
    for page in (voucher, pool_page):
        assert not re.search(r"\sstyle=", page.text)
    assert_secured(pool_page)
    # The customer's page keeps its own, stricter policy: its URL is the voucher's key.
    assert_secured(voucher, **{"Referrer-Policy": "no-referrer"})
