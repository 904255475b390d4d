"""Guessing codes through the API is slowed down, per key and per client address."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Redemption
from portal.services import accounts
from tests.api.conftest import Api
from tests.helpers import customer, pool_with_codes


@pytest.fixture
def app_config() -> dict:
    return {"RATELIMIT_ENABLED": True, "RATE_LIMIT_REDEMPTION": "20/minute",
            "RATE_LIMIT_UNKNOWN_CODE": "3/minute"}


@pytest.fixture
def known_code(app) -> str:
    from portal.services import assignment

    pool_id = pool_with_codes(n=5)
    return assignment.assign_code(pool_id, customer("C1")).code


def test_unknown_codes_count_more_than_valid_ones(pos, known_code):
    for _ in range(10):  # valid answers only use the general limit
        assert pos.post("/redemptions/validate", {"code": known_code}).status_code == 200
    for _ in range(3):
        assert pos.post("/redemptions/validate", {"code": "GUESS-0000"}).status_code == 200
    blocked = pos.post("/redemptions/validate", {"code": "GUESS-0001"})
    assert blocked.status_code == 429
    assert blocked.json["error"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) > 0
    # Once guessing tripped the limit, the key waits for valid codes too.
    assert pos.post("/redemptions/validate", {"code": known_code}).status_code == 429


def test_unknown_redemptions_count_too(pos, known_code):
    for _ in range(3):
        assert pos.post("/redemptions", {"code": "GUESS-0000"}).status_code == 404
    assert pos.post("/redemptions", {"code": known_code}).status_code == 429


def test_general_limit_per_key(pos, known_code):
    codes = [pos.post("/redemptions/validate", {"code": known_code}).status_code
             for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429


def test_limits_are_per_key(client, keys, known_code):
    first = Api(client, keys["pos"])
    for _ in range(3):
        first.post("/redemptions/validate", {"code": "GUESS-0000"})
    assert first.post("/redemptions/validate", {"code": known_code}).status_code == 429
    # Another key from another address is not held back by the first one's guesses.
    other = Api(client, accounts.create_api_key("till 2", "pos").secret)
    response = other.client.post("/api/v1/redemptions/validate", json={"code": known_code},
                                 headers=other.headers(),
                                 environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert response.status_code == 200


def test_validate_and_redeem_share_the_unknown_code_allowance(pos, known_code):
    """Three unknown answers in all (the documented count here), not three per operation."""
    assert pos.post("/redemptions/validate", {"code": "GUESS-0000"}).json["valid"] is False
    assert pos.post("/redemptions", {"code": "GUESS-0001"}).status_code == 404
    assert pos.post("/redemptions/validate", {"code": "GUESS-0002"}).status_code == 200
    refused = pos.post("/redemptions", {"code": known_code})
    assert refused.status_code == 429 and refused.json["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert pos.post("/redemptions/validate", {"code": known_code}).status_code == 429
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0


def test_validate_and_redeem_share_the_general_limit(pos, known_code):
    assert pos.post("/redemptions", {"code": known_code}).status_code == 201
    statuses = [pos.post("/redemptions", {"code": known_code}).status_code for _ in range(9)]
    statuses += [pos.post("/redemptions/validate", {"code": known_code}).status_code
                 for _ in range(10)]
    assert statuses == [409] * 9 + [200] * 10  # twenty answers in all
    assert pos.post("/redemptions/validate", {"code": known_code}).status_code == 429


def test_one_address_shares_the_allowance_across_keys(client, keys, known_code):
    first = Api(client, keys["pos"])
    second = Api(client, accounts.create_api_key("till 2", "pos").secret)
    assert first.post("/redemptions/validate", {"code": "GUESS-0000"}).status_code == 200
    assert second.post("/redemptions", {"code": "GUESS-0001"}).status_code == 404
    assert first.post("/redemptions", {"code": "GUESS-0002"}).status_code == 404
    # Neither key used its three, but their address did.
    assert second.post("/redemptions/validate", {"code": known_code}).status_code == 429


def test_concurrent_guesses_get_exactly_the_allowance(app, keys):
    """Many guesses at once cannot slip past the limit between a check and its count."""
    barrier = threading.Barrier(12)
    statuses: list[int] = []

    def guess(i: int) -> None:
        api = Api(app.test_client(), keys["pos"])
        barrier.wait()
        statuses.append(api.post("/redemptions/validate", {"code": f"GUESS-{i:04d}"}).status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 3 + [429] * 9
