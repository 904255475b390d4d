"""Large uploads go to a worker: the page follows the job, and the file is applied once,
all of it or none of it."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import queue
from portal.extensions import db
from portal.models import Audience, Code, ImportBatch, Job, utcnow
from portal.services import generation, jobs, pools
from portal.services.tx import write_transaction
from tests.helpers import run_queue


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "BACKGROUND_FILE_BYTES": 100}


def codes_file(n: int) -> bytes:
    return b"code\n" + b"".join(b"BIGFILE%05d\n" % i for i in range(n))


def upload(client, pool_id: int, body: bytes, **extra):  # noqa: ANN001, ANN003
    return client.post(f"/pools/{pool_id}/codes/import",
                       data={"file": (io.BytesIO(body), "partner.csv"), **extra},
                       content_type="multipart/form-data")


def test_a_large_import_runs_in_the_background_and_reports_when_done(htmx, as_role, app):
    pool_id = pools.create_pool("Big").id
    answer = upload(htmx, pool_id, codes_file(50) + b"bad code!\n")
    assert answer.status_code == 202
    assert "in the background" in answer.text and 'hx-trigger="every 1s"' in answer.text
    job = db.session.scalars(select(Job)).one()
    assert pools.counts(pool_id).available == 0

    running = htmx.get(f"/pools/{pool_id}/jobs/{job.id}")
    assert running.status_code == 200 and "waiting for a worker" in running.text

    run_queue()
    done = htmx.get(f"/pools/{pool_id}/jobs/{job.id}")
    assert done.status_code == 286
    assert "<strong>50</strong> codes imported, <strong>1</strong> line left out" in done.text
    assert 'id="pool-counts"' in done.text and "hx-swap-oob" in done.text
    assert pools.counts(pool_id).available == 50
    assert not list((Path(app.instance_path) / "uploads").iterdir())  # the upload is cleaned up
    # Without JavaScript, the stage page shows the same result.
    page = as_role("marketer").get(f"/pools/{pool_id}/codes?job={job.id}")
    assert "<strong>50</strong> codes imported" in page.text


def test_a_malformed_large_file_fails_and_changes_nothing(htmx, app):
    pool_id = pools.create_pool("Broken").id
    upload(htmx, pool_id, b"\x00\x01\x02binary" * 50)
    run_queue()
    job = db.session.scalars(select(Job)).one()
    assert job.state == "failed"
    answer = htmx.get(f"/pools/{pool_id}/jobs/{job.id}")
    assert answer.status_code == 286 and "was not applied" in answer.text
    assert db.session.scalar(select(func.count()).select_from(Code)) == 0
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_a_file_job_is_applied_once_even_when_run_again(htmx, app):
    pool_id = pools.create_pool("Twice").id
    upload(htmx, pool_id, codes_file(30))
    job = db.session.scalars(select(Job)).one()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # A worker died holding the job before its transaction committed: nothing applied.
    with write_transaction() as session:
        row = session.get(Job, job.id)
        row.state, row.worker = "running", f"{socket.gethostname()}:{gone.pid}"
        row.heartbeat_at = utcnow()
    queue.recover_jobs()
    run_queue()
    queue.run_job.call_local(job.id)  # a duplicate of the queue message
    assert pools.counts(pool_id).available == 30
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 1


def test_a_large_customer_list_can_wait_for_the_send(htmx, as_role, app):
    pool_id = pools.create_pool("Later").id
    generation.generate_codes(pool_id, 10)
    body = b"customer_id,email,email_consent\n" + b"".join(
        b"L%03d,l%d@example.com,yes\n" % (i, i) for i in range(12))
    answer = htmx.post(f"/pools/{pool_id}/customers/upload",
                       data={"file": (io.BytesIO(body), "list.csv"), "when": "send"},
                       content_type="multipart/form-data")
    assert answer.status_code == 202
    run_queue()
    job = db.session.scalars(select(Job)).one()
    done = htmx.get(f"/pools/{pool_id}/jobs/{job.id}")
    assert "<strong>12</strong> added to the campaign" in done.text
    assert db.session.scalar(select(func.count()).select_from(Audience)) == 12
    assert pools.counts(pool_id).assigned == 0
    # Stage 3 counts as done: the customers are in, their codes come with the send.
    stepper = as_role("marketer").get(f"/pools/{pool_id}/channels").text
    assert re.search(r'Stage 3:</span>\s*<span class="step-label">Customers</span>\s*'
                     r'<span class="visually-hidden">\(done\)', stepper)


def test_small_uploads_still_answer_at_once(htmx, app):
    app.config["BACKGROUND_FILE_BYTES"] = 10_000
    pool_id = pools.create_pool("Small").id
    answer = upload(htmx, pool_id, codes_file(5))
    assert answer.status_code == 200 and "<strong>5</strong> codes imported" in answer.text
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_run_taken_over_by_a_recovery_applies_nothing(htmx, app):
    """A run that looked dead (silent too long) is taken over; when the first run gets to
    its commit after all, it finds the job is no longer its own and rolls back."""
    from datetime import timedelta

    from portal.services import assignment
    from portal.services.errors import Conflict

    pool_id = pools.create_pool("Twice over", per_customer_limit=2).id
    generation.generate_codes(pool_id, 80)
    body = b"customer_id\n" + b"".join(b"CUSTOMER%03d\n" % i for i in range(20))
    htmx.post(f"/pools/{pool_id}/customers/upload",
              data={"file": (io.BytesIO(body), "list.csv"), "when": "now"},
              content_type="multipart/form-data")
    job = db.session.scalars(select(Job)).one()
    slow = jobs.begin_file(job.id, "elsewhere.example:4242")  # a worker on another machine
    with write_transaction() as session:
        session.get(Job, job.id).heartbeat_at = utcnow() - timedelta(days=1)
    assert queue.recover_jobs() == [job.id]
    run_queue()  # the takeover applies the list
    assert pools.counts(pool_id).assigned == 20
    with open(slow.path, "wb") as again:
        again.write(body)
    with pytest.raises(Conflict) as info, open(slow.path, "rb") as stream:
        assignment.assign_file(pool_id, stream, job=slow.claim)
    assert info.value.reason == "job_taken_over"
    assert pools.counts(pool_id).assigned == 20  # not 40
    assert db.session.get(Job, job.id).state == "done"


def test_a_large_customer_list_shows_how_far_it_has_got(htmx, app, monkeypatch):
    """While a list is checked the page shows a bar that moves (lines checked of about how
    many); then that the codes are being given out; then the result."""
    from portal.services.assignment import lists

    pool_id = pools.create_pool("Progress").id
    generation.generate_codes(pool_id, 3000)
    body = b"customer_id,email\n" + b"".join(b"P%05d,p%d@example.com\n" % (i, i) for i in range(2500))
    htmx.post(f"/pools/{pool_id}/customers/upload", data={"file": (io.BytesIO(body), "list.csv"),
                                                          "when": "now"},
              content_type="multipart/form-data")
    job = db.session.scalars(select(Job)).one()
    seen = []
    real = jobs.report_progress

    def watched(held, **progress):  # noqa: ANN001, ANN003
        answer = real(held, **progress)
        db.session.remove()
        seen.append((progress, htmx.get(f"/pools/{pool_id}/jobs/{job.id}").text))
        return answer

    monkeypatch.setattr(lists, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(jobs, "report_progress", watched)
    run_queue()
    assert [p for p, _ in seen] == [{"phase": "checking", "done": 1000, "total": 2500},
                                    {"phase": "checking", "done": 2000, "total": 2500},
                                    {"phase": "assigning", "done": 2500, "total": 2500}]
    assert '<progress max="2500" value="1000"' in seen[0][1]
    assert "Checked 1,000 of about 2,500 lines" in seen[0][1]
    assert "giving out the codes now" in seen[2][1]
    db.session.remove()
    assert db.session.get(Job, job.id).state == "done"
    assert pools.counts(pool_id).assigned == 2500
