"""Event webhooks for integrations, through real loopback receivers on SQLite and
PostgreSQL: registered through the API, signed (checked with the Standard Webhooks
library's own verifier), delivered in order after a receiver recovers, nothing from a
rolled-back transaction, and a receiver that keeps failing paused on the admin page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from portal.extensions import db
from portal.models import Code, EventDelivery, OutboxEvent
from portal.services import accounts, redemption, redemption_batch
from portal.services.assignment import assign_code
from portal.services.integrations import delivery
from tests.helpers import customer, pool_with_codes, run_queue
from tests.servers import HttpReceiver


@pytest.fixture
def app_config() -> dict:
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "REPLENISH_ALLOWED_NETWORKS": "127.0.0.0/8",  # the receivers are this machine
            "EVENT_RETRY_SECONDS": 0, "EVENT_PAUSE_AFTER": 3}


@pytest.fixture
def receivers():
    made: list[HttpReceiver] = []

    def make(*statuses: int) -> HttpReceiver:
        made.append(HttpReceiver(statuses=list(statuses)))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def pool_id(app) -> int:
    accounts.create_store("S9", "Harbour street")
    return pool_with_codes(n=10, require_assignment=False)


def code(n: int) -> str:
    return f"SPRI-{n:05d}"


def register(api, url: str, events: list[str]) -> dict:
    answer = api.post("/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.json
    return answer.json


def test_a_redemption_arrives_signed_and_only_where_it_was_asked_for(api, receivers, pool_id):
    wanted, other = receivers(), receivers()
    hook = register(api, wanted.url, ["voucher.redeemed", "voucher.canceled"])
    register(api, other.url, ["voucher.assigned"])
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["voucher.redeemed", "voucher.canceled"]

    redemption.redeem(code(1), store_id=accounts.find_store("S9").id, order_ref="O-7")
    run_queue()  # the commit queued the delivery, as a worker runs it

    [post] = wanted.received()
    event = Webhook(hook["secret"]).verify(post.body, post.headers)
    assert event["type"] == "voucher.redeemed"
    assert event["data"] == {**event["data"], "code": code(1), "pool_id": pool_id, "store": "S9",
                             "order_ref": "O-7", "customer_id": None}
    assert other.received() == []  # it asked for assignments only

    listed = api.get("/webhooks").json["webhooks"]
    assert [w["url"] for w in listed] == [wanted.url, other.url] and "secret" not in listed[0]
    assert api.get(f"/webhooks/{hook['id']}").json["failures"] == 0
    assert api.delete(f"/webhooks/{hook['id']}").status_code == 200
    assert api.get(f"/webhooks/{hook['id']}").status_code == 404
    assert [w["url"] for w in api.get("/webhooks").json["webhooks"]] == [other.url]


def test_an_inside_address_or_an_unknown_event_is_refused(api, app):
    app.config["REPLENISH_ALLOWED_NETWORKS"] = ""
    refused = api.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["voucher.redeemed"]})
    assert refused.status_code == 422 and refused.json["error"] == "invalid_url"
    unknown = api.post("/webhooks", json={"url": "https://crm.example/hook", "events": ["voucher.eaten"]})
    assert unknown.status_code == 400 and unknown.json["fields"][0]["field"].startswith("events")


def test_a_receiver_that_fails_then_recovers_gets_every_event_in_order(api, receivers, pool_id):
    receiver = receivers(500, 503)
    hook = register(api, receiver.url, ["voucher.assigned", "voucher.redeemed", "voucher.canceled"])
    assign_code(pool_id, customer("c-1"))
    redemption.redeem(code(1))
    redemption.cancel(code(2), "printed twice")

    # As the worker's turns do: 500, and the first event waits with the later ones behind it.
    assert delivery.deliver_due() is not None and receiver.received() == []
    assert delivery.deliver_due() is not None and receiver.received() == []  # 503
    assert delivery.deliver_due() is None  # the receiver is back: everything, in order
    types = [Webhook(hook["secret"]).verify(p.body, p.headers)["type"] for p in receiver.received()]
    assert types == ["voucher.assigned", "voucher.redeemed", "voucher.canceled"]
    assert [status for _, status in receiver.arrivals] == [500, 503, 200, 200, 200]
    assigned = receiver.received()[0].json()["data"]
    assert assigned["customer_id"] == "c-1" and assigned["code"] == code(1)
    assert api.get(f"/webhooks/{hook['id']}").json["failures"] == 0


def test_a_rolled_back_transaction_emits_nothing(api, receivers, pool_id):
    receiver = receivers()
    register(api, receiver.url, ["voucher.redeemed"])
    redemption.redeem(code(3))
    run_queue()
    assert len(receiver.received()) == 1
    # All or nothing, refused by its third item: the two it claimed are rolled back.
    items = [redemption_batch.Item(code(1)), redemption_batch.Item(code(2)), redemption_batch.Item(code(3))]
    outcomes = redemption_batch.redeem_batch(items, all_or_nothing=True).outcomes
    assert [o.status for o in outcomes] == ["not_redeemed", "not_redeemed", "refused"]
    run_queue()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 1
    assert len(receiver.received()) == 1


def test_a_receiver_that_keeps_failing_is_paused_and_the_admin_sees_it(api, receivers, pool_id, as_role):
    receiver = receivers()
    receiver.status = 500
    hook = register(api, receiver.url, ["voucher.redeemed"])
    redemption.redeem(code(1))
    redemption.redeem(code(2))
    for _ in range(5):
        run_queue()
        delivery.deliver_due()
    assert [status for _, status in receiver.arrivals] == [500, 500, 500]  # paused after three
    paused = api.get(f"/webhooks/{hook['id']}").json
    assert paused["paused"] and "HTTP 500" in paused["last_error"]

    admin = as_role("admin")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Paused" in page and "HTTP 500" in page and "Resume" in page and "Send again" in page

    receiver.status = 200
    resumed = admin.post(f"/admin/webhooks/{hook['id']}/resume")
    assert resumed.status_code == 302
    run_queue()
    assert [p.json()["data"]["code"] for p in receiver.received()] == [code(1), code(2)]
    assert not api.get(f"/webhooks/{hook['id']}").json["paused"]

    # Send again: the first event once more.
    page = admin.get("/admin/").get_data(as_text=True)
    assert page.count("Delivered") == 2
    first = db.session.scalar(select(EventDelivery.id).order_by(EventDelivery.event_id).limit(1))
    assert admin.post(f"/admin/webhooks/deliveries/{first}/again").status_code == 302
    run_queue()
    assert [p.json()["data"]["code"] for p in receiver.received()] == [code(1), code(2), code(1)]


def test_the_admin_registers_an_endpoint_and_sees_its_secret_once(as_role, receivers):
    receiver = receivers()
    admin = as_role("admin")
    answer = admin.post("/admin/webhooks", data={"url": receiver.url, "events": ["pool.low_stock"]})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 201 and "whsec_" in page and receiver.url in page
    assert "whsec_" not in admin.get("/admin/").get_data(as_text=True)
    refused = admin.post("/admin/webhooks", data={"url": receiver.url})
    assert refused.status_code == 422 and "Choose one or more events" in refused.get_data(as_text=True)


def test_every_other_event_arrives_from_the_change_that_causes_it(api, receivers, app, smtp):
    from portal import queue
    from portal.services import assignment, channels, generation, pools, replenishment
    from portal.services.customers import CustomerData

    app.config.update(smtp.config())
    receiver = receivers()
    hook = register(api, receiver.url, ["voucher.redemption_rolled_back", "pool.low_stock",
                                        "pool.replenished", "send.finished"])
    pool_id = pools.create_pool("Top", low_stock_threshold=3).id
    generation.generate_codes(pool_id, 5, generation.Spec(pattern="TOP-######"))
    replenishment.configure(pool_id, top_up_count=10, top_up_cap=40)

    # Three customers take codes: 2 left, below 3 (low stock), and the top-up answers it.
    assignment.assign_many(pool_id, [(i, CustomerData(f"E{i}", email=f"e{i}@example.com",
                                                      email_consent=True)) for i in range(3)])
    run_queue()
    held = db.session.scalar(select(Code.code).where(Code.customer_id.is_not(None)).limit(1))
    done = redemption.redeem(held)
    redemption.rollback(done.id, "wrong basket")
    channels.save(pool_id, "email", enabled=True)
    job, _ = queue.start_send(pool_id, "email")
    run_queue()

    events = [Webhook(hook["secret"]).verify(p.body, p.headers) for p in receiver.received()]
    by_type = {event["type"]: event["data"] for event in events}
    assert set(by_type) == {"pool.low_stock", "pool.replenished", "voucher.redemption_rolled_back",
                            "send.finished"}
    assert by_type["pool.low_stock"]["pool_id"] == pool_id
    assert by_type["pool.replenished"]["pool_id"] == pool_id
    assert by_type["voucher.redemption_rolled_back"]["code"] == held
    assert by_type["send.finished"]["pool_id"] == pool_id
    # Each in the order its change committed.
    order = [event["type"] for event in events]
    assert order.index("pool.low_stock") < order.index("pool.replenished") < order.index(
        "voucher.redemption_rolled_back") < order.index("send.finished")
