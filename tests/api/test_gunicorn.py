"""Several gunicorn workers on PostgreSQL, concurrent redemptions of the same codes over
HTTP: each code is redeemed exactly once and the counts still match the codes. And a loud
warning when several workers would each keep their own rate limits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import Redemption
from portal.services import accounts, assignment, generation, pools
from portal.services.customers import CustomerData
from tests.conftest import postgres_schema
from tests.helpers import kept_counts, real_counts

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(env: dict, workers: int, log: Path) -> Iterator[str]:
    """gunicorn serving wsgi:app from the project folder, as the README runs it; yields its
    base URL once /healthz answers, and writes its error log to `log`."""
    port = free_port()
    with log.open("wb") as errors:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "4",
             "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                        break
                except requests.RequestException:  # not listening yet, or a busy machine
                    pass
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def pg_schema():
    with postgres_schema("g") as found:
        yield found


def test_concurrent_redemptions_through_gunicorn_workers(pg_schema, tmp_path):
    url, schema = pg_schema
    options = {"connect_args": {"options": f"-c search_path={schema}"}}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options,
                      "SECRET_KEY": "shared"})
    with app.app_context():
        db.create_all()
        pool_id = pools.create_pool("Rush").id
        generation.generate_codes(pool_id, 60)
        codes = [assignment.assign_code(pool_id, CustomerData(customer_id=f"R{i}")).code
                 for i in range(40)]
        key = accounts.create_api_key("tills", "pos").secret
        db.session.remove()

    env = {**os.environ, "DATABASE_URL": f"{url}?options=-csearch_path%3D{schema}",
           "SECRET_KEY": "shared", "RATELIMIT_ENABLED": "false",
           "PORTAL_INSTANCE_PATH": str(tmp_path / "instance")}
    with gunicorn(env, 4, tmp_path / "gunicorn.log") as base:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {key}"}

        def redeem(code: str) -> int:
            return session.post(f"{base}/api/v1/redemptions", json={"code": code},
                                headers=headers, timeout=30).status_code

        attempts = [code for code in codes for _ in range(6)]  # six tills per code
        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(pool.map(redeem, attempts))

    assert statuses.count(201) == len(codes)
    assert statuses.count(409) == len(attempts) - len(codes)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == len(codes)
        assert kept_counts(pool_id) == real_counts(pool_id) == {
            "available": 20, "assigned": 0, "redeemed": 40, "canceled": 0}
        db.engine.dispose()


@pytest.mark.parametrize("workers, redis, warned", [
    (2, False, True), (2, True, False), (1, False, False)])
def test_workers_that_cannot_share_rate_limits_are_warned_about(tmp_path, workers, redis, warned):
    """Without Redis, each worker counts guesses on its own: gunicorn says so at start-up."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "RATELIMIT_ENABLED", "QUEUE_STORAGE")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}", SECRET_KEY="shared",
               PORTAL_INSTANCE_PATH=str(tmp_path / "instance"))
    if redis:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    log = tmp_path / "gunicorn.log"
    with gunicorn(env, workers, log):
        pass
    lines = [line for line in log.read_text().splitlines() if "REDIS_URL" in line]
    if warned:
        assert len(lines) == 1 and "[WARNING]" in lines[0], log.read_text()
        assert f"{workers} worker processes" in lines[0]
    else:
        assert lines == [], log.read_text()
