"""The marketer's pages at campaign scale: 200 pools, 5,000,000 codes, one pool of 1,000,000.

    .venv/bin/python bench/pages.py            # builds the data once, measures, writes RESULTS.md
    .venv/bin/python bench/pages.py --rebuild  # the data again from scratch
    .venv/bin/python bench/pages.py --drop     # remove the data set and stop

The data is written by PostgreSQL itself (`INSERT … SELECT generate_series`), not through
the portal, into a schema of its own that later runs reuse (building it takes minutes).
Each page is then asked for in-process through Flask's test client, signed in as a
marketer: the time is the server's whole handling of the request (routing, queries,
template), without a network or a browser. Median of 10 after one warm-up request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# `--before DIR`: also measure another checkout's app (an earlier commit, unpacked with
# `git archive REV portal templates static | tar -x -C DIR`) in the same run, in a process
# of its own that imports that portal (`--app-dir DIR --json`).
if "--app-dir" in sys.argv:
    sys.path.insert(0, sys.argv[sys.argv.index("--app-dir") + 1])

from sqlalchemy import create_engine, text  # noqa: E402

from bench.common import PG_URL, machine, write_section  # noqa: E402
from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Code  # noqa: E402
from portal.services import accounts  # noqa: E402

SCHEMA = "bench_pages"
POOLS = 200
BIG = 1_000_000  # codes of pool 1
TOTAL = 5_000_000
CUSTOMERS = 1_000_000
RUNS = 10
TARGET_MS = 200
MARK = "<!-- pages benchmark -->"
EMAIL, PASSWORD = "marketer@example.com", "correct horse battery"


def make_app():  # noqa: ANN201
    return create_app({"SQLALCHEMY_DATABASE_URI": PG_URL, "SECRET_KEY": "bench",
                       "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                       "SQLALCHEMY_ENGINE_OPTIONS": {
                           "connect_args": {"options": f"-c search_path={SCHEMA}"}}})


def built(admin) -> bool:  # noqa: ANN001
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": SCHEMA}).scalar():
            return False
        return conn.execute(text(f'SELECT count(*) FROM "{SCHEMA}".code')).scalar() == TOTAL


def build(admin) -> float:  # noqa: ANN001
    """The schema from the models, then every row by server-side SQL."""
    start = time.perf_counter()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    app = make_app()
    with app.app_context():
        db.create_all()
        accounts.create_user(EMAIL, PASSWORD, "marketer", None)
        indexes = list(Code.__table__.indexes)
        with db.engine.begin() as conn:
            for index in indexes:  # written once the rows are in: much faster
                index.drop(conn)
            conn.execute(text(
                "INSERT INTO pool (name, description, benefit, terms, barcode_format, per_customer_limit,"
                " low_stock_threshold, require_assignment, status, created_at)"
                " SELECT 'Pool ' || g, '', '10% off', '', 'qr', 1, 0, true, 'active',"
                " now() - g * interval '1 hour' FROM generate_series(1, :n) g"), {"n": POOLS})
            conn.execute(text(
                "INSERT INTO import_batch (pool_id, kind, source, lines, imported, rejected,"
                " rejected_by_reason, created_at, state)"
                " SELECT id, 'generate', '', 0, 0, 0, '{}', now(), 'live' FROM pool ORDER BY id"))
            conn.execute(text(
                "INSERT INTO customer (external_id, email, email_consent, sms_consent, created_at,"
                " updated_at)"
                " SELECT 'CUST-' || g, 'customer' || g || '@example.com', g % 2 = 0, false, now(), now()"
                " FROM generate_series(1, :n) g"), {"n": CUSTOMERS})
            # The other pools share the first codes in id order, a third of them given
            # out; pool 1's codes come last (its import was the latest), 60% of them
            # given out and every fifth of those redeemed.
            other = (TOTAL - BIG) // (POOLS - 1) + 1
            conn.execute(text(
                "INSERT INTO code (id, pool_id, batch_id, code, normalized, status, customer_id,"
                " assigned_at, redeemed_at)"
                " SELECT g, p, p, c, c,"
                "  CASE WHEN NOT given THEN 'available' WHEN g % 5 = 0 THEN 'redeemed' ELSE 'assigned' END,"
                "  CASE WHEN given THEN (g % :customers) + 1 END,"
                "  CASE WHEN given THEN now() - (g % 10000) * interval '1 minute' END,"
                "  CASE WHEN given AND g % 5 = 0 THEN now() - (g % 1000) * interval '1 minute' END"
                " FROM (SELECT g, CASE WHEN g > :rest THEN 1 ELSE 2 + (g - 1) / :other END AS p,"
                "        upper(substr(md5(g::text), 1, 16)) AS c,"
                "        CASE WHEN g > :rest THEN g <= :rest + :big * 0.6 ELSE g % 3 = 0 END AS given"
                "       FROM generate_series(1, :total) g) s"),
                {"customers": CUSTOMERS, "big": BIG, "rest": TOTAL - BIG, "other": other, "total": TOTAL})
            conn.execute(text("SELECT setval(pg_get_serial_sequence('code', 'id'), :n)"), {"n": TOTAL})
            conn.execute(text(
                "INSERT INTO pool_counter (pool_id, shard, available, assigned, redeemed, canceled)"
                " SELECT pool_id, 0, count(*) FILTER (WHERE status = 'available'),"
                " count(*) FILTER (WHERE status = 'assigned'), count(*) FILTER (WHERE status = 'redeemed'), 0"
                " FROM code GROUP BY pool_id"))
            for index in indexes:
                index.create(conn)
            conn.execute(text("ANALYZE"))
        db.engine.dispose()
    return time.perf_counter() - start


def add_new_indexes() -> None:
    """Indexes the models gained since the data set was built (as their migration would)."""
    app = make_app()
    with app.app_context(), db.engine.begin() as conn:
        for table in db.metadata.sorted_tables:
            for index in table.indexes:
                if not conn.execute(text("SELECT to_regclass(:name)"), {"name": index.name}).scalar():
                    print(f"adding index {index.name}", flush=True)
                    index.create(conn)
                    conn.execute(text(f'ANALYZE "{table.name}"'))
        db.engine.dispose()


def measure() -> list[tuple[str, float, list[float]]]:
    """(what, median ms, samples) for every page."""
    app = make_app()
    with app.app_context():
        some = db.session.execute(text(
            "SELECT code, c.external_id, c.email FROM code JOIN customer c ON c.id = code.customer_id"
            " WHERE pool_id = 1 AND code.id = :id"), {"id": TOTAL - BIG + 123457}).one()
        small = db.session.execute(text(
            "SELECT code, c.email FROM code JOIN customer c ON c.id = code.customer_id"
            " WHERE pool_id = 100 AND status = 'assigned' LIMIT 1")).one()
        db.session.remove()
    client = app.test_client()
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    browser = {"HX-Request": "true", "HX-Target": "code-browser"}
    pages = [
        ("dashboard `/pools/`", "/pools/", {}),
        ("dashboard counts fragment `/pools/counts`", "/pools/counts", {}),
        ("pool page, 1,000,000-code pool", "/pools/1", {}),
        ("pool page, 20,000-code pool", "/pools/100", {}),
        ("pool counts fragment `/pools/1/live-counts`", "/pools/1/live-counts", {}),
        ("code browser, page 2,000 (keyset)", f"/pools/1?after={TOTAL - BIG + 100000}", browser),
        ("code browser, status filter `redeemed`", "/pools/1?status=redeemed", browser),
        ("code browser, status filter `available`", "/pools/1?status=available", browser),
        ("code browser, search by exact code", f"/pools/1?q={some.code.lower()}", browser),
        ("code browser, search by customer id", f"/pools/1?q={some.external_id}", browser),
        ("code browser, search by customer email", f"/pools/1?q={some.email.upper()}", browser),
        ("code browser, search by email, 20,000-code pool", f"/pools/100?q={small.email}", browser),
        ("code browser, search that finds nothing", "/pools/1?q=NO-SUCH-THING", browser),
    ]
    out = []
    for name, url, headers in pages:
        response = client.get(url, headers=headers)  # warm-up
        assert response.status_code == 200, (url, response.status_code)
        samples = []
        for _ in range(RUNS):
            start = time.perf_counter()
            response = client.get(url, headers=headers)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        if "q=" in url and "NO-SUCH" not in url:
            assert b"<code>" in response.data, (url, "the search found nothing")
        out.append((name, statistics.median(samples), samples))
        print(f"{name}: {statistics.median(samples):.1f} ms (min {min(samples):.1f}, max {max(samples):.1f})",
              flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the data set again")
    parser.add_argument("--drop", action="store_true", help="remove the data set and stop")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--before", metavar="DIR", help="another checkout to measure beside this one")
    parser.add_argument("--before-label", default="before", help="what to call it in the table")
    parser.add_argument("--app-dir", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:  # the other checkout's measurement, for the run that started this one
        print(json.dumps({name: [ms, samples] for name, ms, samples in measure()}))
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    if args.drop:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        return
    if args.rebuild or not built(admin):
        print(f"building {TOTAL:,} codes in {POOLS} pools…", flush=True)
        print(f"built in {build(admin):.0f} s", flush=True)
    admin.dispose()
    add_new_indexes()
    load = os.getloadavg()
    before = {}
    if args.before:
        out = subprocess.run([sys.executable, __file__, "--app-dir", args.before, "--json"], check=True,
                             capture_output=True, text=True, cwd=args.before).stdout
        before = json.loads(out.strip().splitlines()[-1])
    results = measure()
    rows = [f"| {name} | {ms:.1f} ms | {min(s):.1f}–{max(s):.1f} ms | "
            + (f"{before[name][0]:.1f} ms | " if before else "")
            + f"{'yes' if ms < TARGET_MS else 'no'} |" for name, ms, s in results]
    missed = [name for name, ms, _ in results if ms >= TARGET_MS]
    section = "\n".join([
        MARK,
        "## The marketer's pages at 5,000,000 codes (PostgreSQL)",
        "",
        f"`bench/pages.py`: {POOLS} pools and {TOTAL:,} codes on PostgreSQL (pool 1 holds "
        f"{BIG:,}, the highest ids, 60% given to {CUSTOMERS:,} customers, a fifth of those "
        f"redeemed; the others about {(TOTAL - BIG) // (POOLS - 1):,} each, a third given out), "
        "written by "
        "server-side SQL. Each page is asked for in-process through Flask's test client, "
        "signed in as a marketer, so the time is the server's whole handling of the request "
        "(routing, queries, template) without network or browser: median of "
        f"{RUNS} after a warm-up, on {machine()}; load average {load[0]:.2f} at the start.",
        "",
        *([f"Beside each figure, the median of the same requests to the app at {args.before_label}, "
           "measured in the same run on the same data.", ""] if before else []),
        "| page | median | range | " + (f"{args.before_label} | " if before else "") + "under 200 ms |",
        "| --- | --- | --- | " + ("--- | " if before else "") + "--- |",
        *rows,
        "",
        ("Target: every page under 200 ms — met." if not missed else
         f"Target: every page under 200 ms — not met for: {', '.join(missed)}."),
        "",
    ])
    print(section)
    if not args.no_write:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
