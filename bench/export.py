"""The CSV exports of a 1,000,000-code pool against `psql \\copy` of the same rows.

    .venv/bin/python bench/export.py     # needs bench/pages.py's data set; builds it if missing

Uses the data set of bench/pages.py (pool 1: 1,000,000 codes, 600,000 given out). Each
run is a fresh process that signs in and downloads the export through Flask's test
client, reading the streamed body chunk by chunk and throwing it away; it reports the
time and its peak resident memory (ru_maxrss), beside its memory before the download.
`psql \\copy` of the same columns in the same order to /dev/null is the baseline, run
alternately with the portal's, 3 runs each, medians.

Two exports: the code browser's `codes.csv` (every code with status and holder), and
stage 4's `export.csv` (every code given out, with the customer, the voucher link and the
link to all their vouchers, whose signed tokens psql cannot make: its baseline copies
the same rows without the links).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PG_URL, machine, write_section  # noqa: E402

RUNS = 3
MARK = "<!-- export benchmark -->"
TARGET = 5.0
# psql's side of each export: the same rows, columns and order.
COPY = {
    "codes.csv": (
        "SELECT code.code, code.status, customer.external_id, code.assigned_at, code.redeemed_at,"
        " code.expires_at FROM {s}.code LEFT JOIN {s}.customer ON customer.id = code.customer_id"
        " WHERE code.pool_id = 1 ORDER BY code.id"),
    "export.csv": (
        "SELECT customer.external_id, customer.first_name, customer.email, customer.phone, code.code,"
        " code.id, coalesce(code.expires_at, pool.valid_until), code.status, customer.id"
        " FROM {s}.code JOIN {s}.customer ON customer.id = code.customer_id"
        " JOIN {s}.pool ON pool.id = code.pool_id WHERE code.pool_id = 1"
        " AND code.status IN ('assigned', 'redeemed') ORDER BY code.id"),
}


def one_download(name: str) -> None:
    """In this process: sign in, download the export, print time, bytes and memory."""
    from bench.pages import EMAIL, PASSWORD, make_app

    app = make_app()
    client = app.test_client()
    assert client.post("/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 302
    client.get("/pools/1")  # the app and its connections warm, as a serving worker's are
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    response = client.get(f"/pools/1/{name}", buffered=False)
    assert response.status_code == 200
    size = lines = 0
    for chunk in response.response:
        size += len(chunk)
        lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    response.close()
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": took, "bytes": size, "lines": lines, "rss_before_kb": before,
                      "rss_peak_kb": peak}))


def portal_run(name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", name], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def psql_run(name: str) -> float:
    from bench.pages import SCHEMA

    sql = COPY[name].format(s=SCHEMA)
    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    start = time.perf_counter()
    subprocess.run(["psql", url, "-q", "-c", f"\\copy ({sql}) TO '/dev/null' WITH (FORMAT csv, HEADER)"],
                   check=True)
    return time.perf_counter() - start


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        one_download(sys.argv[2])
        return
    from sqlalchemy import create_engine

    from bench import pages

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    if not pages.built(admin):
        print("building bench/pages.py's data set…", flush=True)
        pages.build(admin)
    admin.dispose()
    load = os.getloadavg()
    rows = []
    verdicts = []
    for name in COPY:
        ours, theirs = [], []
        for _ in range(RUNS):
            ours.append(portal_run(name))
            theirs.append(psql_run(name))
            print(name, ours[-1], f"psql {theirs[-1]:.2f} s", flush=True)
        seconds = statistics.median(r["seconds"] for r in ours)
        floor = statistics.median(theirs)
        before = statistics.median(r["rss_before_kb"] for r in ours) / 1024
        peak = statistics.median(r["rss_peak_kb"] for r in ours) / 1024
        ratio = seconds / floor
        rows.append(f"| `{name}` | {ours[0]['lines'] - 1:,} | {ours[0]['bytes'] / 2**20:.0f} MiB | "
                    f"{seconds:.2f} s | {floor:.2f} s | {ratio:.2f}× | {before:.0f} → {peak:.0f} MiB |")
        verdicts.append(f"`{name}` {ratio:.2f}× ({'met' if ratio < TARGET else 'not met'})")
    section = "\n".join([
        MARK,
        "## Exporting a 1,000,000-code pool as CSV (PostgreSQL)",
        "",
        "`bench/export.py`: pool 1 of bench/pages.py's data set (1,000,000 codes, 600,000 given "
        "out). Each run is a fresh process that signs in and downloads the export through "
        "Flask's test client (the server's whole work, no network), reading the streamed body "
        "and throwing it away; the baseline is `psql \\copy` of the same rows and columns in "
        f"the same order to /dev/null, run alternately. Median of {RUNS}, on {machine()}; "
        f"load average {load[0]:.2f} at the start.",
        "",
        "| export | rows | size | portal | `psql \\copy` | ratio | memory of the process: before → peak |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Target: under {TARGET:.0f}× `psql \\copy`, memory flat — {'; '.join(verdicts)}. "
        "`export.csv` also signs two links per row (AES and HMAC), which psql's copy does "
        "not: its baseline copies the ids the links are made from.",
        "",
    ])
    print(section)
    if "--no-write" not in sys.argv:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
