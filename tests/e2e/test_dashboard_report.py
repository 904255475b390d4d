"""The dashboard and a pool's campaign report in Chromium: the tiles and what needs
attention for pools the test made need it, the report's numbers, no sideways scrolling
at 360 px, and no axe-core violation of any impact."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import accounts
from tests.campaigns import needing_attention, spring_sale
from tests.e2e.conftest import VIEWPORTS, assert_accessible


@pytest.fixture
def live_config(smtp) -> dict:
    return {"QUEUE_STORAGE": "memory", **smtp.config()}


@pytest.fixture
def shop(live, smtp):
    url, app = live
    with app.app_context():
        accounts.create_user("mia@example.com", "correct horse battery", "marketer")
        concerns = needing_attention(smtp)
        customer = app.test_client()
        campaign = spring_sale(lambda path: customer.get(path).status_code)
        db.session.remove()
    return url, concerns, campaign


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()


def assert_fits(page: Page) -> None:
    """Nothing makes the page scroll sideways."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_dashboard_and_a_report(page: Page, shop, axe, viewport):
    url, _concerns, campaign = shop
    page.set_viewport_size(VIEWPORTS[viewport])
    sign_in(page, url)

    tiles = page.locator("#dashboard-tiles")
    # 7 running pools; 20 + 4 given out; 4 redeemed today.
    expect(tiles.locator('[data-tile="active"]')).to_have_text("7")
    expect(tiles.locator('[data-tile="given"]')).to_have_text("23")
    expect(tiles.locator('[data-tile="recent"]')).to_have_text("4")
    expect(tiles.locator('[data-tile="rate"]')).to_have_text("17%")
    attention = page.get_by_role("region", name="Needs your attention")
    for concern, pool in (("Low stock", "Low on codes"), ("Out of codes", "Ran dry"),
                          ("Ends soon", "Ending soon"), ("Sends failed", "Mail refused"),
                          ("Refill failing", "Refill broken")):
        expect(attention.locator("li", has_text=concern).filter(has_text=pool)).to_be_visible()
    expect(page.locator(".pool-list .pill").first).to_be_visible()
    assert_fits(page)
    assert_accessible(axe, page, impacts=None)

    page.get_by_label("Name").fill("spring")
    expect(page.locator(".pool-list tbody tr")).to_have_count(1)
    expect(page.locator(".pool-list")).to_contain_text("Spring sale")
    assert "q=spring" in page.url
    page.get_by_role("link", name="Spring sale").click()

    report = page.locator("#campaign-report")
    expect(report.get_by_role("heading", name="Campaign report")).to_be_visible()
    funnel = report.locator(".funnel-steps")
    expect(funnel.locator('[data-step="codes"] .step-count')).to_have_text("40")
    expect(funnel.locator('[data-step="given"] .step-count')).to_have_text("20")
    expect(funnel.locator('[data-step="sent"] .step-count')).to_have_text("18")
    expect(funnel.locator('[data-step="opened"] .step-count')).to_have_text("5")
    expect(funnel.locator('[data-step="redeemed"] .step-count')).to_have_text("4")
    expect(report.get_by_role("row", name="Main street 3")).to_be_attached()
    figure = report.locator("#report-per-day")
    expect(figure.locator("figcaption")).to_contain_text("4 redemptions")
    expect(figure.locator("svg.chart-svg:visible")).to_have_count(1)
    assert_fits(page)
    assert_accessible(axe, page, impacts=None)

    # Stage 5 draws the same chart over its 14 days (the rest of that page is the wizard's).
    page.goto(f"{url}/pools/{campaign.pool_id}/redemption")
    chart = page.locator("#redemptions-per-day")
    expect(chart.locator("figcaption")).to_contain_text("4 redemptions")
    expect(chart.locator("svg.chart-svg:visible")).to_have_count(1)
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    found = axe.run(page, context="#redemptions-per-day").response["violations"]
    assert [(v["id"], v["impact"]) for v in found] == []


def test_the_counts_are_not_polled_while_the_tab_is_hidden(page: Page, shop, monkeypatch):
    from portal.pools import report_views

    # The timer out of the way: only the tab's visibility asks for the counts here.
    monkeypatch.setattr(report_views, "POLL_SECONDS", 3600)
    url, _concerns, _campaign = shop
    sign_in(page, url)
    page.wait_for_load_state("load")  # htmx has read the page: its triggers are listening
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/pools/counts" in request.url else None)
    page.evaluate("""() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    with page.expect_request(lambda request: "/pools/counts" in request.url):
        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
    # Hidden: nothing was asked; shown again: the counts at once.
    assert len(asked) == 1
    expect(page.locator('[data-tile="active"]')).to_have_text("7")
