"""What each stage answers, as a marketer sees it: stage 2's summary, stage 3's choice for
a pool without codes, stage 5 done on saving, and refusals in the page's own words."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import Customer
from portal.services import pools
from tests.conftest import DATA
from tests.e2e.conftest import assert_accessible
from tests.e2e.test_wizard import portal, sign_in  # noqa: F401 (portal: the fixture)


def new_pool(live, name: str) -> int:
    _url, app = live
    with app.app_context():
        pool_id = pools.create_pool(name).id
        db.session.remove()
    return pool_id


def test_stage_2_sums_up_a_reimport_by_reason(page: Page, portal, live, axe):  # noqa: F811
    pool_id = new_pool(live, "Again")
    sign_in(page, portal)
    page.goto(f"{portal}/pools/{pool_id}/codes")
    result = page.locator("#import-result")
    for imported in ("300 codes imported", "0 codes imported"):
        page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "codes-plain.txt"))
        page.get_by_role("button", name="Upload and import").click()
        expect(result).to_contain_text(imported)
        expect(page.get_by_label("File (CSV or text)")).to_have_value("")
    expect(result).to_contain_text("302 lines left out")
    expect(result.locator(".reasons")).to_contain_text("300 already in this pool")
    expect(result.locator("table")).not_to_be_visible()
    result.get_by_text("Lines left out: first 200 of 302").click()
    expect(result.locator("tbody tr")).to_have_count(200)
    expect(result.get_by_role("link", name="Download all 302 lines left out (CSV)")).to_be_visible()
    # The generator stays near: the page is not made tall by the lines left out.
    generator = page.get_by_role("heading", name="Or generate codes").bounding_box()
    assert generator is not None and generator["y"] < 2000
    assert_accessible(axe, page, impacts=None)


def test_stage_3_stops_a_list_for_a_pool_without_codes_and_offers_the_choice(page: Page, portal, live, axe):  # noqa: F811
    _url, app = live
    pool_id = new_pool(live, "Empty")
    sign_in(page, portal)
    page.goto(f"{portal}/pools/{pool_id}/customers")
    page.get_by_label("File (CSV or text)").set_input_files(str(DATA / "customers.csv"))
    page.get_by_role("button", name="Upload the list").click()
    expect(page.get_by_role("heading", name="This pool has no codes to give")).to_be_visible()
    expect(page.locator("#assign-result")).to_contain_text("Nothing was written")
    with app.app_context():
        assert db.session.query(Customer).count() == 0
        db.session.remove()
    assert_accessible(axe, page, impacts=None)
    page.get_by_role("button", name="Add these customers to the campaign now").click()
    # 121 lines, one customer twice (C00010): 120 customers.
    expect(page.locator("#assign-result")).to_contain_text("121 added to the campaign")
    with app.app_context():
        assert db.session.query(Customer).count() == 120
        db.session.remove()
    # Adding one customer answers in its own panel: the list's result stays.
    page.get_by_label("Customer ID").fill("ONE-1")
    page.get_by_label("Email", exact=True).fill("not an address")
    page.get_by_role("button", name="Add and assign a code").click()
    expect(page.locator("#one-panel .field-error")).to_contain_text("is not an email address")
    expect(page.get_by_label("Email", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#assign-result")).to_contain_text("121 added to the campaign")


def test_stage_5_is_done_once_its_rules_are_saved(page: Page, portal, live, axe):  # noqa: F811
    pool_id = new_pool(live, "Rules")
    sign_in(page, portal)
    page.goto(f"{portal}/pools/{pool_id}/redemption")
    stage_5 = page.locator(".stepper li").nth(4)
    expect(stage_5.get_by_role("link")).to_have_accessible_name("Stage 5: Redemption (not done yet)")
    page.get_by_label("Codes per customer").fill("2")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="The redemption rules are saved.")).to_be_visible()
    # Named once: "Stage 5: Redemption", not "5 5. Redemption".
    expect(stage_5.get_by_role("link")).to_have_accessible_name("Stage 5: Redemption (done)")
    assert_accessible(axe, page, impacts=None)


def test_refusals_use_the_words_on_the_page(page: Page, portal, axe):  # noqa: F811
    sign_in(page, portal)
    page.goto(f"{portal}/pools/new")
    page.get_by_label("Name").fill("Backwards")
    page.get_by_label("Redeemable from").fill("2030-01-02T10:00")
    page.get_by_label("Redeemable until").fill("2030-01-01T10:00")
    page.get_by_label("Codes per customer").fill("0")
    page.get_by_role("button", name="Create pool").click()
    expect(page.locator("#per_customer_limit-error")).to_have_text(
        "Each customer may hold from 1 to 1,000,000 codes.")
    page.get_by_label("Codes per customer").fill("1")
    page.get_by_role("button", name="Create pool").click()
    expect(page.locator("#valid_until-error")).to_contain_text("The end must be after the start.")
    expect(page.locator("main")).not_to_contain_text("valid_until")
    assert_accessible(axe, page, impacts=None)
