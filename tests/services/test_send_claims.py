"""A send job is run by one run at a time: claimed with a token of its own, given up when
a recovery takes it over, and never taken as lost while a queue message waits for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal import emails, queue
from portal.extensions import db
from portal.models import Delivery, Job, utcnow
from portal.services import assignment, generation, jobs, pools, sending
from portal.services.customers import CustomerData
from portal.services.tx import write_transaction
from tests.helpers import run_queue


@pytest.fixture
def app_config(smtp):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config()}


def _campaign(n: int) -> int:
    pool_id = pools.create_pool("Claimed", benefit="5 off").id
    generation.generate_codes(pool_id, n + 10)
    crowd = [CustomerData(customer_id=f"T{i:03d}", email=f"t{i}@example.com", email_consent=True)
             for i in range(n)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
    return pool_id


def _sent(job_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.job_id == job_id, Delivery.state == "sent"))


def test_a_send_that_waited_longer_than_the_lease_is_not_taken_for_lost(app, smtp):
    """Its queue message still waits: the recovery leaves it alone, so it runs once."""
    pool_id = _campaign(12)
    job, _ = queue.start_send(pool_id, "email")
    with write_transaction() as session:
        session.get(Job, job.id).created_at = utcnow() - timedelta(hours=2)
    assert queue.recover_jobs() == []
    assert run_queue() == 1
    assert sending.progress(job.id).sent == 12 and len(smtp.messages) == 12


def test_a_send_whose_queue_message_was_lost_is_queued_again(app, smtp):
    pool_id = _campaign(5)
    job, _ = sending.start_send(pool_id, "email")  # committed, but no message on the queue
    with write_transaction() as session:
        session.get(Job, job.id).created_at = utcnow() - timedelta(minutes=1)
    assert queue.recover_jobs() == [job.id]
    run_queue()
    assert sending.progress(job.id).sent == 5


def test_a_send_held_by_another_run_of_the_same_process_is_left_alone(app, smtp):
    """Worker threads share host:pid; the claim's token tells their runs apart."""
    pool_id = _campaign(8)
    job, _ = sending.start_send(pool_id, "email")
    other = jobs.claim(job.id)  # a run in another thread of this process
    assert other is not None
    assert sending.process_send(job.id, emails.voucher_html) is None
    assert smtp.messages == [] and _sent(job.id) == 0
    assert db.session.get(Job, job.id, populate_existing=True).worker == other.token


def test_a_run_whose_job_is_taken_over_stops_after_the_message_in_hand(app, smtp):
    """A recovery that took the job over (the run looked dead) wins: each of the old
    run's connections records the message it was handing over, then sends nothing more."""
    pool_id = _campaign(10)
    job, _ = sending.start_send(pool_id, "email")
    drawn = []

    def html(body, footer, values, pool, brand):  # noqa: ANN001, ANN202
        drawn.append(values["code"])
        if len(drawn) == 3:
            # What a recovery and the next run's claim write, from another connection.
            with db.engine.begin() as conn:
                conn.execute(update(Job.__table__).where(Job.id == job.id)
                             .values(state="running", worker="elsewhere.example:1/other"))
        return emails.voucher_html(body, footer, values, pool, brand)

    assert sending.process_send(job.id, html) is None
    # The third message, and at most one more in the hands of each other connection.
    assert 3 <= len(smtp.messages) <= 2 + app.config["SMTP_CONNECTIONS"] < 10
    assert _sent(job.id) == len(smtp.messages)
    row = db.session.get(Job, job.id, populate_existing=True)
    assert (row.state, row.worker) == ("running", "elsewhere.example:1/other")


def test_only_one_of_two_claims_gets_the_job(app):
    pool_id = _campaign(2)
    job, _ = sending.start_send(pool_id, "email")
    first, second = jobs.claim(job.id, "a:1"), jobs.claim(job.id, "a:1")
    assert first is not None and second is None
    with write_transaction() as session:
        assert jobs.hold(session, first, utcnow())
        assert jobs.release(session, first)
    assert jobs.claim(job.id, "a:1") is not None


def test_a_message_that_cannot_be_composed_fails_alone(app, smtp):
    """It never left, so it fails at once with the reason; the rest of the send goes on."""
    pool_id = _campaign(4)
    job, _ = sending.start_send(pool_id, "email")
    calls = []

    def html(body, footer, values, pool, brand):  # noqa: ANN001, ANN202
        calls.append(values["code"])
        if len(calls) == 2:
            raise ValueError("a broken template")
        return emails.voucher_html(body, footer, values, pool, brand)

    assert sending.process_send(job.id, html) is None
    report = sending.progress(job.id)
    assert report.job.state == "done" and (report.sent, report.failed) == (3, 1)
    assert report.errors == [("The message could not be composed: a broken template", 1)]
    assert len(smtp.messages) == 3


def test_a_job_whose_runs_keep_dying_fails_instead_of_restarting_for_ever(app):
    pool_id = _campaign(2)
    job, _ = sending.start_send(pool_id, "email")
    lease = timedelta(seconds=60)
    for attempt in range(1, jobs.MOST_RESTARTS + 2):
        assert jobs.claim(job.id, "elsewhere.example:1") is not None
        with write_transaction() as session:  # the run went silent
            session.get(Job, job.id).heartbeat_at = utcnow() - timedelta(hours=1)
        recovered = jobs.recover(lease, messaged={job.id})
        row = db.session.get(Job, job.id, populate_existing=True)
        if attempt <= jobs.MOST_RESTARTS:
            assert recovered == [job.id] and row.state == "queued"
        else:
            assert recovered == [] and row.state == "failed"
            assert "stopped 5 times" in row.error
