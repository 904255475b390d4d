"""Campaign sends over the JSON API."""

from __future__ import annotations

import pytest

from portal.services import assignment, generation, pools
from portal.services.customers import CustomerData
from tests.helpers import run_queue


@pytest.fixture
def app_config(smtp):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config()}


@pytest.fixture
def pool_id(app) -> int:
    pool_id = pools.create_pool("Api send").id
    generation.generate_codes(pool_id, 10)
    crowd = [CustomerData(customer_id=f"A{i}", email=f"a{i}@example.com", email_consent=i != 0)
             for i in range(4)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
    return pool_id


def test_start_a_send_and_follow_it(api, pool_id, smtp):
    started = api.post(f"/pools/{pool_id}/sends", json={"channel": "email"})
    assert started.status_code == 202
    send = started.json
    assert send["state"] == "queued" and send["total"] == 4 and send["remaining"] == 4
    again = api.post(f"/pools/{pool_id}/sends", json={"channel": "email"})
    assert again.status_code == 200 and again.json["id"] == send["id"]

    run_queue()
    done = api.get(f"/pools/{pool_id}/sends/{send['id']}")
    assert done.status_code == 200
    assert done.json["state"] == "done"
    assert (done.json["sent"], done.json["skipped"]) == (3, 1)
    assert done.json["skipped_by_reason"] == {"no_consent": 1}
    assert len(smtp.messages) == 3


def test_refusals(api, pos, pool_id):
    unconfigured = api.post(f"/pools/{pool_id}/sends", json={"channel": "sms"})
    assert unconfigured.status_code == 422 and unconfigured.json["error"] == \
        "channel_not_configured"
    assert api.post(f"/pools/{pool_id}/sends", json={"channel": "fax"}).status_code == 400
    assert api.post(f"/pools/{pool_id}/sends", json={"channel": "email", "x": 1}).status_code == 400
    assert api.post("/pools/999/sends", json={"channel": "email"}).status_code == 404
    assert api.get(f"/pools/{pool_id}/sends/999").json["error"] == "unknown_job"
    assert pos.post(f"/pools/{pool_id}/sends", json={"channel": "email"}).status_code == 403
    pools.set_status(pool_id, "paused")
    paused = api.post(f"/pools/{pool_id}/sends", json={"channel": "email"})
    assert paused.status_code == 409 and paused.json["error"] == "pool_inactive"
