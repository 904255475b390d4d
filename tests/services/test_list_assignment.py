"""A customer list assigned in a few statements: the guarantees of one-at-a-time
assignment, with lists running at once and beside single assignments."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Code, CodeEvent, ConsentChange, Customer
from portal.services import assignment
from portal.services.customers import CustomerData
from tests.helpers import customer, kept_counts, pool_with_codes, real_counts, upload
from tests.services.test_assignment import run_together


def holders(pool_id: int) -> dict[str, int]:
    """customer id -> how many codes they hold in the pool."""
    return dict(db.session.execute(
        select(Customer.external_id, func.count()).join(Code, Code.customer_id == Customer.id)
        .where(Code.pool_id == pool_id).group_by(Customer.external_id)).all())


def codes_given_twice(pool_id: int) -> int:
    """Codes whose history says they were assigned more than once."""
    return db.session.scalar(select(func.count()).select_from(
        select(CodeEvent.code_id).where(CodeEvent.pool_id == pool_id, CodeEvent.kind == "assigned")
        .group_by(CodeEvent.code_id).having(func.count() > 1).subquery()))


def people(prefix: str, numbers: range) -> list[tuple[int, CustomerData]]:
    return [(line, customer(f"{prefix}{n:04d}", email=f"{prefix.lower()}{n}@example.com"))
            for line, n in enumerate(numbers, start=2)]


def test_four_overlapping_lists_at_once_give_each_customer_one_code(app):
    """Four lists of 300 customers, each sharing half its customers with the next, in
    different orders, at the same moment."""
    pool_id = pool_with_codes(n=1000)
    lists = [people("P", range(150 * i, 150 * i + 300)) for i in range(4)]
    lists[1].reverse()
    lists[3].reverse()
    results = run_together(app, 4, lambda i: assignment.assign_many(pool_id, lists[i]))
    assert not [r for r in results if isinstance(r, Exception)], results
    everyone = {c.customer_id for batch in lists for _, c in batch}
    assert len(everyone) == 750
    assert holders(pool_id) == dict.fromkeys(everyone, 1)
    assert sum(r.assigned for r in results) == 750
    assert sum(r.already_assigned for r in results) == 1200 - 750
    assert codes_given_twice(pool_id) == 0
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 250, "assigned": 750, "redeemed": 0, "canceled": 0}


def test_lists_racing_for_a_short_pool_share_it_and_report_the_rest(app):
    pool_id = pool_with_codes(n=100)
    lists = [people("A", range(100)), people("B", range(100))]
    results = run_together(app, 2, lambda i: assignment.assign_many(pool_id, lists[i]))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.assigned for r in results) == 100
    failed = [f for r in results for f in r.failed]
    assert len(failed) == 100 and {f.reason for f in failed} == {"pool_exhausted"}
    assert sum(r.failures for r in results) == 100
    assert set(holders(pool_id).values()) == {1} and len(holders(pool_id)) == 100
    assert codes_given_twice(pool_id) == 0
    assert kept_counts(pool_id) == real_counts(pool_id)


def test_a_list_beside_single_assignments_keeps_the_limit(app):
    """One thread uploads 400 customers; seven others assign the same customers one at a
    time through the single path, at the same moment."""
    pool_id = pool_with_codes(n=600, per_customer_limit=2)
    crowd = people("S", range(400))

    def work(i: int):  # noqa: ANN202
        if i == 0:
            return assignment.assign_many(pool_id, crowd)
        return [assignment.assign_code(pool_id, customer(f"S{n:04d}")).code for n in range(i, 400, 37)]

    results = run_together(app, 8, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    held = holders(pool_id)
    assert len(held) == 400 and max(held.values()) <= 2
    assert codes_given_twice(pool_id) == 0
    assert kept_counts(pool_id) == real_counts(pool_id)
    assert real_counts(pool_id)["assigned"] == sum(held.values())


def test_a_customer_on_several_lines_is_served_as_line_after_line(app):
    """With a limit of two, three lines of one customer give two codes and one
    already-assigned; each field ends with the last value given for it."""
    pool_id = pool_with_codes(n=10, per_customer_limit=2)
    text = ("customer_id,email,first_name,email_consent\n"
            "R1,first@example.com,Rosa,yes\n"
            "R2,r2@example.com,,no\n"
            "R1,,Rosalind,\n"
            "R1,last@example.com,,\n")
    result = assignment.assign_file(pool_id, upload(text))
    assert (result.assigned, result.already_assigned, result.failures) == (3, 1, 0)
    rosa = db.session.scalar(select(Customer).where(Customer.external_id == "R1"))
    # A blank consent cell is a no (parse_consent), a blank email leaves the email as it was.
    assert (rosa.email, rosa.first_name, rosa.email_consent) == ("last@example.com", "Rosalind", False)
    assert holders(pool_id) == {"R1": 2, "R2": 1}


def test_holders_of_a_code_are_not_failed_when_the_pool_runs_out(app):
    pool_id = pool_with_codes(n=3)
    assignment.assign_many(pool_id, people("H", range(2)))
    result = assignment.assign_many(pool_id, people("H", range(4)))
    assert (result.assigned, result.already_assigned) == (1, 2)
    assert [(f.line, f.customer_id, f.reason) for f in result.failed] == [(5, "H0003", "pool_exhausted")]


def test_a_list_writes_each_code_s_history_and_each_consent_change(app):
    pool_id = pool_with_codes(n=5)
    crowd = [(n + 2, customer(f"E000{n}", email=f"e{n}@example.com", email_consent=True)) for n in range(3)]
    result = assignment.assign_many(pool_id, crowd)
    assert result.assigned == 3
    events = db.session.execute(
        select(CodeEvent.kind, CodeEvent.from_status, CodeEvent.to_status, Customer.external_id)
        .join(Customer, Customer.id == CodeEvent.customer_id).where(CodeEvent.pool_id == pool_id)
        .order_by(Customer.external_id)).all()
    assert [tuple(e) for e in events] == [("assigned", "available", "assigned", f"E000{n}") for n in range(3)]
    # Each event's code is the one the customer holds.
    assert db.session.scalar(select(func.count()).select_from(CodeEvent).join(
        Code, (Code.id == CodeEvent.code_id) & (Code.customer_id == CodeEvent.customer_id))) == 3
    # A new customer's yes is recorded, with its source.
    changes = db.session.execute(select(ConsentChange.channel, ConsentChange.consent,
                                        ConsentChange.before, ConsentChange.source)).all()
    assert sorted(tuple(c) for c in changes) == [("email", True, None, "list")] * 3
