"""Stage 2's "Keep this pool filled" panel and the pool page's run history."""

from __future__ import annotations

import pytest

from portal.services import pools, replenishment
from tests.helpers import run_queue
from tests.servers import FileServer


@pytest.fixture
def app_config():
    # The partner's test server is on this machine: an admin allows loopback.
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "REPLENISH_ALLOWED_NETWORKS": "127.0.0.0/8"}


@pytest.fixture
def files():
    server = FileServer(body=b"code\nGOODCODE001\nGOODCODE002\nbad!\n")
    yield server
    server.close()


def test_save_run_and_see_the_history(as_role, app, files):
    pool_id = pools.create_pool("Refilled").id
    marketer = as_role("marketer")
    page = marketer.get(f"/pools/{pool_id}/codes")
    assert "Keep this pool filled" in page.text and "No drop folder is set up" in page.text

    saved = marketer.post(f"/pools/{pool_id}/replenishment", data={
        "url": files.url, "schedule": "daily", "daily_at": "05:15", "bearer_token": "tok-secret-9",
        "top_up_count": "0"})
    assert saved.status_code == 302
    page = marketer.get(f"/pools/{pool_id}/codes")
    assert files.url in page.text and "tok-secret-9" not in page.text
    assert "A secret is stored" in page.text and "05:15 UTC" in page.text

    assert marketer.post(f"/pools/{pool_id}/replenishment/run").status_code == 302
    run_queue()
    assert pools.counts(pool_id).available == 2
    assert files.requests[0]["Authorization"] == "Bearer tok-secret-9"
    history = marketer.get(f"/pools/{pool_id}")
    assert "Replenishment" in history.text and "imported" in history.text
    assert "invalid characters 1" in history.text and "rejections.csv" in history.text


def test_bad_settings_are_refused_beside_their_field(as_role, app):
    pool_id = pools.create_pool("Wrong").id
    marketer = as_role("marketer")
    answer = marketer.post(f"/pools/{pool_id}/replenishment", data={
        "url": "ftp://partner.example/codes.csv", "schedule": "hours", "every_hours": "6"})
    assert answer.status_code == 422 and "must be an http:// or https:// URL" in answer.text
    answer = marketer.post(f"/pools/{pool_id}/replenishment", data={
        "url": "https://partner.example/codes.csv", "schedule": "daily", "daily_at": "25:99"})
    assert answer.status_code == 422 and "HH:MM" in answer.text
    answer = marketer.post(f"/pools/{pool_id}/replenishment", data={
        "url": "http://10.0.0.5/codes.csv", "schedule": "hours", "every_hours": "6"})
    assert answer.status_code == 422 and "a private address" in answer.text
    assert "REPLENISH_ALLOWED_NETWORKS" in answer.text
    assert replenishment.get(pool_id) is None


def test_run_now_without_settings_says_so(as_role, app):
    pool_id = pools.create_pool("Empty").id
    answer = as_role("marketer").post(f"/pools/{pool_id}/replenishment/run", follow_redirects=True)
    assert "Set up how this pool keeps itself filled first" in answer.text
