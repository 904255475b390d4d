"""An admin sets the shop's brand in the browser; the customer's voucher page and wallet
show it, pass axe-core with no violation of any impact, and need no JavaScript."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import accounts, assignment, imports, pools
from portal.services.customers import CustomerData
from portal.services.links import VOUCHER, make_token
from tests.e2e.conftest import VIEWPORTS
from tests.helpers import upload

ACCENT = "#7a1f5c"


def assert_no_violations(axe, page) -> None:  # noqa: ANN001
    """No axe-core violation of any impact, minor ones too."""
    results = axe.run(page)
    found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
             for v in results.response["violations"]]
    assert found == [], found


@pytest.fixture
def shop(live, tmp_path):
    url, app = live
    with app.app_context():
        accounts.create_user("boss@example.com", "correct horse battery", "admin")
        spring = pools.create_pool("Spring sale", benefit="10% off shoes", terms="One per customer.")
        summer = pools.create_pool("Summer sale", benefit="Free socks")
        imports.import_codes(spring.id, upload("SPRI-0001\nSPRI-0002\n"))
        imports.import_codes(summer.id, upload("SUMM-0001\n"))
        maria = CustomerData("C1", first_name="Maria")
        given = assignment.assign_code(spring.id, maria)
        assignment.assign_code(summer.id, maria)
        token = make_token(VOUCHER, given.code_id)
        db.session.remove()
    logo = tmp_path / "logo.png"
    image = Image.new("RGB", (240, 80), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((10, 10, 230, 70), fill=(122, 31, 92))
    image.save(logo)
    return {"url": url, "token": token, "logo": logo}


def test_branded_voucher_and_wallet_pages(page: Page, shop, axe, browser):
    url = shop["url"]
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.set_viewport_size(VIEWPORTS["desktop"])
    page.goto(url + "/login")
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.goto(url + "/admin/")
    page.get_by_label("Shop name").fill("Shoe Shack")
    page.get_by_label("Accent colour").fill("#ffff00")
    page.get_by_label("Logo").set_input_files(shop["logo"])
    page.get_by_role("button", name="Save brand").click()
    expect(page.locator(".field-error")).to_contain_text("contrast ratio of 1.07:1")
    page.get_by_label("Accent colour").fill(ACCENT)
    page.get_by_label("Logo").set_input_files(shop["logo"])
    page.get_by_role("button", name="Save brand").click()
    expect(page.get_by_role("status")).to_contain_text("The brand is saved")
    expect(page.get_by_role("img", name="Current logo of Shoe Shack")).to_be_visible()

    failed.clear()  # the refused colour's 422 above was meant
    page.set_viewport_size(VIEWPORTS["phone"])
    page.goto(f"{url}/v/{shop['token']}")
    logo = page.get_by_role("img", name="Shoe Shack")
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 240
    expect(page.get_by_text("Spring sale")).to_be_visible()
    wallet_link = page.get_by_role("link", name="All your vouchers")
    assert wallet_link.evaluate("a => getComputedStyle(a).color") == "rgb(122, 31, 92)"
    assert_no_violations(axe, page)

    wallet_link.click()
    expect(page.get_by_role("heading", name="Your vouchers")).to_be_visible()
    expect(page.get_by_role("link", name="Free socks")).to_be_visible()
    expect(page.get_by_text("Summer sale")).to_be_visible()
    assert_no_violations(axe, page)
    page.get_by_role("link", name="10% off shoes").click()
    expect(page.locator("#voucher-code")).to_have_text("SPRI-0001")
    assert failed == []  # the logo, the brand's stylesheet and the favicon all answered

    # Without JavaScript the page says the same (only the copy button stays hidden).
    context = browser.new_context(java_script_enabled=False, viewport=VIEWPORTS["phone"])
    plain = context.new_page()
    plain.goto(f"{url}/v/{shop['token']}")
    expect(plain.get_by_role("img", name="Shoe Shack")).to_be_visible()
    expect(plain.locator("#voucher-code")).to_have_text("SPRI-0001")
    expect(plain.get_by_role("link", name="All your vouchers")).to_be_visible()
    context.close()
