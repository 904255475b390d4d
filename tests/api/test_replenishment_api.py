"""Replenishment settings and runs over the JSON API; secrets are write-only."""

from __future__ import annotations

import pytest

from portal.services import pools
from tests.servers import FileServer


@pytest.fixture
def app_config():
    # The partner's test server is on this machine: an admin allows loopback.
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "REPLENISH_ALLOWED_NETWORKS": "127.0.0.0/8"}


@pytest.fixture
def files():
    server = FileServer(body=b"code\nAPIREFILL01\nAPIREFILL02\nAPIREFILL03\n")
    yield server
    server.close()


def test_set_read_and_run(api, app, files):
    pool_id = pools.create_pool("Api refill").id
    assert api.get(f"/pools/{pool_id}").json["replenishment"] is None
    patched = api.patch(f"/pools/{pool_id}", json={"replenishment": {
        "url": files.url, "bearer_token": "secret-tok", "every_hours": 12, "top_up_count": 100,
        "top_up_cap": 5000}})
    assert patched.status_code == 200, patched.json
    refill = patched.json["replenishment"]
    assert refill["url"] == files.url and refill["every_hours"] == 12
    assert refill["bearer_token"] is None and refill["bearer_token_set"] is True
    assert "secret-tok" not in patched.text
    assert (refill["top_up_count"], refill["top_up_cap"], refill["last_run"]) == (100, 5000, None)

    files.token = "secret-tok"
    ran = api.post(f"/pools/{pool_id}/replenish")
    assert ran.status_code == 200
    (run,) = ran.json["runs"]
    assert (run["source"], run["outcome"], run["imported"]) == ("url", "imported", 3)
    assert api.get(f"/pools/{pool_id}").json["replenishment"]["last_run"]["id"] == run["id"]

    # Leaving the token out (or null) keeps it; an empty string removes it.
    kept = api.patch(f"/pools/{pool_id}", json={"replenishment": {"every_hours": 6}})
    assert kept.json["replenishment"]["bearer_token_set"] is True
    gone = api.patch(f"/pools/{pool_id}", json={"replenishment": {"bearer_token": ""}})
    assert gone.json["replenishment"]["bearer_token_set"] is False


def test_refusals(api, pos, app):
    pool_id = pools.create_pool("Api refusals").id
    bad = api.patch(f"/pools/{pool_id}", json={"replenishment": {"url": "file:///etc/passwd"}})
    # Rules the OpenAPI document cannot state are 422 with their reason; a value that
    # breaks the document (daily_at's pattern) is a 400.
    assert (bad.status_code, bad.json["error"]) == (422, "invalid_url")
    both = api.patch(f"/pools/{pool_id}", json={"replenishment": {
        "url": "https://x.example/a.csv", "every_hours": 2, "daily_at": "03:00"}})
    assert (both.status_code, both.json["error"]) == (422, "two_schedules")
    assert api.patch(f"/pools/{pool_id}", json={"replenishment": {"daily_at": "3pm"}}).status_code == 400
    folder = api.patch(f"/pools/{pool_id}", json={"replenishment": {"drop_folder": True}})
    assert (folder.status_code, folder.json["error"]) == (422, "drop_folder_not_configured")
    nothing = api.post(f"/pools/{pool_id}/replenish")
    assert (nothing.status_code, nothing.json["error"]) == (422, "not_configured")
    assert api.post("/pools/999/replenish").status_code == 404
    assert pos.post(f"/pools/{pool_id}/replenish").status_code == 403


def test_a_refused_patch_changes_nothing(api, app, files):
    pools.create_pool("Taken")
    pool_id = pools.create_pool("Mine").id
    refused = api.patch(f"/pools/{pool_id}", json={"name": "Taken", "replenishment": {
        "url": files.url, "top_up_count": 10}})
    assert refused.status_code == 409
    assert api.get(f"/pools/{pool_id}").json["replenishment"] is None
    with_password = api.patch(f"/pools/{pool_id}", json={"replenishment": {
        "url": "https://user:pw@partner.example/codes.csv"}})
    assert with_password.status_code == 422 and "own fields" in with_password.json["message"]
    assert api.get(f"/pools/{pool_id}").json["replenishment"] is None
