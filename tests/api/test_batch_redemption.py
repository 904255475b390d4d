"""POST /api/v1/redemptions/batch over real HTTP on a loopback port, on SQLite and
PostgreSQL: one result per item in order, independent or all or nothing, the
Idempotency-Key over the whole batch, the rate limits, and two batches at once."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Code, Redemption
from portal.services import accounts, redemption
from tests.helpers import kept_counts, pool_with_codes, real_counts


@pytest.fixture
def till(served, keys):
    """POST a batch as a till does: (status, JSON body)."""

    def post(items, *, key: str | None = None, all_or_nothing: bool | None = None):
        body = {"items": [item if isinstance(item, dict) else {"code": item} for item in items]}
        if all_or_nothing is not None:
            body["all_or_nothing"] = all_or_nothing
        headers = {"Authorization": f"Bearer {keys['pos']}"}
        if key:
            headers["Idempotency-Key"] = key
        response = requests.post(f"{served}/api/v1/redemptions/batch", json=body, headers=headers, timeout=30)
        return response.status_code, response.json()

    return post


@pytest.fixture
def pool_id(app) -> int:
    accounts.create_store("S1", "Main street")
    return pool_with_codes(n=10, require_assignment=False)


def code(n: int) -> str:
    return f"SPRI-{n:05d}"


def redeemed_codes() -> list[str]:
    db.session.rollback()  # see what the server committed
    return sorted(db.session.scalars(
        select(Code.code).join(Redemption, Redemption.code_id == Code.id)
        .where(Redemption.rolled_back_at.is_(None))))


def test_each_item_stands_alone_with_a_single_redemptions_reasons(till, pool_id):
    redemption.redeem(code(3))
    status, body = till([
        {"code": code(1), "store": "S1", "order_ref": "O-1"},
        "NOPE-NOPE",
        code(3),
        code(2).lower(),
        {"code": code(4), "store": "NOWHERE"},
        code(1),
    ])
    assert status == 200
    assert (body["all_or_nothing"], body["redeemed"], body["refused"]) == (False, 2, 4)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [(r["status"], r["error"]) for r in results] == [
        ("redeemed", None), ("refused", "unknown_code"), ("refused", "already_redeemed"),
        ("redeemed", None), ("refused", "unknown_store"), ("refused", "duplicate_in_batch")]
    assert results[0]["redemption"]["store"] == "S1" and results[0]["redemption"]["order_ref"] == "O-1"
    assert results[3]["code"] == code(2).lower() and results[3]["redemption"]["code"] == code(2)
    assert results[1]["message"] == redemption.REFUSALS["unknown_code"].message
    assert results[2]["redeemed_at"] and results[2]["store"] is None
    assert redeemed_codes() == [code(1), code(2), code(3)]
    assert kept_counts(pool_id) == real_counts(pool_id)


def test_all_or_nothing_redeems_all_or_none_and_says_which_refused(till, pool_id):
    status, body = till([code(1), code(2), "NOPE-NOPE"], all_or_nothing=True)
    assert status == 200 and (body["redeemed"], body["refused"]) == (0, 1)
    assert [(r["status"], r["error"]) for r in body["results"]] == [
        ("not_redeemed", None), ("not_redeemed", None), ("refused", "unknown_code")]
    assert all(r["redemption"] is None for r in body["results"])
    assert redeemed_codes() == []
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 10, "assigned": 0, "redeemed": 0, "canceled": 0}

    status, body = till([{"code": code(2), "store": "S1"}, code(1)], all_or_nothing=True)
    assert status == 200 and (body["redeemed"], body["refused"]) == (2, 0)
    assert [r["redemption"]["code"] for r in body["results"]] == [code(2), code(1)]
    assert body["results"][0]["redemption"]["store"] == "S1"
    assert redeemed_codes() == [code(1), code(2)]
    assert kept_counts(pool_id) == real_counts(pool_id)

    # A code redeemed since refuses the whole batch, with when and where.
    status, body = till([code(5), code(1)], all_or_nothing=True)
    assert [(r["status"], r["error"]) for r in body["results"]] == [
        ("not_redeemed", None), ("refused", "already_redeemed")]
    assert body["results"][1]["redeemed_at"]
    assert redeemed_codes() == [code(1), code(2)]


def test_an_idempotency_key_covers_the_whole_batch(till, pool_id):
    items = [code(1), "NOPE-NOPE", code(2)]
    first = till(items, key="basket-17")
    assert first[0] == 200 and first[1]["redeemed"] == 2
    assert till(items, key="basket-17") == first
    status, body = till([code(1), code(3)], key="basket-17")
    assert (status, body["error"]) == (409, "idempotency_key_reused")
    assert redeemed_codes() == [code(1), code(2)]
    atomic = till([code(4)], key="basket-18", all_or_nothing=True)
    assert till([code(4)], key="basket-18", all_or_nothing=True) == atomic
    assert till([code(4)], key="basket-18")[1]["error"] == "idempotency_key_reused"

    redemption.rollback(first[1]["results"][0]["redemption"]["id"], "returned")
    status, body = till(items, key="basket-17")
    assert (status, body["error"]) == (409, "idempotency_key_rolled_back")


def test_a_batch_has_one_to_a_hundred_items(till, pool_id):
    for items in ([], [code(1)] * 101):
        status, body = till(items)
        assert (status, body["error"]) == (400, "invalid_request")
        assert [f["field"] for f in body["fields"]] == ["items"]
    assert redeemed_codes() == []


@pytest.mark.parametrize("all_or_nothing", [False, True], ids=["each-alone", "all-or-nothing"])
def test_two_batches_sharing_codes_at_once_redeem_each_code_once(till, pool_id, all_or_nothing):
    """Two tills send overlapping baskets (in opposite orders) at the same moment."""
    for attempt in range(4):
        shared = [code(2 * attempt + 1), code(2 * attempt + 2)]
        baskets = [shared, list(reversed(shared))]
        answers: list = [None, None]
        start = threading.Barrier(2)

        def send(i: int, start: threading.Barrier, baskets: list, answers: list) -> None:
            start.wait()
            answers[i] = till(baskets[i], all_or_nothing=all_or_nothing)

        threads = [threading.Thread(target=send, args=(i, start, baskets, answers)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in answers] == [200, 200]
        won = sorted(r["code"] for _, body in answers for r in body["results"] if r["status"] == "redeemed")
        assert won == sorted(shared)
        if all_or_nothing:
            assert sorted(body["redeemed"] for _, body in answers) == [0, 2]
    db.session.rollback()
    per_code = db.session.execute(select(Redemption.code_id, func.count()).group_by(Redemption.code_id)).all()
    assert len(per_code) == 8 and all(n == 1 for _, n in per_code)
    assert kept_counts(pool_id) == real_counts(pool_id)


class TestLimits:
    @pytest.fixture
    def app_config(self) -> dict:
        return {"RATELIMIT_ENABLED": True, "RATE_LIMIT_REDEMPTION": "8/minute",
                "RATE_LIMIT_UNKNOWN_CODE": "3/minute", "QUEUE_STORAGE": "memory"}

    def test_unknown_codes_in_a_batch_count_like_single_ones(self, till, pool_id):
        status, body = till([code(1), "GUESS-1", "GUESS-2", code(2), "GUESS-3", "GUESS-4", code(3)])
        assert status == 200
        assert [r["error"] for r in body["results"]] == [
            None, "unknown_code", "unknown_code", None, "unknown_code", "rate_limited", "rate_limited"]
        assert redeemed_codes() == [code(1), code(2)]

    def test_a_batch_costs_one_request_per_item(self, till, pool_id, served, keys):
        assert till([code(1), code(2), code(3), code(4), code(5)])[0] == 200
        validate = requests.post(f"{served}/api/v1/redemptions/validate", json={"code": code(9)},
                                 headers={"Authorization": f"Bearer {keys['pos']}"}, timeout=30)
        assert validate.status_code == 200
        status, body = till([code(6), code(7), code(8)])
        assert (status, body["error"]) == (429, "rate_limited")
        assert redeemed_codes() == [code(n) for n in range(1, 6)]
