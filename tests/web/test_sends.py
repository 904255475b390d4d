"""Stage 4's send panel, a send's progress page, test sends and the low-stock banner."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Job
from portal.services import accounts, assignment, generation, pools
from portal.services.customers import CustomerData
from tests.helpers import run_queue


@pytest.fixture
def app_config(smtp):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config()}


@pytest.fixture
def pool_id(app) -> int:
    pool_id = pools.create_pool("Autumn", benefit="5 € off").id
    generation.generate_codes(pool_id, 20)
    crowd = [CustomerData(customer_id=f"A{i}", email=f"a{i}@example.com", email_consent=i != 0)
             for i in range(6)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
    return pool_id


def test_stage_four_offers_the_configured_channels(as_role, pool_id):
    page = as_role("marketer").get(f"/pools/{pool_id}/channels")
    assert page.status_code == 200
    assert "reaches <strong>6</strong> customers" in page.text
    assert "Send by email" in page.text
    assert "Send by SMS" not in page.text
    assert "Not set up yet: SMS, webhook." in page.text
    # A marketer is told whom to ask; an admin is taken to where it is set up.
    assert "Ask an admin to set them up" in page.text and "mailto:" in page.text
    assert "/admin/channels" not in page.text
    assert "/admin/channels" in as_role("admin").get(f"/pools/{pool_id}/channels").text


def test_stage_four_says_why_email_is_refused(app, as_role, pool_id):
    app.config.update({"SMTP_HOST": "mail.example.com", "SMTP_USERNAME": "shop", "SMTP_PASSWORD": "pw"})
    marketer = as_role("marketer")
    page = marketer.get(f"/pools/{pool_id}/channels")
    assert "Send by email" not in page.text
    assert "Sending by email is refused: SMTP_SECURITY is none" in page.text
    answer = marketer.post(f"/pools/{pool_id}/sends/email", follow_redirects=True)
    assert "set SMTP_SECURITY to starttls or tls" in answer.text
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_sending_shows_progress_until_done(as_role, pool_id, smtp):
    marketer = as_role("marketer")
    started = marketer.post(f"/pools/{pool_id}/sends/email")
    assert started.status_code == 302
    job = db.session.scalars(select(Job)).one()
    assert started.headers["Location"].endswith(f"/pools/{pool_id}/sends/{job.id}")

    waiting = marketer.get(f"/pools/{pool_id}/sends/{job.id}/progress")
    assert waiting.status_code == 200  # still polling
    assert 'hx-trigger="every 1s"' in waiting.text and "waiting for a worker" in waiting.text

    run_queue()
    done = marketer.get(f"/pools/{pool_id}/sends/{job.id}/progress")
    assert done.status_code == 286  # stops the polling
    assert "hx-trigger" not in done.text
    assert "100%" in done.text and 'class="sent">5<' in done.text and 'class="skipped">1<' in done.text
    assert "no consent to this channel 1" in done.text
    assert len(smtp.messages) == 5

    page = marketer.get(f"/pools/{pool_id}/sends/{job.id}")
    assert page.status_code == 200 and "Send again by email" in page.text


def test_a_second_click_follows_the_running_send(as_role, pool_id):
    marketer = as_role("marketer")
    first = marketer.post(f"/pools/{pool_id}/sends/email")
    second = marketer.post(f"/pools/{pool_id}/sends/email")
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Job)) == 1
    assert "already under way" in marketer.get(second.headers["Location"]).text


def test_an_unconfigured_channel_says_so_and_starts_nothing(as_role, pool_id):
    marketer = as_role("marketer")
    answer = marketer.post(f"/pools/{pool_id}/sends/sms", follow_redirects=True)
    assert "The sms channel is not set up" in answer.text
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_another_pools_send_is_not_found(as_role, pool_id):
    other = pools.create_pool("Other").id
    marketer = as_role("marketer")
    marketer.post(f"/pools/{pool_id}/sends/email")
    job = db.session.scalars(select(Job)).one()
    assert marketer.get(f"/pools/{other}/sends/{job.id}").status_code == 404


def test_test_send_reports_success_and_bad_addresses(as_role, pool_id, smtp):
    marketer = as_role("marketer")
    ok = marketer.post(f"/pools/{pool_id}/test-send", data={"channel": "email", "to": "me@shop.example"})
    assert ok.status_code == 200 and "Test email sent to me@shop.example" in ok.text
    bad = marketer.post(f"/pools/{pool_id}/test-send", data={"channel": "email", "to": "nobody"})
    assert bad.status_code == 422 and "is not an email address" in bad.text
    assert [m["To"] for m in smtp.messages] == ["me@shop.example"]
    assert pools.counts(pool_id).available == 20

    smtp.stop()
    down = marketer.post(f"/pools/{pool_id}/test-send", data={"channel": "email", "to": "me@shop.example"})
    assert down.status_code == 422 and "The test did not go out" in down.text


def test_low_stock_banner_shows_until_refilled(as_role, app):
    pool_id = pools.create_pool("Scarce", low_stock_threshold=3).id
    generation.generate_codes(pool_id, 3)
    marketer = as_role("marketer")
    assert "Running low" not in marketer.get("/pools/").text
    assignment.assign_code(pool_id, CustomerData(customer_id="S1"))
    assert "Running low" in marketer.get("/pools/").text
    assert "Running low" not in as_role("cashier").get("/till/").text
    generation.generate_codes(pool_id, 5)
    assert "Running low" not in marketer.get("/pools/").text


def test_admin_page_lists_channels_without_secrets(as_role, app):
    app.config.update(SMTP_PASSWORD="hunter2-secret", SMS_URL="https://user:pw@sms.example/send",
                      SMS_TOKEN="tok-secret", WEBHOOK_URL="", WEBHOOK_SECRET="")
    page = as_role("admin").get("/admin/")
    assert page.status_code == 200
    assert "hunter2-secret" not in page.text and "tok-secret" not in page.text
    assert "user:pw" not in page.text and "https://sms.example/send" in page.text
    assert "Channels" in page.text


def test_new_pool_belongs_to_its_creator(as_role, users):
    marketer = as_role("marketer")
    response = marketer.post("/pools/new", data={"name": "Mine", "per_customer_limit": 1,
                                                 "barcode_format": "qr"})
    assert response.status_code == 302
    pool = pools.list_pools()[0]
    owner = accounts.check_password(users["marketer"], "correct horse battery")
    assert pool.owner_id == owner.id
