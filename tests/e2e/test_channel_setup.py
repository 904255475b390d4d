"""An admin sets up email on the channel page, with no SMTP variable in the environment:
a test reaches a real SMTP server, and after saving, a campaign send goes out through it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import TransportSetting
from portal.services import accounts, assignment, generation, pools
from portal.services.customers import CustomerData
from tests.e2e.conftest import assert_accessible

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
SENDING_VARIABLES = ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_SECURITY",
                     "MAIL_FROM", "SMS_URL", "SMS_TOKEN", "WEBHOOK_URL")


@pytest.fixture
def live_config(monkeypatch) -> dict:
    for name in SENDING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return {"QUEUE_STORAGE": "sqlite"}


@pytest.fixture
def campaign(live, tmp_path):
    """Three consenting customers waiting for the send, and a worker process sharing the
    queue, with no channel in its environment either."""
    url, app = live
    with app.app_context():
        accounts.create_user("boss@example.com", PASSWORD, "admin")
        accounts.create_user("mia@example.com", PASSWORD, "marketer")
        pool_id = pools.create_pool("Winter", benefit="15% off coats").id
        generation.generate_codes(pool_id, 10)
        crowd = [CustomerData(customer_id=f"P{i}", email=f"p{i}@example.com", email_consent=True)
                 for i in range(3)]
        assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
        db.session.remove()
    env = {name: value for name, value in os.environ.items() if name not in SENDING_VARIABLES}
    env.update({"PORTAL_INSTANCE_PATH": app.instance_path, "SECRET_KEY": "browser-tests",
                "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "QUEUE_STORAGE": "sqlite"})
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "portal", "worker"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    yield url, app, pool_id
    worker.terminate()
    worker.wait(timeout=30)
    log.close()


def sign_in(page: Page, url: str, email: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_admin_sets_up_email_tests_it_and_a_send_goes_out(page: Page, campaign, smtp, axe):
    url, app, pool_id = campaign
    sign_in(page, url, "boss@example.com")
    page.goto(f"{url}/pools/{pool_id}/channels")
    expect(page.get_by_text("Not set up yet: email, SMS, webhook.")).to_be_visible()
    expect(page.get_by_role("button", name="Send by email")).to_have_count(0)
    page.get_by_role("link", name="Set up email and SMS").click()
    expect(page.get_by_role("heading", name="Sending channels")).to_be_visible()
    assert_accessible(axe, page, impacts=None)

    email = page.locator("#email")
    email.get_by_label("SMTP server").fill("127.0.0.1")
    email.get_by_label("Port").fill(str(smtp.port))
    email.get_by_label("Security").select_option("none")
    email.get_by_label("Emails come from").fill("Shop <vouchers@shop.example>")
    email.get_by_role("button", name="Send me a test").click()
    expect(page.get_by_role("status").filter(has_text="A test went to boss@example.com")).to_be_visible()
    assert [m["To"] for m in smtp.messages] == ["boss@example.com"]
    assert smtp.messages[0]["Subject"] == "Test from the voucher portal"
    with app.app_context():  # a test saves nothing
        assert db.session.get(TransportSetting, "email") is None
        db.session.remove()

    expect(page.locator("#sms").get_by_role("button", name="Save SMS settings")).to_be_visible()
    page.locator("#email").get_by_role("button", name="Save email settings").click()
    expect(page.get_by_role("status").filter(has_text="Email settings saved.")).to_be_visible()
    expect(page.locator("#email .pill")).to_have_text("ready")
    assert_accessible(axe, page, impacts=None)

    # The marketer now has the send button, and the worker sends through the saved server.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, url, "mia@example.com")
    page.goto(f"{url}/pools/{pool_id}/channels")
    page.get_by_role("button", name="Send by email").click()
    expect(page.locator(".send-progress .percent")).to_have_text("100%", timeout=60_000)
    expect(page.locator(".send-progress .sent")).to_have_text("3")
    assert sorted(m["To"] for m in smtp.messages[1:]) == ["p0@example.com", "p1@example.com",
                                                          "p2@example.com"]


def test_a_wrong_setting_is_refused_beside_its_field_and_nothing_is_saved(page: Page, campaign, axe):
    url, app, _pool_id = campaign
    sign_in(page, url, "boss@example.com")
    page.goto(f"{url}/admin/channels")
    email = page.locator("#email")
    email.get_by_label("SMTP server").fill("mail.example.com")
    email.get_by_label("Port").fill("0")
    email.get_by_label("Emails come from").fill("nobody")
    email.get_by_role("button", name="Save email settings").click()
    expect(page.locator("#email-port-error")).to_contain_text("from 1 to 65535")
    email.get_by_label("Port").fill("587")
    email.get_by_role("button", name="Save email settings").click()
    expect(page.locator("#email-mail_from-error")).to_contain_text("Enter the address emails come from")
    assert_accessible(axe, page, impacts=None)
    with app.app_context():
        assert db.session.get(TransportSetting, "email") is None
        db.session.remove()
