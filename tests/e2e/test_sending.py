"""A marketer sends a campaign from stage 4 and watches a real worker's progress."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import accounts, assignment, generation, pools
from portal.services.customers import CustomerData
from tests.e2e.conftest import VIEWPORTS, assert_accessible
from tests.e2e.test_wizard import sign_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_config(smtp) -> dict:
    return {"QUEUE_STORAGE": "sqlite", **smtp.config()}


@pytest.fixture
def campaign(live, smtp, tmp_path):
    """A pool of 150 consenting customers, and a worker process sharing the queue."""
    url, app = live
    with app.app_context():
        accounts.create_user("mia@example.com", "correct horse battery", "marketer")
        pool_id = pools.create_pool("Winter", benefit="15% off coats").id
        generation.generate_codes(pool_id, 200)
        crowd = [CustomerData(customer_id=f"P{i}", email=f"p{i}@example.com", email_consent=True)
                 for i in range(150)]
        assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
        db.session.remove()
    smtp.handler.delay = 0.02  # a few seconds in all, so the bar is seen moving
    env = {**os.environ, "PORTAL_INSTANCE_PATH": app.instance_path, "SECRET_KEY": "browser-tests",
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "QUEUE_STORAGE": "sqlite",
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "MAIL_FROM": "shop@example.com"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "portal", "worker"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    yield url, pool_id
    worker.terminate()
    worker.wait(timeout=30)
    log.close()


def test_progress_bar_moves_and_ends_at_100(page: Page, campaign, smtp, axe):
    url, pool_id = campaign
    sign_in(page, url)
    page.goto(f"{url}/pools/{pool_id}/channels")
    expect(page.get_by_text("reaches 150 customers")).to_be_visible()
    assert_accessible(axe, page)
    page.get_by_role("button", name="Send by email").click()

    percent = page.locator(".send-progress .percent")
    expect(percent).to_have_text(re.compile(r"^([1-9]|[1-9][0-9])%$"), timeout=60_000)  # under way
    assert_accessible(axe, page)
    expect(percent).to_have_text("100%", timeout=120_000)
    expect(page.locator(".send-progress .sent")).to_have_text("150")
    bar = page.locator(".send-progress progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "150"
    assert len(smtp.messages) == 150


@pytest.mark.parametrize("size", VIEWPORTS)
def test_send_panel_fits_each_screen(new_context, campaign, axe, size):
    url, pool_id = campaign
    page = new_context(viewport=VIEWPORTS[size]).new_page()
    sign_in(page, url)
    page.goto(f"{url}/pools/{pool_id}/channels")
    expect(page.get_by_role("heading", name="Send the campaign")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    assert_accessible(axe, page)
    page.close()
