"""A marketer goes from an empty portal to a pool with codes assigned and a code checked."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import accounts
from tests.conftest import DATA
from tests.e2e.conftest import assert_accessible


@pytest.fixture
def portal(live):
    url, app = live
    with app.app_context():
        accounts.create_user("mia@example.com", "correct horse battery", "marketer")
        db.session.remove()
    return url


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Pools")).to_be_visible()


def test_marketer_runs_the_wizard(page: Page, portal, axe, tmp_path):
    sign_in(page, portal)
    expect(page.get_by_text("Create your first pool")).to_be_visible()
    assert_accessible(axe, page)

    # 1. Pool
    page.get_by_role("link", name="New pool").click()
    assert_accessible(axe, page)
    page.get_by_role("button", name="Create pool").click()
    expect(page.locator("#name-error")).to_be_visible()  # the error sits beside its field
    page.get_by_label("Name").fill("Spring sale")
    page.get_by_label("What the customer gets").fill("10% off shoes")
    page.get_by_role("button", name="Create pool").click()

    # 2. Codes: a partner file with bad lines, then generated codes
    expect(page.get_by_role("heading", name="2. Codes")).to_be_visible()
    assert_accessible(axe, page)
    page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "codes-partner-export.csv"))
    page.get_by_role("button", name="Upload and import").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("200 codes imported")
    expect(result).to_contain_text("1 too short")  # the summary, by reason
    expect(page.get_by_label("File (CSV or text)")).to_have_value("")  # the form is ready again
    # static/portal.js follows the upload (once an hx-on attribute, which the CSP forbids).
    expect(page.locator("#upload-progress")).to_have_js_property("value", 100)
    expect(result.locator("table")).not_to_be_visible()  # the lines wait in a <details>
    result.get_by_text("Lines left out: all 3").click()
    expect(result.locator("table")).to_contain_text("HELLO WORLD")
    expect(result.locator("table")).to_contain_text("too short")
    expect(page.locator("#pool-counts")).to_contain_text("200 available")
    page.get_by_label("How many codes").fill("50")
    page.get_by_label("Pattern (optional)").fill("GIFT-######")
    expect(page.locator("#code-preview")).to_contain_text("GIFT-")
    page.get_by_role("button", name="Generate codes").click()
    expect(page.locator("#generate-panel")).to_contain_text("50 codes generated")
    expect(page.locator("#pool-counts")).to_contain_text("250 available")
    assert_accessible(axe, page)

    # 3. Customers: the counts change without a reload
    page.get_by_role("link", name="Continue to customers").click()
    marker = page.evaluate("() => (window.__sameDocument = true)")
    assert marker is True
    page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "customers.csv"))
    page.get_by_role("button", name="Upload the list").click()
    expect(page.locator("#assign-result")).to_contain_text("120 assigned")
    expect(page.locator("#pool-counts")).to_contain_text("120 assigned")
    assert page.evaluate("() => window.__sameDocument") is True
    assert_accessible(axe, page)

    # 4. Channels: the email preview follows the typing; the export downloads
    page.get_by_role("link", name="Continue to channels").click()
    body = page.locator("#email-body")
    body.fill("Hi {{ first_name }}, your code is {{ code }}.")
    expect(page.locator("#email-preview")).to_contain_text("Hi Maria, your code is SAMPLE-CODE-1234.")
    assert_accessible(axe, page)
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the export")).click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("customer_id,first_name,email") and len(lines) == 121
    page.get_by_role("button", name="Save and use the email").click()
    expect(page.get_by_role("status").filter(has_text="Email saved: the campaign uses it.")).to_be_visible()
    expect(page.locator("#email-body")).to_have_value("Hi {{ first_name }}, your code is {{ code }}.")

    # 5. Redemption: check a code as a cashier would see it
    page.get_by_role("link", name="Continue to redemption").click()
    code = lines[1].split(",")[4]
    page.get_by_label("Code to check").fill(code.lower())
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#check-box")).to_contain_text("VALID")
    assert_accessible(axe, page)
    expect(page.locator(".stepper li.done")).to_have_count(4)


def test_the_wizard_works_without_javascript(new_context, portal):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, portal)
    page.goto(portal + "/pools/new")
    page.get_by_label("Name").fill("No script")
    page.get_by_role("button", name="Create pool").click()
    expect(page.get_by_role("heading", name="2. Codes")).to_be_visible()
    page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "codes-plain.txt"))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#import-result")).to_contain_text("300 codes imported")
    expect(page.locator("#pool-counts")).to_contain_text("300 available")
    page.get_by_role("link", name="Continue to customers").click()
    page.get_by_label("Customer ID").fill("C1")
    page.get_by_role("button", name="Add and assign a code").click()
    expect(page.locator("#one-panel")).to_contain_text("Assigned")
    expect(page.locator("#pool-counts")).to_contain_text("1 assigned")
    context.close()
