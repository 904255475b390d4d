"""Redemptions at the till while a two-million-line import runs, on SQLite.

    .venv/bin/python bench/availability.py            # writes its section of bench/RESULTS.md
    .venv/bin/python bench/availability.py --lines 200000   # a quicker look

`portal serve` runs on a fresh SQLite database with a pool of redeemable codes. Four
client threads (four tills) redeem a different code every 100 ms each over HTTP, first
for a while with nothing else going on (the baseline), then for the whole of a
`portal import-codes` of a two-million-line file started from the command line. Every
answer other than 201 counts as a failure; latencies are per request, as a till waits.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.common import machine, wait_until_serving, write_section  # noqa: E402
from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Code  # noqa: E402
from portal.services import accounts, generation, pools  # noqa: E402

TILLS = 4
EVERY = 0.1  # seconds between one till's redemptions
BASELINE_SECONDS = 20
MARK = "<!-- availability benchmark -->"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Tills:
    """TILLS threads redeeming codes over HTTP until told to stop."""

    def __init__(self, port: int, key: str, codes: list[str]) -> None:
        self.port, self.codes = port, iter(codes)
        self.auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run_until(self, done: threading.Event | None = None, seconds: float | None = None) -> None:
        self.stop.clear()
        threads = [threading.Thread(target=self._till) for _ in range(TILLS)]
        for thread in threads:
            thread.start()
        if seconds is not None:
            time.sleep(seconds)
        else:
            done.wait()
        self.stop.set()
        for thread in threads:
            thread.join()

    def _till(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while not self.stop.is_set():
            with self.lock:
                code = next(self.codes)
            start = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/redemptions", body=json.dumps({"code": code}),
                             headers=self.auth)
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except OSError as exc:
                status, body = 0, repr(exc).encode()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            took = time.perf_counter() - start
            with self.lock:
                self.latencies.append(took)
                if status != 201:
                    self.failures.append(f"{status}: {body[:200]!r}")
            time.sleep(max(0.0, EVERY - took))


def summary(latencies: list[float]) -> tuple[float, float, float]:
    return statistics.median(latencies), percentile(latencies, 0.99), max(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-availability-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{work / 'portal.sqlite3'}",
           "PORTAL_INSTANCE_PATH": str(work / "instance"), "SECRET_KEY": "bench",
           "RATELIMIT_ENABLED": "false", "PORTAL_ADMIN_PASSWORD": "bench-password-1"}
    subprocess.run([sys.executable, "-m", "portal", "init"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    os.environ["PORTAL_INSTANCE_PATH"] = env["PORTAL_INSTANCE_PATH"]
    app = create_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "SECRET_KEY": "bench"})
    with app.app_context():
        pool_id = pools.create_pool("Till", require_assignment=False).id
        generation.generate_codes(pool_id, 50_000)
        codes = list(db.session.scalars(select(Code.code).where(Code.pool_id == pool_id)))
        target = pools.create_pool("Partner file").id
        key = accounts.create_api_key("bench", "pos").secret
        db.session.remove()
        db.engine.dispose()
    path = work / "partner.csv"
    with path.open("w") as out:
        out.write("code\n")
        for i in range(args.lines):
            out.write(f"PARTNER{(i * 7919) % args.lines:09d}\n")  # not in sorted order

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "portal", "serve", "--port", str(port),
                               "--no-worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port)
        tills = Tills(port, key, codes)
        tills.run_until(seconds=BASELINE_SECONDS)
        idle, idle_failures = tills.latencies, tills.failures
        tills.latencies, tills.failures = [], []

        finished = threading.Event()
        started = time.perf_counter()
        importer = subprocess.Popen([sys.executable, "-m", "portal", "import-codes", str(target),
                                     str(path)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
        threading.Thread(target=lambda: (importer.wait(), finished.set()), daemon=True).start()
        tills.run_until(finished)
        import_seconds = time.perf_counter() - started
        output = importer.stdout.read().decode()
        busy, busy_failures = tills.latencies, tills.failures
    finally:
        server.terminate()
        server.wait()
    if importer.returncode != 0 or f"imported: {args.lines:,}" not in output:
        raise SystemExit(f"the import failed:\n{output}")

    i_med, i_p99, i_max = summary(idle)
    b_med, b_p99, b_max = summary(busy)
    rows = [
        f"| no import running (baseline) | {len(idle):,} | {len(idle_failures)} | "
        f"{i_med * 1000:.1f} ms | {i_p99 * 1000:.1f} ms | {i_max * 1000:.0f} ms |",
        f"| during the import | {len(busy):,} | {len(busy_failures)} | {b_med * 1000:.1f} ms | "
        f"{b_p99 * 1000:.1f} ms | {b_max * 1000:.0f} ms |",
    ]
    met = "met" if not busy_failures and b_p99 < 1.0 else "NOT met"
    section = f"""{MARK}
## Redeeming while a large import runs (SQLite)

`bench/availability.py`: `portal serve` on SQLite; {TILLS} tills each redeem a different
code over the API every {EVERY * 1000:.0f} ms, first for {BASELINE_SECONDS} s alone, then during
`portal import-codes` of a {args.lines:,}-line file (codes in no particular order) into
another pool, which took {import_seconds:.1f} s end to end. On {machine()}.

| tills redeeming | requests | failed | median | p99 | slowest |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Target: no redemption fails and p99 stays under 1 s during the import: {met}
(p99 {b_p99 / i_p99:.1f}× the idle p99). Before imports were written in steps, the
import held SQLite's write lock for its whole transaction and a redemption waited out
the 30 s busy timeout and failed.
"""
    write_section(MARK, section)
    print(section)
    if busy_failures:
        print("failures:", *busy_failures[:10], sep="\n  ")


if __name__ == "__main__":
    main()
