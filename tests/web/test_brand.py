"""The shop's brand: set on the admin page, checked there, and shown on voucher pages
with its logo served for a long cache; the favicon."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from portal.services import assignment, brand, imports, pools
from portal.services.links import VOUCHER, make_token
from tests.helpers import customer, upload


def png(width: int = 120, height: int = 40, colour: tuple = (31, 79, 168)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def noisy_png(side: int) -> bytes:
    """A PNG that does not compress: random pixels."""
    import os

    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def voucher(app) -> str:
    pool = pools.create_pool("Spring sale 2027", benefit="10% off shoes")
    imports.import_codes(pool.id, upload("SPRI-0001\nSPRI-0002\n"))
    given = assignment.assign_code(pool.id, customer("C1", first_name="Maria"))
    return "/v/" + make_token(VOUCHER, given.code_id)


def post_brand(admin, shop_name="Shoe Shack", colour="#1d4d2b", logo: bytes | None = None,
               filename="logo.png"):
    data = {"shop_name": shop_name, "accent_colour": colour}
    if logo is not None:
        data["logo"] = (io.BytesIO(logo), filename)
    return admin.post("/admin/brand", data=data, content_type="multipart/form-data")


def test_the_brand_reaches_the_voucher_page_with_a_cached_logo(as_role, client, voucher):
    admin = as_role("admin")
    plain = client.get(voucher)
    assert "shop-name" not in plain.text and "brand.css" not in plain.text  # as before any brand
    logo = png()
    saved = post_brand(admin, logo=logo)
    assert saved.status_code == 302
    assert "Shoe Shack" in admin.get(saved.headers["Location"]).text

    page = client.get(voucher)
    assert page.status_code == 200
    assert '<p class="shop-name" aria-hidden="true">Shoe Shack</p>' in page.text
    assert '<p class="pool-name">Spring sale 2027</p>' in page.text
    src = re.search(r'<img class="shop-logo" src="([^"]+)" alt="Shoe Shack">', page.text).group(1)
    served = client.get(src)
    assert served.status_code == 200 and served.data == logo
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    etag = served.headers["ETag"]
    assert etag.strip('"') in src
    again = client.get(src, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""

    css = re.search(r'<link rel="stylesheet" href="(/v/brand\.css\?v=[^"]+)">', page.text).group(1)
    sheet = client.get(css)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"].startswith("text/css")
    assert "--accent:#1d4d2b" in sheet.text
    assert sheet.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert not re.search(r"\sstyle=|<style", page.text)  # the colour arrives without inline style

    # A new logo is a new URL; the old one answers with the new logo but is not kept long.
    newer = png(colour=(120, 20, 20))
    assert post_brand(admin, logo=newer).status_code == 302
    stale = client.get(src)
    assert stale.data == newer and "immutable" not in stale.headers["Cache-Control"]
    assert src not in client.get(voucher).text


def test_the_wallet_page_carries_the_brand_and_each_voucher_page_links_to_it(as_role, client, voucher):
    post_brand(as_role("admin"), logo=png())
    page = client.get(voucher)
    wallet = re.search(r'<a href="(/v/c/[^"]+)">All your vouchers</a>', page.text).group(1)
    listing = client.get(wallet)
    assert listing.status_code == 200
    assert "Shoe Shack" in listing.text and "Spring sale 2027" in listing.text
    assert "SPRI-0001" in listing.text and "/v/brand/logo/" in listing.text


def test_the_page_stays_under_50_kb_with_a_brand(as_role, client, voucher):
    """The voucher page's HTML and everything it links to (CSS, script, the logo)."""
    post_brand(as_role("admin"), logo=png())
    page = client.get(voucher)
    linked = re.findall(r'(?:href|src)="(/(?:static|v/brand)[^"]+)"', page.text)
    assert any("voucher.css" in u for u in linked) and any("brand.css" in u for u in linked)
    assert any("copy.js" in u for u in linked) and any("/v/brand/logo/" in u for u in linked)
    total = len(page.data) + sum(len(client.get(u).data) for u in linked)
    assert total < 50_000, total


@pytest.mark.parametrize(("logo", "filename", "words"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg",
     "must be a PNG or JPEG"),
    (b"just some text, not an image\n" * 10, "logo.png", "must be a PNG or JPEG"),
    (png()[:60], "logo.png", "could not be read as a PNG"),
    (None, "big.png", "it may be at most 64 KB"),
    (png(1200, 20), "wide.png", "1200 × 20 pixels; it may be at most 1000 × 1000"),
])
def test_a_wrong_logo_is_refused_and_changes_nothing(as_role, client, voucher, logo, filename, words):
    admin = as_role("admin")
    first = png()
    post_brand(admin, logo=first)
    before = brand.current()
    if logo is None:
        logo = noisy_png(200)
        assert len(logo) > brand.LOGO_MAX_BYTES
    refused = post_brand(admin, shop_name="Other name", colour="#000000", logo=logo, filename=filename)
    assert refused.status_code == 422
    assert words in refused.text
    assert brand.current() == before
    assert client.get(f"/v/brand/logo/{before.logo_etag}").data == first
    assert "Other name" not in client.get(voucher).text


def test_a_colour_without_enough_contrast_is_refused_with_its_ratio(as_role, client, voucher):
    admin = as_role("admin")
    refused = post_brand(admin, colour="#ffff00")
    assert refused.status_code == 422
    assert "#ffff00 has a contrast ratio of 1.07:1 against white; it needs at least 4.5:1" in refused.text
    assert brand.current() == brand.Look()
    assert "Shoe Shack" not in client.get(voucher).text
    # Just under and just over the line.
    assert post_brand(admin, colour="#777777").status_code == 422  # 4.48:1
    assert post_brand(admin, colour="#767676").status_code == 302  # 4.54:1
    assert post_brand(admin, colour="blue").status_code == 422


def test_contrast_ratio_matches_wcag(app):
    assert brand.contrast_ratio("#000000") == pytest.approx(21.0)
    assert brand.contrast_ratio("#ffffff") == pytest.approx(1.0)
    assert brand.contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)
    assert brand.contrast_ratio("#777777") == pytest.approx(4.48, abs=0.01)
    assert brand.contrast_ratio("#000000", "#1f4fa8") == brand.contrast_ratio("#1f4fa8", "#000000")


def test_the_logo_can_be_removed(as_role, client, voucher):
    admin = as_role("admin")
    post_brand(admin, logo=png())
    etag = brand.current().logo_etag
    page = admin.get("/admin/")
    assert "Remove logo" in page.text
    assert admin.post("/admin/brand/logo/remove").status_code == 302
    assert brand.current().logo_etag is None and brand.current().shop_name == "Shoe Shack"
    assert client.get(f"/v/brand/logo/{etag}").status_code == 404
    assert "<img" not in client.get(voucher).text and "Shoe Shack" in client.get(voucher).text


def test_only_admins_set_the_brand(as_role):
    assert post_brand(as_role("marketer")).status_code == 403
    assert brand.current() == brand.Look()


def test_the_favicon_is_served(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["Content-Type"].startswith("image/")
    assert "max-age=" in icon.headers["Cache-Control"]
    assert Image.open(io.BytesIO(icon.data)).format == "ICO"
