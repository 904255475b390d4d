"""The real worker (`portal worker` in its own process) sending campaigns through a
real SMTP server: the right message to each consenting customer, and no duplicates
when the worker is killed mid-send and another one takes over."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import create_app, queue
from portal.extensions import db
from portal.models import Code, Customer, Delivery, Job
from portal.services import assignment, generation, pools, sending
from portal.services.customers import CustomerData
from portal.services.links import voucher_url
from tests.conftest import postgres_schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request, tmp_path, smtp, monkeypatch):
    """(app, env): an app on a fresh database whose queue is the instance folder's
    SQLite file, and the environment a worker process needs to share both."""
    instance = tmp_path / "instance"
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(instance), "SECRET_KEY": "shared",
           "PUBLIC_BASE_URL": "http://portal.test", "JOB_LEASE_SECONDS": "2",
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_SECURITY": "none",
           "MAIL_FROM": "vouchers@shop.example", "QUEUE_STORAGE": "sqlite"}
    if request.param == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        options: dict = {}
        yield from _app(env, options, monkeypatch)
        return
    with postgres_schema("w") as (url, schema):
        env["DATABASE_URL"] = f"{url}?options=-csearch_path%3D{schema}"
        options = {"connect_args": {"options": f"-c search_path={schema}"}}
        yield from _app(env, options, monkeypatch, url)


def _app(env: dict, options: dict, monkeypatch, url: str | None = None):  # noqa: ANN001, ANN202
    for key in ("PORTAL_INSTANCE_PATH", "SMTP_HOST", "SMTP_PORT", "MAIL_FROM", "QUEUE_STORAGE",
                "PUBLIC_BASE_URL", "SMTP_SECURITY", "REDIS_URL", "QUEUE_NAME"):
        if key in env:
            monkeypatch.setenv(key, env[key])
    app = create_app({"SECRET_KEY": "shared", "SQLALCHEMY_DATABASE_URI": url or env["DATABASE_URL"],
                      "SQLALCHEMY_ENGINE_OPTIONS": options})
    with app.app_context():
        db.create_all()
        yield app, env
        db.session.remove()
        db.engine.dispose()


class Worker:
    def __init__(self, env: dict, log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "portal", "worker", "--threads", "2"],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait_for(condition, what: str, log: Path, seconds: float = 180) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen; worker log:\n{log.read_text()}"
        time.sleep(0.1)
        db.session.rollback()  # see the worker's commits


def finish_with_a_new_worker(env: dict, log: Path, job_id: int) -> None:
    worker = Worker(env, log)
    try:
        wait_for(lambda: job_state(job_id) == "done", "the rest of the send", log)
    finally:
        worker.stop()


def job_state(job_id: int) -> str:
    return db.session.get(Job, job_id, populate_existing=True).state


def sent_count(job_id: int) -> int:
    return sending.progress(job_id).sent


def test_worker_sends_a_campaign_to_1000_customers_with_mixed_consent(setup, smtp, tmp_path):
    app, env = setup
    pool_id = pools.create_pool("Thousand", benefit="2 for 1").id
    generation.generate_codes(pool_id, 1200)
    crowd = [CustomerData(customer_id=f"K{i:04d}", first_name=f"N{i}",
                          email=f"k{i}@example.com" if i % 10 else None,
                          email_consent=i % 4 != 3) for i in range(1000)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
    # A few already hold a code: they get that one.
    held = {c.customer_id: assignment.assign_code(pool_id, c).code for c in crowd[:20]}

    job, _ = queue.start_send(pool_id, "email")
    log = tmp_path / "worker.log"
    worker = Worker(env, log)
    try:
        wait_for(lambda: job_state(job.id) == "done", "the send", log)
    finally:
        worker.stop()

    expected = {c.email: c.customer_id for c in crowd if c.email and c.email_consent}
    messages = smtp.messages
    assert Counter(m["To"] for m in messages) == Counter(list(expected))
    codes = {row.customer_id: row for row in db.session.execute(
        select(Customer.external_id.label("customer_id"), Code.code, Code.id)
        .join(Code, Code.customer_id == Customer.id).where(Code.pool_id == pool_id))}
    for message in messages:
        code = codes[expected[message["To"]]]
        text = message.get_body(("plain",)).get_content()
        assert re.search(r"Your code: (\S+)", text).group(1) == code.code
        assert voucher_url(code.id) in text
    for customer_id, code in held.items():
        assert codes[customer_id].code == code
    # Codes went only to the customers who were sent one (and the 20 who held one).
    assert len(codes) == len(expected) + sum(1 for c in crowd[:20] if c.customer_id not in
                                             expected.values())
    report = sending.progress(job.id)
    assert (report.sent, report.skipped, report.failed) == (len(expected), 1000 - len(expected), 0)


def slow_campaign(name: str, prefix: str, n: int, smtp) -> tuple[int, list[CustomerData]]:  # noqa: ANN001
    """A pool with n consenting customers, and an SMTP server slow enough (10 ms a
    message) for a worker to be stopped in the middle of the send."""
    pool_id = pools.create_pool(name).id
    generation.generate_codes(pool_id, n + 100)
    crowd = [CustomerData(customer_id=f"{prefix}{i:04d}", email=f"{prefix}{i}@example.com",
                          email_consent=True) for i in range(n)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
    smtp.handler.delay = 0.01
    return pool_id, crowd


def test_two_workers_killed_during_a_four_connection_send_then_restarted_send_nobody_twice(
        setup, smtp, tmp_path):
    app, env = setup
    env = {**env, "SMTP_CONNECTIONS": "4"}
    pool_id, crowd = slow_campaign("Four lanes", "f", 400, smtp)

    job, _ = queue.start_send(pool_id, "email")
    log = tmp_path / "worker.log"
    workers = [Worker(env, log) for _ in range(2)]
    try:
        wait_for(lambda: sent_count(job.id) >= 80, "the first messages", log)
    finally:
        for worker in workers:
            worker.kill()
    assert job_state(job.id) == "running" and sent_count(job.id) < 400
    in_doubt = db.session.scalar(select(func.count()).select_from(Delivery)
                                 .where(Delivery.state == "sending"))
    assert in_doubt <= 4  # at most one message in the hands of each connection

    workers = [Worker(env, log) for _ in range(2)]
    try:
        wait_for(lambda: job_state(job.id) == "done", "the rest of the send", log)
    finally:
        for worker in workers:
            worker.stop()

    received = Counter(m["To"] for m in smtp.messages)
    assert max(received.values()) == 1, "a customer got the message twice"
    assert len(smtp.handler.peers) >= 4  # the messages came over several connections at once
    interrupted = {d.customer.email for d in db.session.scalars(
        select(Delivery).where(Delivery.reason == "interrupted"))}
    assert len(interrupted) == in_doubt
    assert set(received) | interrupted == {c.email for c in crowd}
    sent = {d.customer.email for d in db.session.scalars(select(Delivery).where(Delivery.state == "sent"))}
    assert sent <= set(received) and set(received) - sent <= interrupted


def test_worker_takes_jobs_from_redis(setup, smtp, tmp_path, monkeypatch):
    app, env = setup
    name = f"portal-test-{uuid.uuid4().hex[:8]}"
    env = {**env, "QUEUE_STORAGE": "redis", "REDIS_URL": "redis://127.0.0.1:6379/0", "QUEUE_NAME": name}
    app.config.update(QUEUE_STORAGE="redis", REDIS_URL=env["REDIS_URL"], QUEUE_NAME=name)
    queue.init_queue(app)
    try:
        pool_id = pools.create_pool("Shared queue").id
        generation.generate_codes(pool_id, 10)
        crowd = [CustomerData(customer_id=f"Z{i}", email=f"z{i}@example.com", email_consent=True)
                 for i in range(5)]
        assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
        job, _ = queue.start_send(pool_id, "email")
        assert queue.huey.pending_count() == 1  # on Redis, for any worker to take
        log = tmp_path / "worker.log"
        worker = Worker(env, log)
        try:
            wait_for(lambda: job_state(job.id) == "done", "the send", log)
        finally:
            worker.stop()
        assert sorted(m["To"] for m in smtp.messages) == sorted(c.email for c in crowd)
    finally:
        queue.huey.storage.flush_all()


def test_a_stopped_worker_hands_its_send_back_without_cutting_a_message(setup, smtp, tmp_path):
    app, env = setup
    pool_id, crowd = slow_campaign("Stopped", "g", 200, smtp)

    job, _ = queue.start_send(pool_id, "email")
    log = tmp_path / "worker.log"
    first = Worker(env, log)
    wait_for(lambda: sent_count(job.id) >= 30, "the first messages", log)
    first.stop()  # SIGTERM: a graceful stop
    assert first.process.returncode == 0
    db.session.rollback()
    assert job_state(job.id) == "queued"
    assert sent_count(job.id) < 200

    finish_with_a_new_worker(env, log, job.id)
    assert Counter(m["To"] for m in smtp.messages) == Counter(c.email for c in crowd)
    assert sending.progress(job.id).failed == 0
