"""Assignment: one code per customer up to the limit, refusals, lists, concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Code, CodeEvent, Customer, utcnow
from portal.services import assignment, history, pools
from portal.services.errors import InvalidInput, MalformedFile, PoolUnavailable
from tests.conftest import DATA
from tests.helpers import customer, kept_counts, pool_with_codes, real_counts, upload


def run_together(app, n: int, work) -> list:
    """Run work(i) on n threads released at the same moment; returns results or errors."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def target(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = work(i)
            except Exception as exc:  # noqa: BLE001
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # End this thread's read snapshot so the checks see what the threads did.
    db.session.remove()
    return results


def test_customer_gets_a_code_and_the_same_one_when_asking_again(app):
    pool_id = pool_with_codes(n=3)
    first = assignment.assign_code(pool_id, customer("C1", email="a@example.com"))
    again = assignment.assign_code(pool_id, customer("C1"))
    assert first.new and not again.new
    assert again.code == first.code
    assert first.status == again.status == "assigned"
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 2, "assigned": 1, "redeemed": 0, "canceled": 0}
    stored = db.session.scalar(select(Customer).where(Customer.external_id == "C1"))
    assert stored.email == "a@example.com"  # the second call without email kept it


def test_per_customer_limit_above_one(app):
    pool_id = pool_with_codes(n=5, per_customer_limit=2)
    codes = [assignment.assign_code(pool_id, customer("C1")) for _ in range(3)]
    assert [c.new for c in codes] == [True, True, False]
    assert codes[2].code in {codes[0].code, codes[1].code}
    assert kept_counts(pool_id)["assigned"] == 2


def test_assignment_records_history(app):
    pool_id = pool_with_codes(n=1)
    result = assignment.assign_code(pool_id, customer("C1"))
    entries = history.for_code(result.code_id)
    assert [e.kind for e in entries] == ["imported", "assigned"]
    cust = db.session.scalar(select(Customer).where(Customer.external_id == "C1"))
    assert [e.kind for e in history.for_customer(cust.id)] == ["assigned"]


def test_empty_paused_archived_and_ended_pools_refuse_distinctly(app):
    empty = pool_with_codes("Empty", n=0)
    with pytest.raises(PoolUnavailable) as info:
        assignment.assign_code(empty, customer("C1"))
    assert info.value.reason == "pool_exhausted"

    paused = pool_with_codes("Paused", n=2)
    pools.set_status(paused, "paused")
    with pytest.raises(PoolUnavailable) as info:
        assignment.assign_code(paused, customer("C1"))
    assert info.value.reason == "pool_inactive"

    archived = pool_with_codes("Archived", n=2)
    pools.set_status(archived, "archived")
    with pytest.raises(PoolUnavailable) as info:
        assignment.assign_code(archived, customer("C1"))
    assert info.value.reason == "pool_inactive"

    ended = pool_with_codes("Ended", n=2)
    pools.update_pool(ended, valid_from=utcnow() - timedelta(days=9),
                      valid_until=utcnow() - timedelta(days=1))
    with pytest.raises(PoolUnavailable) as info:
        assignment.assign_code(ended, customer("C1"))
    assert info.value.reason == "pool_expired"
    # Nothing half-done: no code changed hands anywhere.
    assert db.session.scalar(select(func.count()).select_from(CodeEvent)) == 0
    for pool_id in (paused, archived, ended):
        assert kept_counts(pool_id) == real_counts(pool_id)
        assert real_counts(pool_id)["assigned"] == 0


def test_expired_codes_are_not_given_out(app):
    pool = pools.create_pool("Mixed")
    from portal.services import imports
    imports.import_codes(pool.id, upload("code,expires_at\nOLD111,2001-01-01\nNEW222,2099-01-01\n"))
    assert assignment.assign_code(pool.id, customer("C1")).code == "NEW222"
    with pytest.raises(PoolUnavailable) as info:
        assignment.assign_code(pool.id, customer("C2"))
    assert info.value.reason == "pool_exhausted"


def test_wrong_customer_fields_are_refused(app):
    pool_id = pool_with_codes(n=2)
    with pytest.raises(InvalidInput) as info:
        assignment.assign_code(pool_id, customer(" "))
    assert info.value.reason == "missing_customer_id"
    with pytest.raises(InvalidInput) as info:
        assignment.assign_code(pool_id, customer("C1", email="not-an-email"))
    assert info.value.reason == "invalid_email"
    assert kept_counts(pool_id)["assigned"] == 0


def test_customer_list_from_the_sample_file(app):
    pool_id = pool_with_codes(n=200)
    with open(DATA / "customers.csv", "rb") as fh:
        result = assignment.assign_file(pool_id, fh)
    assert result.assigned == 120
    assert result.already_assigned == 1  # one customer appears twice
    assert result.failed == []
    assert kept_counts(pool_id) == real_counts(pool_id)
    c1 = db.session.scalar(select(Customer).where(Customer.external_id == "C00001"))
    assert (c1.email_consent, c1.sms_consent, c1.first_name) == (True, False, "Maria")


def test_customer_list_reports_failed_lines_and_runs_dry(app):
    pool_id = pool_with_codes(n=2)
    text = ("customer_id,email,email_consent\n"
            "A1,a1@example.com,yes\n"
            ",nobody@example.com,yes\n"
            "A2,broken,yes\n"
            "A3,a3@example.com,perhaps\n"
            "A4,a4@example.com,no\n"
            "A1,a1@example.com,yes\n"
            "A5,a5@example.com,no\n")
    result = assignment.assign_file(pool_id, upload(text))
    assert (result.assigned, result.already_assigned) == (2, 1)
    assert [(f.line, f.reason) for f in result.failed] == [
        (3, "missing_customer_id"), (4, "invalid_email"), (5, "invalid_consent"),
        (8, "pool_exhausted")]
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 0, "assigned": 2, "redeemed": 0, "canceled": 0}


def test_customer_list_that_is_not_text_changes_nothing(app):
    pool_id = pool_with_codes(n=2)
    with pytest.raises(MalformedFile) as info:
        assignment.assign_file(pool_id, upload(b"customer_id\nA1\n\xff\xfe\x00\x00"))
    assert info.value.reason == "malformed_file"
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0
    assert kept_counts(pool_id)["assigned"] == 0


def test_16_threads_1000_customers_get_1000_distinct_codes(app):
    pool_id = pool_with_codes(n=1000)

    def work(i: int) -> list[str]:
        return [assignment.assign_code(pool_id, customer(f"T{i}-{j}")).code
                for j in range(1000 // 16 + (1 if i < 1000 % 16 else 0))]

    results = run_together(app, 16, work)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    codes = [code for batch in results for code in batch]
    assert len(codes) == 1000
    assert len(set(codes)) == 1000
    holders = db.session.execute(
        select(Code.customer_id, func.count()).where(Code.pool_id == pool_id)
        .group_by(Code.customer_id)
    ).all()
    assert all(n == 1 for _, n in holders)
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 0, "assigned": 1000, "redeemed": 0, "canceled": 0}


def test_16_threads_assigning_one_customer_give_one_code(app):
    pool_id = pool_with_codes(n=50)
    results = run_together(app, 16, lambda i: assignment.assign_code(pool_id, customer("SAME")))
    assert not [r for r in results if isinstance(r, Exception)]
    assert len({r.code for r in results}) == 1
    assert sum(r.new for r in results) == 1
    assert kept_counts(pool_id) == real_counts(pool_id)
    assert real_counts(pool_id)["assigned"] == 1


def test_concurrent_assignment_with_a_limit_of_three(app):
    pool_id = pool_with_codes(n=50, per_customer_limit=3)
    results = run_together(app, 16, lambda i: assignment.assign_code(pool_id, customer("SAME")))
    assert not [r for r in results if isinstance(r, Exception)]
    assert len({r.code for r in results}) == 3
    assert real_counts(pool_id)["assigned"] == 3 == kept_counts(pool_id)["assigned"]
