"""API latency under gunicorn at concurrency 16, against the same server's /healthz.

    .venv/bin/python bench/api.py          # appends its section to bench/RESULTS.md

A PostgreSQL schema gets a pool of 1,000,000 codes (redeemable without assignment, so
no customers are needed); gunicorn serves the app with several workers; 16 client
threads with keep-alive connections call /healthz (the framework's floor), validate
and redeem (each redemption a different code). Medians and p99 are per request.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402

from bench.common import PG_URL, machine, wait_until_serving, write_section  # noqa: E402
from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Code  # noqa: E402
from portal.services import accounts, generation, pools  # noqa: E402

CONCURRENCY = 16
PER_THREAD = 250
CODES = 1_000_000
MARK = "<!-- api benchmark -->"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(port: int, make_request) -> list[float]:  # noqa: ANN001
    """Run PER_THREAD requests on each of CONCURRENCY threads; per-request seconds."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CONCURRENCY)

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        barrier.wait()
        for i in range(PER_THREAD):
            method, path, body, headers = make_request(index, i)
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            assert response.status in (200, 201), (path, response.status)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    server = None
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": PG_URL, "SECRET_KEY": "bench",
                          "SQLALCHEMY_ENGINE_OPTIONS": {
                              "connect_args": {"options": f"-c search_path={schema}"}}})
        with app.app_context():
            db.create_all()
            pool_id = pools.create_pool("Load", require_assignment=False).id
            generation.generate_codes(pool_id, CODES)
            codes = list(db.session.scalars(
                select(Code.code).where(Code.pool_id == pool_id).order_by(Code.id)
                .limit(CONCURRENCY * PER_THREAD * 2)))
            key = accounts.create_api_key("bench", "pos").secret
            db.session.remove()
            db.engine.dispose()

        port = 18000 + os.getpid() % 1000
        env = {**os.environ, "DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
               "SECRET_KEY": "bench", "RATELIMIT_ENABLED": "false"}
        workers = str(2 * (os.cpu_count() or 1) + 1)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", workers, "--threads", "4", "--bind",
             f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_serving(port)
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

        def health(_t: int, _i: int):
            return "GET", "/healthz", None, {}

        def ready(_t: int, _i: int):
            # The framework and one database round trip: what /healthz measured until it
            # stopped touching the database.
            return "GET", "/readyz?exclude=queue,worker", None, {}

        def validate(t: int, i: int):
            code = codes[t * PER_THREAD + i]
            return "POST", "/api/v1/redemptions/validate", json.dumps({"code": code}), auth

        def redeem(t: int, i: int):
            code = codes[CONCURRENCY * PER_THREAD + t * PER_THREAD + i]
            return "POST", "/api/v1/redemptions", json.dumps({"code": code}), auth

        load(port, health)  # warm up every worker's connections
        results = {name: load(port, fn) for name, fn in
                   (("healthz", health), ("readyz, database only", ready), ("validate", validate),
                    ("redeem", redeem))}
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    floor = statistics.median(results["healthz"])
    rows = []
    for name, values in results.items():
        median = statistics.median(values)
        rows.append(f"| {name} | {median * 1000:.2f} ms | {percentile(values, 0.99) * 1000:.2f} ms | "
                    f"{median / floor:.2f}× |")
    ratio = statistics.median(results["redeem"]) / floor
    ratio_db = statistics.median(results["redeem"]) / statistics.median(results["readyz, database only"])
    section = "\n".join([
        MARK,
        "## API under gunicorn",
        "",
        f"`bench/api.py`: gunicorn with {workers} workers of 4 threads each on PostgreSQL, a pool of "
        f"{CODES:,} codes, {CONCURRENCY} client threads × {PER_THREAD} requests each with "
        f"keep-alive, on {machine()}. Rate limits off.",
        "",
        "| request | median | p99 | median vs /healthz |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Target: redeem median within 3× of /healthz — {ratio:.2f}×, "
        f"{'met' if ratio <= 3 else 'missed'}. `/healthz` touches nothing but the process since "
        f"2026-11-30 (it is the liveness check); against `/readyz?exclude=queue,worker`, the "
        f"framework and one database round trip (what `/healthz` was before), redeem is "
        f"{ratio_db:.2f}×.",
        "",
    ])
    print(section)
    write_section(MARK, section)


if __name__ == "__main__":
    main()
