"""The till driven as a USB scanner drives it: keystrokes and Enter, customer after
customer, never a click in the code box. Focus loss is invisible to axe-core, so this test
checks where the focus is after every answer, and runs axe (any impact) on each state."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Code
from portal.services import accounts, assignment, imports, pools
from portal.services.customers import CustomerData
from tests.e2e.conftest import VIEWPORTS, assert_accessible
from tests.helpers import upload

CODES = [f"SCAN-000{i}" for i in range(1, 5)]


@pytest.fixture
def live_config() -> dict:
    # Rate limits on, with a tiny allowance of unknown codes and a short window, so the
    # test sees PLEASE WAIT count down to the end.
    return {"QUEUE_STORAGE": "memory", "RATELIMIT_ENABLED": True,
            "RATE_LIMIT_TILL_UNKNOWN": "2 per 4 seconds", "PORTAL_TIMEZONE": "UTC"}


@pytest.fixture
def shop(live):
    url, app = live
    with app.app_context():
        accounts.create_store("S1", "Main street", "Europe/Warsaw")
        accounts.create_user("till@example.com", "correct horse battery", "cashier", "S1")
        pool = pools.create_pool("Spring", benefit="10% off shoes")
        imports.import_codes(pool.id, upload("\n".join(CODES) + "\n"))
        for i in range(len(CODES)):
            assignment.assign_code(pool.id, CustomerData(f"C{i}", first_name="Maria"))
        db.session.remove()
    return url, app


def scan(page: Page, code: str) -> None:
    """What a scanner does: type the code fast, then Enter. No click anywhere."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def status_of(app, code: str) -> str:
    with app.app_context():
        status = db.session.scalar(select(Code.status).where(Code.code == code))
        db.session.remove()
        return status


def test_the_till_takes_scan_after_scan_without_a_click(page: Page, shop, axe):
    url, app = shop
    page.set_viewport_size(VIEWPORTS["desktop"])
    page.goto(url + "/login")
    page.get_by_label("Email").fill("till@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.keyboard.press("Enter")
    box = page.locator("#code")
    answer = page.locator("#till-answer")
    verdict = answer.locator(".verdict")
    redeem = page.get_by_role("button", name="Redeem")
    expect(box).to_be_focused()

    # An empty Enter says so, and keeps the focus in the box.
    page.keyboard.press("Enter")
    expect(verdict).to_have_text("Scan or type a code first.")
    expect(box).to_be_focused()
    assert_accessible(axe, page, impacts=None)

    # VALID: Enter now means Redeem.
    scan(page, CODES[0])
    expect(verdict).to_contain_text("VALID — press Redeem")
    expect(redeem).to_be_focused()
    assert_accessible(axe, page, impacts=None)
    valid_look = verdict.evaluate("e => getComputedStyle(e).backgroundColor")
    expect(verdict.locator("svg.icon-arrow")).to_be_visible()

    # The next customer's code scanned over a VALID answer, without redeeming: checked.
    scan(page, CODES[1])
    expect(answer.locator(".verdict-code")).to_have_text(CODES[1])
    expect(redeem).to_be_focused()
    page.keyboard.press("Enter")
    expect(verdict).to_contain_text("REDEEMED — done")
    expect(verdict.locator("svg.icon-check")).to_be_visible()
    assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") != valid_look
    expect(box).to_be_focused()
    assert_accessible(axe, page, impacts=None)
    assert (status_of(app, CODES[0]), status_of(app, CODES[1])) == ("assigned", "redeemed")

    # Redeem, and at once the next scan. Redeem's answer is held back until the scan's
    # answer is shown: arriving last, it must not cover the answer the cashier now needs.
    scan(page, CODES[2])
    expect(redeem).to_be_focused()
    held = []

    def hold(route):  # noqa: ANN001
        held.append(route)

    page.route(re.compile(r"/till/redeem$"), hold)
    page.keyboard.press("Enter")
    scan(page, CODES[3])
    expect(answer.locator(".verdict-code")).to_have_text(CODES[3])
    expect(redeem).to_be_focused()
    with page.expect_response(re.compile(r"/till/redeem$")):
        held[0].continue_()
    page.unroute(re.compile(r"/till/redeem$"), hold)
    expect(answer.locator(".verdict-code")).to_have_text(CODES[3])
    expect(verdict).to_contain_text("VALID")
    assert status_of(app, CODES[2]) == "redeemed"

    # ALREADY REDEEMED, in the store's own time; then the next scan, no click.
    scan(page, CODES[2])
    expect(verdict).to_contain_text("ALREADY REDEEMED")
    expect(verdict).to_contain_text(re.compile(r"Redeemed \d\d \w{3} \d{4} \d\d:\d\d CES?T at Main street"))
    expect(box).to_be_focused()
    assert_accessible(axe, page, impacts=None)
    scan(page, CODES[3])
    expect(answer.locator(".verdict-code")).to_have_text(CODES[3])
    expect(redeem).to_be_focused()
    page.keyboard.press("Enter")
    expect(verdict).to_contain_text("REDEEMED")
    expect(box).to_be_focused()

    # Undo from the recent list; then the next scan, no click.
    expect(page.locator(".recent-list li").first).to_contain_text(re.compile(r"\d\d:\d\d CES?T"))
    page.locator(".recent-list li").first.get_by_text("Undo", exact=True).click()
    page.locator(".recent-list li").first.get_by_label("Why undo it?").fill("wrong item")
    page.keyboard.press("Enter")
    expect(verdict).to_contain_text("UNDONE")
    expect(box).to_be_focused()
    assert_accessible(axe, page, impacts=None)
    scan(page, CODES[3])
    expect(answer.locator(".verdict-code")).to_have_text(CODES[3])
    expect(verdict).to_contain_text("VALID")

    # No answer at all (the network): said, with the code that was lost; ready again.
    page.route(re.compile(r"/till/check$"), lambda route: route.abort())
    scan(page, CODES[1])
    expect(verdict).to_contain_text(f"The till could not reach the portal to check {CODES[1]}.")
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    page.unroute(re.compile(r"/till/check$"))

    # Unknown codes: the answer leaves the focus in the box; past the allowance, PLEASE
    # WAIT counts down to "You can scan again".
    for guess in ("NOPE-0001", "NOPE-0002"):
        scan(page, guess)
        expect(verdict).to_contain_text("UNKNOWN CODE")
        expect(answer.locator(".verdict-code")).to_have_text(guess)
        expect(box).to_be_focused()
    scan(page, "NOPE-0003")
    expect(verdict).to_contain_text("PLEASE WAIT")
    expect(box).to_be_focused()
    pause = verdict.locator("svg.icon-pause")
    expect(pause).to_be_visible()
    size = pause.bounding_box()
    assert size["width"] > 10 and size["height"] > 10
    assert_accessible(axe, page, impacts=None)
    number = verdict.locator("[data-countdown-number]")
    first = int(number.inner_text())
    smaller = "|".join(str(n) for n in range(first))
    expect(number).to_have_text(re.compile(rf"^({smaller})$"))
    expect(verdict.get_by_text("You can scan again.")).to_be_visible(timeout=10_000)
    expect(box).to_be_focused()
    scan(page, CODES[0])
    expect(answer.locator(".verdict-code")).to_have_text(CODES[0])
    expect(verdict).to_contain_text("VALID")
