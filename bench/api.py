"""API latency under gunicorn at concurrency 16, against the same server's /healthz.

    apt-get install -y wrk                 # once: the independent load generator
    .venv/bin/python bench/api.py          # appends its section to bench/RESULTS.md

A PostgreSQL schema gets a pool of 1,000,000 codes (redeemable without assignment, so
no customers are needed); gunicorn serves the app with several workers; 16 client
threads with keep-alive connections call /healthz (the framework's floor), validate
and redeem (each redemption a different code). Medians and p99 are per request.

Then `wrk` (a load generator in C, so the client's own cost is small) does the same
with 16 connections for a fixed time: /healthz, the one-query floor, and redeem, whose
Lua script (bench/wrk/redeem.lua) walks a list of codes, one different code per request.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
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
WRK_SECONDS = 15
WRK_THREADS = 2
WRK_CODES = 200_000  # more than wrk can redeem in WRK_SECONDS here
MARK = "<!-- api benchmark -->"
LUA = ROOT / "bench" / "wrk" / "redeem.lua"
# `--app-dir DIR` serves another checkout's app (an earlier commit, say) under the same
# bench, for a before-and-after in one sitting; its figures are printed, not written.
APP_DIR = Path(sys.argv[sys.argv.index("--app-dir") + 1]) if "--app-dir" in sys.argv else ROOT


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


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by gunicorn's master and its workers (from /proc)."""
    total = 0
    for task in [pid, *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def wrk(port: int, path: str, *script_args: str, server_pid: int | None = None) -> dict:
    """One wrk run of WRK_SECONDS at CONCURRENCY connections: median, p99, requests/s,
    and how many answers were not 2xx."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONCURRENCY}", f"-d{WRK_SECONDS}s", "--timeout", "10s",
               "--latency"]
    if script_args:
        command += ["-s", str(LUA)]
    command += [f"http://127.0.0.1:{port}{path}"]
    if script_args:
        command += ["--", *script_args]
    cpu = server_cpu(server_pid) if server_pid else 0.0
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    cpu = server_cpu(server_pid) - cpu if server_pid else 0.0
    found = {"median": _milliseconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
             "p99": _milliseconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
             "rate": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))}
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    found["failed"] = int(failed.group(1)) if failed else 0
    found["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    found["cpu_ms"] = cpu * 1000 / max(found["requests"], 1)
    # connect, read, write and timeout errors (a request over 10 s counts as one)
    found["errors"] = sum(int(n) for n in re.findall(r"\d+", errors.group(1))) if errors else 0
    return found


def main() -> None:
    load_average = os.getloadavg()
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
                .limit(CONCURRENCY * PER_THREAD * 2 + WRK_CODES)))
            key = accounts.create_api_key("bench", "pos").secret
            db.session.remove()
            db.engine.dispose()

        port = 18000 + os.getpid() % 1000
        env = {**os.environ, "DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
               "SECRET_KEY": "bench", "RATELIMIT_ENABLED": "false"}
        workers = str(2 * (os.cpu_count() or 1) + 1)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", workers, "--threads", "4", "--bind",
             f"127.0.0.1:{port}", "wsgi:app"], cwd=APP_DIR, env=env,
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
        by_wrk = {}
        if shutil.which("wrk"):
            with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
                listing.write("\n".join(codes[CONCURRENCY * PER_THREAD * 2:]) + "\n")
                listing.flush()
                by_wrk["healthz"] = wrk(port, "/healthz", server_pid=server.pid)
                by_wrk["readyz, database only"] = wrk(port, "/readyz?exclude=queue,worker",
                                                      server_pid=server.pid)
                by_wrk["redeem"] = wrk(port, "/api/v1/redemptions", listing.name, key, str(WRK_THREADS),
                                       server_pid=server.pid)
                for name, found in by_wrk.items():
                    print("wrk", name, found, flush=True)
        with app.app_context():
            redeemed = db.session.scalar(text("SELECT count(*) FROM code WHERE status = 'redeemed'"))
            twice = db.session.scalar(text(
                "SELECT count(*) FROM (SELECT code_id FROM redemption GROUP BY code_id"
                " HAVING count(*) > 1) t"))
            db.session.remove()
            db.engine.dispose()
        assert twice == 0, f"{twice} codes redeemed twice"
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
    wrk_lines = ["`wrk` was not installed (`apt-get install -y wrk`): no independent figures."]
    if by_wrk:
        wrk_floor = by_wrk["healthz"]["median"]
        wrk_ratio = by_wrk["redeem"]["median"] / wrk_floor
        wrk_ratio_db = by_wrk["redeem"]["median"] / by_wrk["readyz, database only"]["median"]
        wrk_lines = [
            f"`wrk` {WRK_THREADS} threads, {CONCURRENCY} connections, {WRK_SECONDS} s each; redeem "
            "through bench/wrk/redeem.lua, a different code per request:",
            "",
            "| request | median | p99 | requests/s | not 2xx | socket errors | gunicorn CPU per request "
            "| median vs /healthz |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            *(f"| {name} | {f['median']:.2f} ms | {f['p99']:.2f} ms | {f['rate']:,.0f} | {f['failed']} | "
              f"{f['errors']} | {f['cpu_ms']:.2f} ms | {f['median'] / wrk_floor:.2f}× |"
              for name, f in by_wrk.items()),
            "",
            f"With wrk, redeem is {wrk_ratio:.2f}× /healthz "
            f"({'met' if wrk_ratio <= 3 else 'missed'}) and {wrk_ratio_db:.2f}× the one-query floor.",
        ]
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
        *wrk_lines,
        "",
        f"After the run: {redeemed:,} codes redeemed, none twice. Load average "
        f"{load_average[0]:.2f} at the start.",
        "",
    ])
    print(section)
    if APP_DIR == ROOT and "--no-write" not in sys.argv:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
