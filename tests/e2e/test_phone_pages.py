"""Every page, in its main states, fits a 360 px phone without scrolling sideways and has
no axe-core violation of any impact. One case per page and state: add a line to PAGES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from portal import queue
from portal.extensions import db
from portal.services import accounts, assignment, imports, pools, redemption, transport_settings
from portal.services.actor import Actor
from portal.services.customers import CustomerData
from portal.services.links import CUSTOMER, UNSUBSCRIBE, VOUCHER, make_token
from tests.conftest import DATA
from tests.e2e.conftest import VIEWPORTS, assert_accessible
from tests.helpers import upload

PASSWORD = "correct horse battery"
# What sticks out past the screen's right edge, to name it when a page is too wide.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
                && el.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
  .slice(0, 8).map(el => `${el.tagName}.${el.className}#${el.id} in ${el.parentElement.className}`)"""
EMAILS = {"admin": "boss@example.com", "marketer": "mia@example.com", "cashier": "till@example.com"}


@pytest.fixture
def shop(live) -> dict:
    """A pool with codes, customers (one holding a long code, one redeemed), an empty
    pool, a store with its cashier, and one user per role."""
    url, app = live
    with app.app_context():
        accounts.create_store("S1", "Main street", "Europe/Warsaw")
        for role, email in EMAILS.items():
            accounts.create_user(email, PASSWORD, role, "S1" if role == "cashier" else None)
        pool = pools.create_pool("Spring shoes for the whole family", benefit="10% off shoes",
                                 terms="One per customer. Not with other offers.", low_stock_threshold=50)
        long_code = "LONGCODE-ABCDEFGHJKMNPQRSTUVWXYZ-0001"
        imports.import_codes(pool.id, upload(f"SPRI-0001\nSPRI-0002\nSPRI-0003\n{long_code}\n"))
        first = assignment.assign_code(pool.id, CustomerData("C1", first_name="Maria",
                                                             email="maria@example.com", email_consent=True))
        given = assignment.assign_code(pool.id, CustomerData("C-with-a-rather-long-customer-id-0002",
                                                             first_name="Ana"))
        store = accounts.find_store("S1")
        redemption.redeem(given.code, actor=Actor(store_id=store.id))
        empty = pools.create_pool("Empty").id
        # Email set up on the channel page, and a send waiting for a worker (none runs here).
        transport_settings.save("email", {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": 2525,
                                          "SMTP_SECURITY": "none", "MAIL_FROM": "shop@example.com"})
        job, _ = queue.start_send(pool.id, "email")
        tokens = {"voucher": make_token(VOUCHER, first.code_id), "wallet": make_token(CUSTOMER, 1),
                  "unsubscribe": make_token(UNSUBSCRIBE, 1)}
        db.session.remove()
    return {"url": url, "app": app, "pool": pool.id, "empty": empty, "code_id": first.code_id, "send": job.id,
            "code": first.code, **tokens}


def sign_in(page: Page, url: str, role: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(EMAILS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def reimport(page: Page) -> None:
    """Stage 2 after importing the same file twice: 300 lines left out, 200 listed."""
    for _ in range(2):
        page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "codes-plain.txt"))
        page.get_by_role("button", name="Upload and import").click()
        expect(page.locator("#import-result")).to_contain_text("imported")
    expect(page.locator("#import-result")).to_contain_text("first 200 of")
    page.locator("#import-result summary").click()


def list_to_empty_pool(page: Page) -> None:
    page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "customers.csv"))
    page.get_by_role("button", name="Upload the list").click()
    expect(page.get_by_role("heading", name="This pool has no codes to give")).to_be_visible()


def customer_list(page: Page) -> None:
    page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "customers.csv"))
    page.get_by_role("button", name="Upload the list").click()
    expect(page.locator("#assign-result")).to_contain_text("assigned")
    page.get_by_label("Customer ID").fill("NEW-1")
    page.get_by_label("Email", exact=True).fill("not an address")
    page.get_by_role("button", name="Add and assign a code").click()
    expect(page.locator("#one-panel .field-error")).to_be_visible()


def check_code(page: Page) -> None:
    page.get_by_label("Code to check").fill("SPRI-0001")
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#check-box .verdict")).to_be_visible()


def pool_errors(page: Page) -> None:
    page.get_by_label("Name").fill("")
    page.get_by_label("Codes per customer").fill("0")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator(".error-summary")).to_be_visible()


def scan(page: Page) -> None:
    page.get_by_label("Scan or type a code").fill("SPRI-0002")
    page.keyboard.press("Enter")
    expect(page.locator("#till-answer .verdict")).to_be_visible()


def channel_test(page: Page) -> None:
    page.get_by_label("SMTP server").fill("127.0.0.1")
    page.get_by_label("Port").fill("1")
    page.get_by_label("Emails come from").fill("Shop <shop@example.com>")
    page.locator("#email").get_by_role("button", name="Send me a test").click()
    expect(page.locator(".test-result-error")).to_be_visible()


@dataclass(frozen=True)
class Case:
    name: str
    role: str | None
    path: Callable[[dict], str]
    then: Callable[[Page], None] | None = None


PAGES = [
    Case("sign-in", None, lambda s: "/login"),
    Case("new pool", "marketer", lambda s: "/pools/new"),
    Case("stage 1 with errors", "marketer", lambda s: f"/pools/{s['pool']}/pool", pool_errors),
    Case("stage 2", "marketer", lambda s: f"/pools/{s['pool']}/codes"),
    Case("stage 2 re-import", "marketer", lambda s: f"/pools/{s['empty']}/codes", reimport),
    Case("stage 3", "marketer", lambda s: f"/pools/{s['pool']}/customers"),
    Case("stage 3 results", "marketer", lambda s: f"/pools/{s['pool']}/customers", customer_list),
    Case("stage 3 empty pool", "marketer", lambda s: f"/pools/{s['empty']}/customers", list_to_empty_pool),
    Case("stage 4 for a marketer", "marketer", lambda s: f"/pools/{s['pool']}/channels"),
    Case("stage 4 for an admin", "admin", lambda s: f"/pools/{s['pool']}/channels"),
    Case("send page", "marketer", lambda s: f"/pools/{s['pool']}/sends/{s['send']}"),
    Case("stage 5", "marketer", lambda s: f"/pools/{s['pool']}/redemption", check_code),
    Case("pool page", "marketer", lambda s: f"/pools/{s['pool']}"),
    Case("code page", "admin", lambda s: f"/pools/{s['pool']}/codes/{s['code_id']}"),
    Case("profile", "marketer", lambda s: "/profile"),
    Case("admin", "admin", lambda s: "/admin/"),
    Case("channel set-up", "admin", lambda s: "/admin/channels", channel_test),
    Case("new password", "admin", lambda s: "/admin/users/1/password"),
    Case("till", "cashier", lambda s: "/till/", scan),
    Case("voucher page", None, lambda s: f"/v/{s['voucher']}"),
    Case("all vouchers", None, lambda s: f"/v/c/{s['wallet']}"),
    Case("unsubscribe", None, lambda s: f"/u/{s['unsubscribe']}"),
    Case("not found", "marketer", lambda s: "/pools/999999"),
]


@pytest.mark.parametrize("case", PAGES, ids=[case.name for case in PAGES])
def test_every_page_fits_a_phone_and_passes_axe(new_context, shop, axe, case):
    page = new_context(viewport=VIEWPORTS["phone"]).new_page()
    if case.role:
        sign_in(page, shop["url"], case.role)
    page.goto(shop["url"] + case.path(shop))
    if case.then:
        case.then(page)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], (f"{case.name}: {width[0]} px wide on a {width[1]} px screen",
                                  page.evaluate(WIDEST))
    assert_accessible(axe, page, impacts=None)
    page.close()
