"""The customer's voucher page: signed links, the code and its picture, status, and 404s."""

from __future__ import annotations

import re

import pytest

from portal.services import accounts, assignment, imports, pools, redemption
from portal.services.links import CUSTOMER, VOUCHER, customer_url, make_token, read_token
from tests.helpers import customer, upload


@pytest.fixture
def voucher(app) -> dict:
    pool = pools.create_pool("Spring", benefit="10% off shoes", terms="One per customer.")
    imports.import_codes(pool.id, upload("SPRI-0001\nSPRI-0002\n123456789012\n"))
    given = assignment.assign_code(pool.id, customer("C1", first_name="Maria"))
    path = "/v/" + make_token(VOUCHER, given.code_id)
    return {"pool": pool, "code": given.code, "code_id": given.code_id, "path": path}


def test_tokens_are_signed_short_and_hide_the_id(app):
    token = make_token(VOUCHER, 42)
    assert len(token) == 22 and "42" not in token
    assert read_token(VOUCHER, token) == 42
    assert read_token(CUSTOMER, token) is None  # a voucher token is not a customer token
    assert read_token(VOUCHER, make_token(VOUCHER, 42, secret="another")) is None
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert read_token(VOUCHER, tampered) is None
    assert make_token(VOUCHER, 43) != token


def test_the_fast_link_makers_give_the_same_links(app):
    """An export or a send makes thousands of links with the makers: each is the link
    voucher_url and customer_url give, and its token reads back to the id."""
    from portal.services.links import (
        UNSUBSCRIBE,
        customer_url_maker,
        unsubscribe_url_maker,
        voucher_url,
        voucher_url_maker,
    )

    with app.test_request_context():
        vouchers, wallets, unsubscribes = voucher_url_maker(), customer_url_maker(), unsubscribe_url_maker()
        for row_id in (1, 2, 99, 2**31 + 7, 2**53 + 1, *range(1000, 1200)):
            assert vouchers(row_id) == voucher_url(row_id)
            assert wallets(row_id) == customer_url(row_id)
            token = unsubscribes(row_id).rsplit("/", 1)[-1]
            assert token == make_token(UNSUBSCRIBE, row_id) and read_token(UNSUBSCRIBE, token) == row_id


def test_voucher_page_shows_benefit_code_qr_dates_and_terms(client, voucher):
    page = client.get(voucher["path"])
    assert page.status_code == 200
    assert "10% off shoes" in page.text and voucher["code"] in page.text
    assert "<svg" in page.text and "Ready to use" in page.text
    assert "One per customer." in page.text
    assert page.headers["Cache-Control"] == "no-store"
    without_picture = re.sub(r"<svg.*?</svg>", "", page.text, flags=re.S)
    css = client.get("/static/voucher.css").data
    script = client.get("/static/copy.js").data
    assert len(without_picture.encode()) + len(css) + len(script) < 50_000
    assert "htmx" not in page.text  # no JavaScript needed to read and show it


def test_qr_is_a_full_qr_code_not_micro_qr(app):
    from portal.services.barcodes import qr_svg

    side = int(re.search(r'viewBox="0 0 (\d+) ', qr_svg("SPRI-0001")).group(1))
    assert side - 2 * 4 >= 21  # version 1 QR is 21 modules; Micro QR tops out at 17


@pytest.mark.parametrize("fmt, label", [("code128", "Code 128 barcode"), ("none", None)])
def test_barcode_formats(client, voucher, fmt, label):
    pools.update_pool(voucher["pool"].id, barcode_format=fmt)
    page = client.get(voucher["path"])
    assert ("<svg" in page.text) == (label is not None)
    assert label is None or label in page.text


def test_an_ean13_pool_draws_its_codes_as_ean13(client):
    pool = pools.create_pool("Shelf", barcode_format="ean13")
    imports.import_codes(pool.id, upload("4006381333931\n"))
    given = assignment.assign_code(pool.id, customer("C1"))
    page = client.get("/v/" + make_token(VOUCHER, given.code_id))
    assert 'aria-label="EAN-13 barcode"' in page.text and "QR code" not in page.text
    assert page.text.count("4006381333931") == 2  # the code under the barcode, and the copy button's


def test_the_stylesheet_knows_the_bands_the_server_sizes_barcodes_for(client):
    from portal.services.barcodes import BANDS

    css = client.get("/static/voucher.css").text
    for low, band, *_ in BANDS[1:]:
        assert f"@media (min-width: {low}px)" in css
        assert f".z{band}-2 .linear svg {{ zoom: 2; }}" in css
    assert f"@media (max-width: {BANDS[1][0] - 0.02}px)" in css


def test_wrong_or_tampered_tokens_are_404_and_reveal_nothing(client, voucher):
    for path in ("/v/nonsense", "/v/" + "A" * 22, voucher["path"][:-1] + "x",
                 "/v/" + voucher["code"]):
        response = client.get(path)
        assert response.status_code == 404
        assert voucher["code"] not in response.text


def test_an_unassigned_code_has_no_page(client, voucher):
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Code

    free = db.session.scalar(select(Code).where(Code.customer_id.is_(None)))
    assert client.get("/v/" + make_token(VOUCHER, free.id)).status_code == 404


def test_redeemed_voucher_says_when_and_where(client, voucher):
    store = accounts.create_store("S1", "Main street")
    redemption.redeem(voucher["code"], store_id=store.id)
    page = client.get(voucher["path"])
    assert "Used on" in page.text and "Main street" in page.text


def test_canceled_voucher_link_expires(client, voucher):
    redemption.cancel(voucher["code"], "sent by mistake")
    page = client.get(voucher["path"])
    assert page.status_code == 410
    assert "canceled" in page.text and voucher["code"] not in page.text


def test_customer_sees_all_their_vouchers(client, voucher, app):
    other = pools.create_pool("Autumn", benefit="Free coffee")
    imports.import_codes(other.id, upload("AUTU-0001\n"))
    assignment.assign_code(other.id, customer("C1"))
    from portal.services.customers import find

    url = customer_url(find("C1").id)
    page = client.get(url.replace("http://portal.test", ""))
    assert page.status_code == 200
    assert "10% off shoes" in page.text and "Free coffee" in page.text
    assert "AUTU-0001" in page.text and voucher["code"] in page.text
    assert client.get("/v/c/" + make_token(VOUCHER, find("C1").id)).status_code == 404
