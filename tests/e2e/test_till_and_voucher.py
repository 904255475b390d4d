"""A cashier scans and redeems at the till; a customer opens their voucher."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import accounts, assignment, imports, pools
from portal.services.customers import CustomerData
from portal.services.links import VOUCHER, make_token
from tests.e2e.conftest import VIEWPORTS, assert_accessible
from tests.helpers import upload


@pytest.fixture
def shop(live):
    url, app = live
    with app.app_context():
        accounts.create_store("S1", "Main street")
        accounts.create_user("till@example.com", "correct horse battery", "cashier", "S1")
        pool = pools.create_pool("Spring", benefit="10% off shoes", terms="One per customer.")
        imports.import_codes(pool.id, upload("SPRI-0001\nSPRI-0002\n"))
        given = assignment.assign_code(pool.id, CustomerData("C1", first_name="Maria"))
        token = make_token(VOUCHER, given.code_id)
        db.session.remove()
    return {"url": url, "code": given.code, "token": token}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_cashier_scans_redeems_and_scans_again(page: Page, shop, axe, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(shop["url"] + "/login")
    assert_accessible(axe, page)
    page.get_by_label("Email").fill("till@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.keyboard.press("Enter")
    code_input = page.get_by_label("Scan or type a code")
    expect(code_input).to_be_focused()
    assert_accessible(axe, page)

    # A scanner types fast and presses Enter; the code is typed loosely.
    page.keyboard.type("spri 0001", delay=5)
    page.keyboard.press("Enter")
    answer = page.locator("#till-answer")
    expect(answer).to_contain_text("VALID")
    expect(answer).to_contain_text("For Maria")
    assert_accessible(axe, page)
    redeem = page.get_by_role("button", name="Redeem")
    expect(redeem).to_be_focused()  # Enter again redeems, no mouse needed
    page.keyboard.press("Enter")
    expect(answer).to_contain_text("REDEEMED")
    expect(page.locator(".recent-list")).to_contain_text("SPRI-0001")

    expect(code_input).to_be_focused()  # the next scan needs no click
    page.keyboard.type("SPRI-0001", delay=5)
    page.keyboard.press("Enter")
    expect(answer).to_contain_text("ALREADY REDEEMED")
    expect(answer).to_contain_text("Main street")
    expect(code_input).to_have_value("")
    assert_accessible(axe, page)


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_customer_opens_their_voucher(page: Page, shop, axe, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    response = page.goto(f"{shop['url']}/v/{shop['token']}")
    assert response.status == 200
    expect(page.get_by_role("heading", name="10% off shoes")).to_be_visible()
    expect(page.locator("#voucher-code")).to_have_text(shop["code"])
    expect(page.locator("figure.barcode svg")).to_be_visible()
    expect(page.get_by_role("button", name="Copy code")).to_be_visible()
    assert_accessible(axe, page)


def test_tampered_voucher_link_is_404(page: Page, shop):
    tampered = shop["token"][:-3] + ("abc" if shop["token"][-3:] != "abc" else "xyz")
    response = page.goto(f"{shop['url']}/v/{tampered}")
    assert response.status == 404
    expect(page.get_by_text(shop["code"])).to_have_count(0)
