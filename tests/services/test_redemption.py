"""Validation reasons, exactly-once redemption, idempotency, rollback and cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Redemption, utcnow
from portal.services import accounts, assignment, history, imports, pools, redemption
from portal.services.actor import Actor
from portal.services.errors import Conflict, InvalidInput, NotFound, RedemptionRefused
from tests.helpers import customer, kept_counts, pool_with_codes, real_counts, upload
from tests.services.test_assignment import run_together


@pytest.fixture
def assigned(app) -> tuple[int, str]:
    pool_id = pool_with_codes("Spring", n=5)
    return pool_id, assignment.assign_code(pool_id, customer("C1")).code


def test_valid_code_typed_loosely(assigned):
    pool_id, code = assigned  # e.g. SPRI-00001
    verdict = redemption.validate("  " + code.lower().replace("-", " ") + " ")
    assert verdict.valid and verdict.reason is None
    assert verdict.code.code == code


def test_unknown_code(app):
    verdict = redemption.validate("NOPE-NOPE")
    assert (verdict.valid, verdict.reason, verdict.code) == (False, "unknown_code", None)
    assert redemption.validate("").reason == "unknown_code"
    assert redemption.validate("x" * 500).reason == "unknown_code"


def test_not_assigned_unless_the_pool_allows_it(app):
    strict = pool_with_codes("Strict", n=1)
    assert redemption.validate("STRI-00001").reason == "not_assigned"
    loose = pool_with_codes("Loose", n=1, require_assignment=False)
    assert redemption.validate("LOOS-00001").valid
    redemption.redeem("LOOS-00001")
    assert kept_counts(loose) == real_counts(loose) == {
        "available": 0, "assigned": 0, "redeemed": 1, "canceled": 0}
    assert kept_counts(strict)["available"] == 1


def test_pool_window_and_status(assigned):
    pool_id, code = assigned
    pools.update_pool(pool_id, valid_from=utcnow() + timedelta(days=1))
    assert redemption.validate(code).reason == "not_yet_valid"
    pools.update_pool(pool_id, valid_from=utcnow() - timedelta(days=2),
                      valid_until=utcnow() - timedelta(days=1))
    assert redemption.validate(code).reason == "expired"
    pools.update_pool(pool_id, valid_until=None)
    pools.set_status(pool_id, "paused")
    assert redemption.validate(code).reason == "pool_inactive"
    with pytest.raises(RedemptionRefused) as info:
        redemption.redeem(code)
    assert info.value.reason == "pool_inactive"
    pools.set_status(pool_id, "active")
    assert redemption.validate(code).valid


def test_code_expiry(app):
    pool = pools.create_pool("Dated", require_assignment=False)
    imports.import_codes(pool.id, upload("code,expiry\nOLD111,2001-01-01\n"))
    assert redemption.validate("old111").reason == "expired"


def test_redeem_once_then_already_redeemed_with_when_and_where(assigned):
    pool_id, code = assigned
    store = accounts.create_store("S1", "Main street")
    done = redemption.redeem(code, store_id=store.id, order_ref="ORD-1")
    assert done.code.status == "redeemed" and done.store.code == "S1"
    with pytest.raises(RedemptionRefused) as info:
        redemption.redeem(code)
    assert info.value.reason == "already_redeemed"
    assert info.value.details["store"] == "S1"
    assert info.value.details["redeemed_at"] == done.redeemed_at
    verdict = redemption.validate(code)
    assert verdict.reason == "already_redeemed" and verdict.code.redeemed_store.code == "S1"
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 4, "assigned": 0, "redeemed": 1, "canceled": 0}


def test_same_idempotency_key_returns_the_first_result(assigned):
    pool_id, code = assigned
    first = redemption.redeem(code, idempotency_key="k-1", order_ref="A")
    again = redemption.redeem(code, idempotency_key="k-1", order_ref="B")
    assert again.id == first.id and again.order_ref == "A"
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
    assert kept_counts(pool_id)["redeemed"] == 1


def test_16_threads_redeeming_one_code_give_one_redemption(app, assigned):
    pool_id, code = assigned
    results = run_together(app, 16, lambda i: redemption.redeem(code, order_ref=f"T{i}"))
    wins = [r for r in results if isinstance(r, Redemption)]
    refusals = [r for r in results if isinstance(r, RedemptionRefused)]
    assert len(wins) == 1 and len(refusals) == 15
    assert {r.reason for r in refusals} == {"already_redeemed"}
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
    assert kept_counts(pool_id) == real_counts(pool_id)


def test_16_threads_with_one_idempotency_key_all_get_the_same_redemption(app, assigned):
    pool_id, code = assigned
    results = run_together(app, 16, lambda i: redemption.redeem(code, idempotency_key="same"))
    assert all(isinstance(r, Redemption) for r in results), results
    assert len({r.id for r in results}) == 1
    assert kept_counts(pool_id)["redeemed"] == 1


def test_rollback_returns_the_code_and_records_why(assigned):
    pool_id, code = assigned
    done = redemption.redeem(code)
    back = redemption.rollback(done.id, "customer returned the goods")
    assert back.rolled_back_at is not None
    assert redemption.validate(code).valid
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 4, "assigned": 1, "redeemed": 0, "canceled": 0}
    with pytest.raises(Conflict) as info:
        redemption.rollback(done.id, "again")
    assert info.value.reason == "already_rolled_back"
    with pytest.raises(InvalidInput) as info:
        redemption.rollback(done.id, "  ")
    assert (info.value.reason, info.value.details["field"]) == ("invalid_request", "reason")
    with pytest.raises(NotFound) as info:
        redemption.rollback(99999, "nothing")
    assert info.value.reason == "unknown_redemption"
    kinds = [e.kind for e in history.for_code(done.code_id)]
    assert kinds == ["imported", "assigned", "redeemed", "redemption_rolled_back"]
    assert history.for_code(done.code_id)[-1].details["reason"] == "customer returned the goods"
    # Redeemable again, once.
    redemption.redeem(code)
    assert kept_counts(pool_id)["redeemed"] == 1


def test_cancel_voids_a_code(assigned):
    pool_id, code = assigned
    canceled = redemption.cancel(code, "sent to the wrong person", actor=Actor(user_id=None))
    assert canceled.status == "canceled"
    assert redemption.validate(code).reason == "canceled"
    with pytest.raises(RedemptionRefused) as info:
        redemption.redeem(code)
    assert info.value.reason == "canceled"
    with pytest.raises(Conflict) as info:
        redemption.cancel(code, "twice")
    assert info.value.reason == "already_canceled"
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 4, "assigned": 0, "redeemed": 0, "canceled": 1}
    # The customer no longer holds a code from the pool, so they can get a new one.
    fresh = assignment.assign_code(pool_id, customer("C1"))
    assert fresh.new and fresh.code != code


def test_redeemed_code_cannot_be_canceled(assigned):
    _, code = assigned
    redemption.redeem(code)
    with pytest.raises(Conflict) as info:
        redemption.cancel(code, "oops")
    assert info.value.reason == "already_redeemed"


def test_counts_hold_after_mixed_concurrent_work(app):
    pool_id = pool_with_codes("Busy", n=300)

    def work(i: int) -> None:
        for j in range(12):
            result = assignment.assign_code(pool_id, customer(f"M{i}-{j}"))
            if j % 3 == 0:
                redemption.redeem(result.code)
            elif j % 3 == 1:
                redemption.cancel(result.code, "test")

    results = run_together(app, 16, work)
    assert [r for r in results if r is not None] == []
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 300 - 192, "assigned": 64, "redeemed": 64, "canceled": 64}


def test_the_redemption_writes_its_history_event_with_who_where_and_order(assigned):
    pool_id, code = assigned
    store = accounts.create_store("S9", "Harbour")
    key = accounts.create_api_key("till", "pos").key
    done = redemption.redeem(code, store_id=store.id, actor=Actor(api_key_id=key.id), order_ref="ORD-7")
    redeemed = [e for e in history.for_code(done.code_id) if e.kind == "redeemed"]
    assert len(redeemed) == 1
    event = redeemed[0]
    assert (event.from_status, event.to_status) == ("assigned", "redeemed")
    assert (event.api_key_id, event.store_id, event.user_id) == (key.id, store.id, None)
    assert event.details == {"order_ref": "ORD-7"} and event.at == done.redeemed_at
    # Without an order, the event says nothing more; a refused second try writes none.
    other = assignment.assign_code(pool_id, customer("C2"))
    second = redemption.redeem(other.code)
    with pytest.raises(RedemptionRefused):
        redemption.redeem(other.code)
    events = [e for e in history.for_code(second.code_id) if e.kind == "redeemed"]
    assert len(events) == 1 and events[0].details == {} and events[0].api_key_id is None
