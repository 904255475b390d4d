"""Keeping pools filled, against a real HTTP server, a real folder and the queue: each
batch imported once, failures changing nothing and alerting once, top-ups once per
crossing within their cap."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Alert, Code, ImportBatch, Replenishment, utcnow
from portal.services import assignment, generation, pools, replenishment
from portal.services.customers import CustomerData
from portal.services.errors import InvalidInput
from portal.services.tx import write_transaction
from tests.helpers import run_queue
from tests.servers import FileServer


@pytest.fixture
def drop(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def app_config(drop):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "DROP_FOLDER": str(drop), "DROP_SETTLE_SECONDS": 30, "REPLENISH_TIMEOUT": 1.0,
            # The partner's test server is on this machine: an admin allows loopback.
            "REPLENISH_ALLOWED_NETWORKS": "127.0.0.0/8"}


@pytest.fixture
def files():
    server = FileServer()
    yield server
    server.close()


def batch(prefix: str, n: int) -> bytes:
    return b"code\n" + b"".join(b"%s%05d\n" % (prefix.encode(), i) for i in range(n))


def count(model) -> int:  # noqa: ANN001
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_new_batch_is_imported_once_and_an_unchanged_file_is_not(app, files):
    pool_id = pools.create_pool("Partner").id
    files.body = batch("PARTNERA", 30)
    replenishment.configure(pool_id, url=files.url, every_hours=6)

    (first,) = replenishment.run_now(pool_id)
    assert (first.outcome, first.imported) == ("imported", 30)
    (again,) = replenishment.run_now(pool_id)
    assert again.outcome == "unchanged"
    assert files.requests[-1]["If-None-Match"]  # asked whether it changed: 304
    files.etag = False  # a server without ETags: the content itself is recognised
    (third,) = replenishment.run_now(pool_id)
    assert third.outcome == "unchanged"
    files.body = batch("PARTNERB", 20)
    (fourth,) = replenishment.run_now(pool_id)
    assert (fourth.outcome, fourth.imported) == ("imported", 20)
    assert pools.counts(pool_id).available == 50 and count(ImportBatch) == 2
    assert [r.outcome for r in replenishment.history(pool_id)] == [
        "imported", "unchanged", "unchanged", "imported"]


def test_credentials_are_sent_and_never_stored_in_the_clear(app, files):
    pool_id = pools.create_pool("Locked").id
    files.body, files.token = batch("LOCKED", 5), "partner-token-123"
    replenishment.configure(pool_id, url=files.url, bearer_token="partner-token-123")
    assert replenishment.run_now(pool_id)[0].outcome == "imported"
    row = db.session.get(Replenishment, pool_id)
    assert "partner-token-123" not in (row.bearer_token_enc or "")

    files.token, files.basic = None, ("shop", "pa55")
    files.body = batch("BASIC", 5)
    replenishment.configure(pool_id, bearer_token="", username="shop", password="pa55")
    assert replenishment.run_now(pool_id)[0].outcome == "imported"
    replenishment.configure(pool_id, password="wrong")
    files.body = batch("BASICB", 5)
    failed = replenishment.run_now(pool_id)[0]
    assert failed.outcome == "failed" and "401" in failed.error


def test_failures_change_nothing_and_alert_once(app, files):
    pool_id = pools.create_pool("Flaky").id
    generation.generate_codes(pool_id, 5)
    replenishment.configure(pool_id, url=files.url)
    files.status = 500
    assert replenishment.run_now(pool_id)[0].outcome == "failed"
    assert replenishment.run_now(pool_id)[0].outcome == "failed"
    files.status, files.body = 200, b"\x00\x01binary\x02" * 20
    broken = replenishment.run_now(pool_id)[0]
    assert broken.outcome == "failed" and "binary" in broken.error.lower()
    assert [a.kind for a in db.session.scalars(select(Alert))] == ["replenish"]  # once
    assert pools.counts(pool_id).total == 5 and count(ImportBatch) == 1

    files.body = batch("GOOD", 3)
    assert replenishment.run_now(pool_id)[0].outcome == "imported"  # re-arms
    files.status = 500
    replenishment.run_now(pool_id)
    assert count(Alert) == 2


def test_a_server_that_hangs_times_out_and_changes_nothing(app, files):
    pool_id = pools.create_pool("Slow").id
    files.body, files.delay = batch("SLOW", 5), 3
    replenishment.configure(pool_id, url=files.url)
    run = replenishment.run_now(pool_id)[0]
    assert run.outcome == "failed" and "Timeout" in run.error
    assert pools.counts(pool_id).total == 0


def test_the_schedule_runs_when_due_and_two_workers_import_once(app, files):
    pool_id = pools.create_pool("Scheduled").id
    files.body = batch("SCHED", 40)
    replenishment.configure(pool_id, url=files.url, daily_at="06:30")
    rep = replenishment.get(pool_id)
    assert (rep.next_run_at.hour, rep.next_run_at.minute) == (6, 30)
    assert replenishment.run_due() == []  # not due yet

    with write_transaction() as session:
        session.get(Replenishment, pool_id).next_run_at = utcnow() - timedelta(minutes=1)
    outcomes, errors = [], []

    def worker() -> None:
        with app.app_context():
            try:
                outcomes.extend(run.outcome for run in replenishment.run_due())
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and outcomes == ["imported"]
    assert count(ImportBatch) == 1 and pools.counts(pool_id).available == 40
    # The schedule moved on to the next 06:30 (whatever the time of day the test runs at).
    after = replenishment.get(pool_id).next_run_at
    now = utcnow()
    assert now < after <= now + timedelta(days=1) and (after.hour, after.minute) == (6, 30)


def test_drop_folder_waits_for_a_complete_file(app, drop):
    pool_id = pools.create_pool("Dropped").id
    replenishment.configure(pool_id, drop_folder=True)
    half = drop / f"pool-{pool_id}-monday.csv"
    half.write_bytes(batch("DROPA", 10)[:30])  # still being written: fresh mtime
    assert replenishment.run_now(pool_id) == []
    assert half.exists() and pools.counts(pool_id).total == 0

    half.write_bytes(batch("DROPA", 10))
    settled = time.time() - 60
    os.utime(half, (settled, settled))  # nothing written for a minute: complete
    (run,) = replenishment.run_now(pool_id)
    assert (run.outcome, run.imported) == ("imported", 10)
    assert not half.exists() and (drop / "processed" / half.name).exists()
    report = (drop / "processed" / f"{half.name}.report.txt").read_text()
    assert "imported: 10" in report

    marked = drop / f"pool-{pool_id}-tuesday.csv"
    marked.write_bytes(batch("DROPB", 4) + b"bad!\n")
    (drop / f"{marked.name}.done").write_text("")
    (run,) = replenishment.run_now(pool_id)  # the marker says complete, at once
    assert (run.outcome, run.imported, run.rejected) == ("imported", 4, 1)
    assert "invalid_characters" in (drop / "processed" / f"{marked.name}.report.txt").read_text()
    assert not (drop / f"{marked.name}.done").exists()
    secret = drop.parent / "not-for-import.txt"
    secret.write_text("code\nSECRETVALUE1\n")
    (drop / f"pool-{pool_id}-link.csv").symlink_to(secret)
    assert replenishment.run_now(pool_id) == []  # a symbolic link is never followed
    other = drop / "pool-999-x.csv"
    other.write_bytes(batch("OTHER", 3))
    os.utime(other, (settled, settled))
    assert replenishment.run_now(pool_id) == [] and other.exists()  # another pool's file


def test_a_broken_dropped_file_goes_to_failed_and_alerts_once(app, drop):
    pool_id = pools.create_pool("Broken drop").id
    replenishment.configure(pool_id, drop_folder=True)
    settled = time.time() - 60
    for name in ("a", "b"):
        path = drop / f"pool-{pool_id}-{name}.csv"
        path.write_bytes(b"\xff\xfe\x00binary" * 10)
        os.utime(path, (settled, settled))
    runs = replenishment.run_now(pool_id)
    assert [r.outcome for r in runs] == ["failed", "failed"]
    assert sorted(p.name for p in (drop / "failed").iterdir()) == [
        f"pool-{pool_id}-a.csv", f"pool-{pool_id}-a.csv.report.txt",
        f"pool-{pool_id}-b.csv", f"pool-{pool_id}-b.csv.report.txt"]
    assert count(Alert) == 1 and count(Code) == 0


def test_drop_folder_needs_the_server_setting(app):
    app.config["DROP_FOLDER"] = ""
    pool_id = pools.create_pool("No folder").id
    with pytest.raises(InvalidInput) as info:
        replenishment.configure(pool_id, drop_folder=True)
    assert (info.value.reason, info.value.details["field"]) == ("drop_folder_not_configured", "drop_folder")


def take(pool_id: int, n: int, start: int) -> None:
    for i in range(start, start + n):
        assignment.assign_code(pool_id, CustomerData(customer_id=f"T{i}"))


def test_top_up_fires_once_per_crossing_and_respects_the_cap(app):
    pool_id = pools.create_pool("Top", low_stock_threshold=10).id
    generation.generate_codes(pool_id, 15, generation.Spec(pattern="TOP-######"))
    replenishment.configure(pool_id, top_up_count=20, top_up_cap=40)

    take(pool_id, 6, 0)  # 9 available: below 10, one crossing
    run_queue()  # the worker answers the crossing
    assert pools.counts(pool_id).available == 29
    assert all(c.startswith("TOP-") for c in db.session.scalars(select(Code.code)))
    replenishment.run_due()
    run_queue()
    assert pools.counts(pool_id).total == 35  # nothing more for the same crossing

    take(pool_id, 20, 6)  # 9 available again: the second crossing, 5 left under the cap
    run_queue()
    assert pools.counts(pool_id).total == 40 and pools.counts(pool_id).available == 14
    take(pool_id, 5, 26)  # 9: the third crossing, the cap is reached
    run_queue()
    assert pools.counts(pool_id).total == 40
    assert [(r.source, r.outcome) for r in replenishment.history(pool_id)] == [
        ("top_up", "skipped"), ("top_up", "generated"), ("top_up", "generated")]
