"""The voucher page's barcodes, as a phone shows them: screenshots at 360 and 1280 CSS px
wide and 1, 2 and 3 device pixels per CSS pixel, read by zxing-cpp (a decoder nobody here
wrote). Every code must read back exactly, in the format its pool draws, with modules of
at least 2 device pixels; a code too long for a barcode there shows a QR code instead."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from portal.extensions import db
from portal.services import assignment, imports, pools
from portal.services.customers import CustomerData
from portal.services.links import VOUCHER, make_token
from tests.helpers import upload

CODES = {  # name: (pool's barcode format, code)
    "ten": ("code128", "K7MPX2QRT9"),
    "twenty": ("code128", "A7KM2PXQ9RT4VW8YZ3HN"),
    "ean13": ("ean13", "4006381333931"),
    "qr": ("qr", "SPRI-2Q7M9"),
    "long": ("code128", "LONG-" + "K7MPX2QRT9W8YZ3HN4A7KM2PXQ9RT4VW8Y" + "-ABCDEF"),
}
FORMATS = {"code128": zxingcpp.BarcodeFormat.Code128, "ean13": zxingcpp.BarcodeFormat.EAN13,
           "qr": zxingcpp.BarcodeFormat.QRCode}
# Where a Code 128 needs more width than the screen has at 2 device px per module, the
# page offers the code as a QR code: 20 characters at 360 px on a screen of 1 device px
# per CSS px, 46 characters on every phone.
AS_QR = {("twenty", 360, 1), ("long", 360, 1), ("long", 360, 2), ("long", 360, 3)}


@pytest.fixture
def vouchers(live):
    url, app = live
    links = {}
    with app.app_context():
        for name, (fmt, code) in CODES.items():
            pool = pools.create_pool(f"Pool {name}", benefit="10% off", barcode_format=fmt)
            imports.import_codes(pool.id, upload(code + "\n"))
            given = assignment.assign_code(pool.id, CustomerData(f"C-{name}"))
            links[name] = f"{url}/v/{make_token(VOUCHER, given.code_id)}"
        db.session.remove()
    return links


def visible_picture(page):  # noqa: ANN001, ANN201
    """The one barcode or QR code the page shows now."""
    shown = page.locator("figure.barcode svg").filter(visible=True)
    expect(shown).to_have_count(1)
    return shown


def test_every_barcode_reads_back_exactly_at_every_size(new_context, vouchers):
    assert len(CODES["long"][1]) == 46
    for width in (360, 1280):
        for scale in (1, 2, 3):
            page = new_context(viewport={"width": width, "height": 900},
                               device_scale_factor=scale).new_page()
            for name, (fmt, code) in CODES.items():
                if name == "long" and width != 360:
                    continue
                where = f"{name} at {width} px ×{scale}"
                page.goto(vouchers[name])
                expect(page.get_by_text(code, exact=True)).to_have_count(1)  # the code, shown once
                as_qr = (name, width, scale) in AS_QR
                note = page.get_by_text("too long for a barcode scanner")
                expect(note).to_be_visible() if as_qr else expect(note).to_be_hidden()
                picture = visible_picture(page)
                modules = float(picture.get_attribute("viewBox").split()[2])
                assert picture.bounding_box()["width"] / modules * scale >= 2, where
                shot = Image.open(io.BytesIO(page.screenshot(full_page=True)))
                found = [(hit.text, hit.format) for hit in zxingcpp.read_barcodes(shot)]
                assert found == [(code, FORMATS["qr" if as_qr else fmt])], where
            page.context.close()
