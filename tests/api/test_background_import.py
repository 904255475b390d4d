"""A large body on the API is imported by a worker: 202 with a URL to poll, the same
all-or-nothing import, and the same report."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ImportBatch
from portal.services import pools
from tests.helpers import run_queue


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "BACKGROUND_FILE_BYTES": 1000}


def codes(n: int) -> bytes:
    return b"code\n" + b"".join(b"LARGE%06d\n" % i for i in range(n)) + b"no good!\n"


@pytest.mark.parametrize("how", ["raw", "multipart"])
def test_a_large_body_becomes_a_job_to_poll(api, how):
    pool_id = pools.create_pool("Big").id
    url = f"/api/v1/pools/{pool_id}/codes"
    if how == "raw":
        sent = api.client.post(url, data=codes(500), headers=api.headers({"Content-Type": "text/csv"}))
    else:
        sent = api.client.post(url, data={"file": (io.BytesIO(codes(500)), "big.csv")},
                               headers=api.headers())
    assert sent.status_code == 202, sent.json
    assert sent.json["state"] == "queued" and sent.json["result"] is None
    location = sent.headers["Location"]
    assert location == f"/api/v1/pools/{pool_id}/imports/{sent.json['id']}"
    assert pools.counts(pool_id).available == 0

    waiting = api.client.get(location, headers=api.headers())
    assert waiting.status_code == 200 and waiting.json["state"] == "queued"
    assert run_queue() >= 1
    done = api.client.get(location, headers=api.headers())
    assert done.json["state"] == "done", done.json
    result = done.json["result"]
    assert (result["imported"], result["rejected"]) == (500, 1)
    assert result["rejections"] == [{"line": 502, "value": "no good!", "reason": "invalid_characters"}]
    assert result["counts"]["available"] == 500
    # The batch remembers the key that sent it.
    db.session.rollback()
    batch = db.session.scalars(select(ImportBatch)).one()
    assert batch.api_key_id is not None and batch.user_id is None


def test_a_small_body_is_still_answered_at_once(api):
    pool_id = pools.create_pool("Small").id
    sent = api.client.post(f"/api/v1/pools/{pool_id}/codes", data=b"ABC123\nDEF456\n",
                           headers=api.headers({"Content-Type": "text/plain"}))
    assert sent.status_code == 200 and sent.json["imported"] == 2


def test_a_refused_background_file_says_why_and_imports_nothing(api):
    pool_id = pools.create_pool("Broken").id
    sent = api.client.post(f"/api/v1/pools/{pool_id}/codes", data=b"\x00\x01" * 2000,
                           headers=api.headers({"Content-Type": "text/plain"}))
    assert sent.status_code == 202
    run_queue()
    failed = api.client.get(sent.headers["Location"], headers=api.headers())
    assert failed.json["state"] == "failed" and "binary file" in failed.json["error"]
    assert failed.json["result"] is None
    assert pools.counts(pool_id).available == 0


def test_an_import_job_of_another_pool_or_kind_is_not_found(api):
    first, other = pools.create_pool("One").id, pools.create_pool("Two").id
    sent = api.client.post(f"/api/v1/pools/{first}/codes", data=codes(200),
                           headers=api.headers({"Content-Type": "text/csv"}))
    assert sent.status_code == 202
    wrong = api.client.get(f"/api/v1/pools/{other}/imports/{sent.json['id']}", headers=api.headers())
    assert wrong.status_code == 404 and wrong.json["error"] == "unknown_job"
    assert api.client.get(f"/api/v1/pools/{first}/imports/99999",
                          headers=api.headers()).status_code == 404
