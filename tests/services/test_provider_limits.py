"""Respecting what a provider asks through loopback HTTP receivers: a 429 with
Retry-After pauses the whole send without failing anything, a provider that asks for
too long fails the rest so that sending again takes them up, a channel's rate holds, and
webhooks are signed as the Standard Webhooks specification says."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from portal import queue
from portal.models import utcnow
from portal.services import accounts, assignment, channels, generation, pools, sending, transports
from portal.services.customers import CustomerData

SECRET = "whsec_" + base64.b64encode(b"a 24-byte key for tests!").decode()


@pytest.fixture
def app_config(receiver):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "SMS_URL": receiver.url, "WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": SECRET,
            "DELIVERY_ATTEMPTS": 2, "DELIVERY_RETRY_SECONDS": 0.0}


def campaign(n: int) -> int:
    pool_id = pools.create_pool("Limits", benefit="5 off").id
    generation.generate_codes(pool_id, n + 5)
    crowd = [CustomerData(customer_id=f"L{i}", email=f"l{i}@example.com", phone=f"+4860010{i:04d}",
                          sms_consent=True) for i in range(n)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
    channels.save(pool_id, "sms", enabled=True, body="{{ code }}")
    return pool_id


def run_until_done(job_id: int) -> None:
    """Run the send in this process as a worker would, waiting whenever it is due later."""
    while (due := queue.send_now(job_id)) is not None:
        time.sleep(max(0.0, (due - utcnow()).total_seconds()))


def test_a_429_with_retry_after_pauses_the_send_and_fails_nothing(app, receiver, as_htmx, client):
    pool_id = campaign(4)
    receiver.statuses = [200, 429]
    receiver.answer_headers = {"Retry-After": "3"}
    job, _ = sending.start_send(pool_id, "sms")

    due = queue.send_now(job.id)
    report = sending.progress(job.id)
    assert report.job.state == "waiting" and report.failed == 0 and report.sent == 1
    assert report.paused_until == due and due >= utcnow() + timedelta(seconds=2)
    page = as_htmx("marketer").get(f"/pools/{pool_id}/sends/{job.id}/progress").get_data(as_text=True)
    assert "paused by the provider until" in page
    key = accounts.create_api_key("Till", "integration").secret
    shown = client.get(f"/api/v1/pools/{pool_id}/sends/{job.id}",
                       headers={"Authorization": f"Bearer {key}"}).json
    assert datetime.fromisoformat(shown["paused_until"]) == due and shown["failed"] == 0

    time.sleep(max(0.0, (due - utcnow()).total_seconds()))
    run_until_done(job.id)
    report = sending.progress(job.id)
    assert (report.job.state, report.sent, report.failed) == ("done", 4, 0)
    assert report.paused_until is None
    times = [at for at, _ in receiver.arrivals]
    refused = [i for i, (_, status) in enumerate(receiver.arrivals) if status == 429]
    assert refused == [1] and len(times) == 5
    assert times[2] - times[1] >= 3.0, "the next request came before Retry-After ended"


def test_a_provider_that_asks_for_longer_than_provider_max_wait_fails_the_rest(app, receiver):
    app.config["PROVIDER_MAX_WAIT"] = 60
    pool_id = campaign(3)
    receiver.status = 429
    receiver.answer_headers = {"Retry-After": "120"}
    job, _ = sending.start_send(pool_id, "sms")

    assert queue.send_now(job.id) is None
    report = sending.progress(job.id)
    assert report.job.state == "done" and report.failed_by_reason == {"provider_throttled": 3}
    assert "PROVIDER_MAX_WAIT" in report.errors[0][0] and len(receiver.arrivals) == 1

    receiver.status = 200  # sending again reaches them
    again, _ = sending.start_send(pool_id, "sms")
    run_until_done(again.id)
    assert sending.progress(again.id).sent == 3 and len(receiver.received()) == 3


def test_retry_after_as_an_http_date():
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert transports.retry_after("Mon, 30 Nov 2026 12:00:07 GMT", now) == 7.0
    assert transports.retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now) == 0.0
    assert transports.retry_after("soon", now) is None and transports.retry_after("12", now) == 12.0


def test_a_channel_rate_holds_across_the_send(app, receiver):
    app.config["SMS_MAX_PER_SECOND"] = 2
    pool_id = campaign(5)
    job, _ = sending.start_send(pool_id, "sms")
    run_until_done(job.id)
    times = [at for at, _ in receiver.arrivals]
    assert len(times) == 5
    # Two a second: the fifth at least two seconds after the first (less some slack for
    # the way from the limit to the receiver, on a busy machine); without it, a blink.
    assert times[4] - times[0] > 1.5


def test_webhooks_verify_with_the_specifications_library_and_a_replay_is_refused(app, receiver):
    pool_id = campaign(2)
    job, _ = sending.start_send(pool_id, "webhook")
    run_until_done(job.id)
    posts = receiver.received()
    assert len(posts) == 2
    for post in posts:
        assert Webhook(SECRET).verify(post.body, post.headers)["event"] == "voucher.issued"
        assert post.headers["User-Agent"] == f"voucher-portal/{version('voucher-portal')}"
        assert post.headers["webhook-id"].startswith("msg_delivery-")
        # The timestamp is signed: moving it breaks the signature.
        moved = {**post.headers, "webhook-timestamp": str(int(post.headers["webhook-timestamp"]) - 1)}
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(post.body, moved)

    # The same delivery caught and replayed ten minutes later: signed then, refused now.
    ten_minutes_ago = time.time() - 600
    late = transports.WebhookSender(app.config, clock=lambda: ten_minutes_ago)
    late.send("pool.low_stock", {"pool": {"id": pool_id}}, reference="alert-1")
    replayed = receiver.received()[-1]
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(replayed.body, replayed.headers)
    fresh = transports.WebhookSender(app.config)
    fresh.send("pool.low_stock", {"pool": {"id": pool_id}}, reference="alert-1")
    again = receiver.received()[-1]
    Webhook(SECRET).verify(again.body, again.headers)
    assert again.headers["webhook-id"] == replayed.headers["webhook-id"]  # one message, two attempts

    # A plain secret signs with its own bytes, as the README tells receivers.
    plain = transports.WebhookSender({**app.config, "WEBHOOK_SECRET": "a plain secret"})
    plain.send("pool.low_stock", {"pool": {"id": pool_id}}, reference="alert-2")
    last = receiver.received()[-1]
    Webhook(b"a plain secret").verify(last.body, last.headers)
