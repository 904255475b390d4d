"""The pages the flows above do not reach still pass axe-core: pool page, code page, admin."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import accounts, assignment, imports, pools
from portal.services.customers import CustomerData
from tests.e2e.conftest import VIEWPORTS, assert_accessible
from tests.helpers import upload


@pytest.fixture
def stocked(live):
    url, app = live
    with app.app_context():
        accounts.create_user("boss@example.com", "correct horse battery", "admin")
        pool = pools.create_pool("Spring", benefit="10% off shoes", low_stock_threshold=50)
        imports.import_codes(pool.id, upload("SPRI-0001\nSPRI-0002\nSPRI-0003\n"))
        given = assignment.assign_code(pool.id, CustomerData("C1", first_name="Maria"))
        db.session.remove()
    return url, pool.id, given.code_id


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_pool_code_and_admin_pages(page: Page, stocked, axe, viewport):
    url, pool_id, code_id = stocked
    page.set_viewport_size(VIEWPORTS[viewport])
    page.goto(url + "/login")
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Low stock")).to_be_visible()
    page.goto(f"{url}/pools/{pool_id}")
    expect(page.get_by_role("heading", name="Funnel")).to_be_visible()
    assert_accessible(axe, page)
    page.get_by_label("Code or customer").fill("C1")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#code-browser")).to_contain_text("SPRI-0001")
    expect(page.locator("#code-browser")).not_to_contain_text("SPRI-0002")
    page.goto(f"{url}/pools/{pool_id}/codes/{code_id}")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    assert_accessible(axe, page)
    page.goto(f"{url}/admin/")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    assert_accessible(axe, page)
