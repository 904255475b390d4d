"""Low-stock and expiry alerts: once per crossing, to the owner, by email and webhook."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import emails
from portal.extensions import db
from portal.models import Alert
from portal.services import accounts, alerts, assignment, generation, imports, pools
from portal.services.customers import CustomerData
from portal.services.tx import write_transaction
from tests.helpers import run_queue


@pytest.fixture
def app_config(smtp, receiver):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config(), "WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": "s"}


@pytest.fixture
def owner(app) -> int:
    accounts.create_user("admin@shop.example", "correct horse battery", "admin")
    return accounts.create_user("owner@shop.example", "correct horse battery", "marketer").id


def take(pool_id: int, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        assignment.assign_code(pool_id, CustomerData(customer_id=f"T{i}"))


def test_low_stock_alerts_once_per_crossing_and_rearms_on_refill(app, smtp, receiver, owner):
    pool_id = pools.create_pool("Low", owner_id=owner, low_stock_threshold=5).id
    generation.generate_codes(pool_id, 10)
    take(pool_id, 5)  # 5 left: not below the threshold yet
    assert db.session.scalars(select(Alert)).all() == []
    assert alerts.low_pools() == []

    take(pool_id, 3, start=5)  # 4, 3, 2 left: one crossing, one alert
    assert [a.kind for a in db.session.scalars(select(Alert))] == ["low_stock"]
    assert [p.id for p in alerts.low_pools()] == [pool_id]
    run_queue()  # the worker sends what the commit queued
    (message,) = smtp.messages
    assert message["To"] == "owner@shop.example"
    assert "4 codes left" in message["Subject"]
    (hook,) = receiver.received()
    assert hook.json()["event"] == "pool.low_stock" and hook.json()["available"] == 4

    imports.import_codes(pool_id, io.BytesIO(b"".join(b"REFILL%03d\n" % i for i in range(10))))
    assert alerts.low_pools() == []  # re-armed
    take(pool_id, 8, start=8)  # 12 -> 4: the second crossing
    run_queue()
    assert [a.kind for a in db.session.scalars(select(Alert))] == ["low_stock", "low_stock"]
    assert len(smtp.messages) == 2 and len(receiver.received()) == 2
    alerts.check_all_low_stock()
    assert alerts.deliver_pending(emails.alert_html) == 0  # nothing new, nothing sent again


def test_raising_the_threshold_above_the_stock_alerts(app, smtp, owner):
    pool_id = pools.create_pool("Raise", owner_id=owner).id
    generation.generate_codes(pool_id, 3)
    pools.update_pool(pool_id, low_stock_threshold=10)
    assert len(db.session.scalars(select(Alert)).all()) == 1


def test_a_pool_without_owner_alerts_the_admins(app, smtp, owner):
    pool_id = pools.create_pool("Orphan", low_stock_threshold=2).id
    generation.generate_codes(pool_id, 2)
    take(pool_id, 1)
    alerts.deliver_pending(emails.alert_html)
    assert [m["To"] for m in smtp.messages] == ["admin@shop.example"]


def test_expiry_warns_once_about_unredeemed_codes(app, smtp, owner):
    now = alerts.utcnow()
    pool_id = pools.create_pool("Ending", owner_id=owner, valid_until=now + timedelta(days=5)).id
    generation.generate_codes(pool_id, 10)
    quiet = pools.create_pool("Later", owner_id=owner, valid_until=now + timedelta(days=30)).id
    generation.generate_codes(quiet, 10)
    take(quiet, 2, start=50)
    assert alerts.check_expiry() == 0  # nothing assigned in the ending pool yet
    take(pool_id, 3)
    assert alerts.check_expiry() == 1
    assert alerts.check_expiry() == 0
    alerts.deliver_pending(emails.alert_html)
    (message,) = smtp.messages
    assert "3 vouchers unused" in message["Subject"]
    # A new end date earns a new reminder.
    pools.update_pool(pool_id, valid_until=now + timedelta(days=6))
    assert alerts.check_expiry() == 1


def test_an_alert_that_cannot_be_emailed_is_tried_again_without_repeating_the_rest(
        app, smtp, receiver, owner):
    pool_id = pools.create_pool("Down", owner_id=owner, low_stock_threshold=3).id
    generation.generate_codes(pool_id, 3)
    smtp.stop()
    take(pool_id, 1)
    assert alerts.deliver_pending(emails.alert_html) == 0
    alert = db.session.scalars(select(Alert)).one()
    db.session.refresh(alert)
    assert alert.sent_at is None and "cannot reach the SMTP server" in alert.error
    assert len(receiver.received()) == 1  # the webhook heard about it

    smtp.start()
    assert alerts.deliver_pending(emails.alert_html) == 0  # still claimed: a retry waits a few minutes
    with write_transaction() as session:
        session.get(Alert, alert.id).claimed_at -= alerts.CLAIM_LEASE
    assert alerts.deliver_pending(emails.alert_html) == 1
    db.session.refresh(alert)
    assert alert.sent_at is not None and alert.error is None
    assert [m["To"] for m in smtp.messages] == ["owner@shop.example"]
    assert len(receiver.received()) == 1  # not sent to the webhook again
