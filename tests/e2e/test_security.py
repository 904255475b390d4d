"""In the browser: no page can be framed, a barcode draws under the Content-Security-Policy,
and a session ended elsewhere takes the till back to sign-in. Every test here (as every
browser test) also fails on anything the policy refused."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import accounts, assignment, imports, pools
from portal.services.customers import CustomerData
from portal.services.links import VOUCHER, make_token
from tests.e2e.conftest import assert_accessible
from tests.helpers import upload

PASSWORD = "correct horse battery"


@pytest.fixture
def shop(live):
    url, app = live
    with app.app_context():
        accounts.create_store("S1", "Main street")
        cashier = accounts.create_user("till@example.com", PASSWORD, "cashier", "S1")
        accounts.create_user("boss@example.com", PASSWORD, "admin")
        pool = pools.create_pool("Spring", benefit="10% off shoes", barcode_format="code128")
        imports.import_codes(pool.id, upload("SPRI-0001\nSPRI-0002\n"))
        given = assignment.assign_code(pool.id, CustomerData("C1", first_name="Maria"))
        token = make_token(VOUCHER, given.code_id)
        db.session.remove()
    return {"url": url, "app": app, "cashier_id": cashier.id, "voucher": f"{url}/v/{token}"}


def sign_in(page: Page, url: str, email: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_no_portal_page_shows_inside_a_frame(page: Page, shop, csp_violations):
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text):
        page.set_content(f'<iframe title="framed" src="{shop["url"]}/login"></iframe>',
                         wait_until="load")
    expect(page.frame_locator("iframe").get_by_role("heading", name="Sign in")).to_have_count(0)
    csp_violations.clear()  # the refusal this test asked for


def test_a_code128_barcode_draws_black_on_white(page: Page, shop, axe):
    page.goto(shop["voucher"])
    background = page.locator("figure.barcode svg rect")
    expect(background).to_be_visible()
    # White and black only if the colours were not inline styles the policy refused.
    assert background.evaluate("rect => getComputedStyle(rect).fill") == "rgb(255, 255, 255)"
    bars = page.locator("figure.barcode svg path")
    assert bars.evaluate("path => getComputedStyle(path).fill") == "rgb(0, 0, 0)"
    assert_accessible(axe, page)


def test_the_till_goes_to_sign_in_when_its_session_ended_elsewhere(page: Page, shop):
    sign_in(page, shop["url"], "till@example.com")
    code_input = page.get_by_label("Scan or type a code")
    expect(code_input).to_be_focused()
    with shop["app"].app_context():
        accounts.end_sessions(shop["cashier_id"])  # signed out on another till
        db.session.remove()
    code_input.fill("SPRI-0001")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/login\?next=/till/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, shop["url"], "till@example.com")
    expect(page).to_have_url(re.compile(r"/till/$"))


def test_sign_out_in_one_browser_signs_out_the_other(new_context, shop, axe):
    first, second = new_context().new_page(), new_context().new_page()
    for browser_page in (first, second):
        sign_in(browser_page, shop["url"], "boss@example.com")
        expect(browser_page.get_by_role("heading", name="Pools")).to_be_visible()
    second.goto(f"{shop['url']}/admin/users/{shop['cashier_id']}/password")
    expect(second.get_by_role("heading", name="New password for till@example.com")).to_be_visible()
    assert_accessible(axe, second)
    first.get_by_role("button", name="Sign out").click()
    expect(first.get_by_text("You are signed out.")).to_be_visible()
    second.reload()
    expect(second.get_by_role("heading", name="Sign in")).to_be_visible()
