"""The marketer's dashboard and a pool's report at 1,000 pools, against the same pages at 1.

    .venv/bin/python bench/dashboard.py          # appends its section to bench/RESULTS.md
    .venv/bin/python bench/dashboard.py --quick  # prints it only

On SQLite and PostgreSQL: one pool first (the floor), then 999 more (each with its
counter shards; every tenth with 1,000 generated codes, some given out and redeemed;
one with 100,000 codes, whose page shows the campaign report). Each page is requested
through the test client, signed in as a marketer; medians of RUNS requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.common import fresh_app, machine, write_section  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import COUNTER_SHARDS, Code, CodeStatus, Pool, PoolCounter  # noqa: E402
from portal.services import accounts, assignment, generation, pools, redemption  # noqa: E402
from portal.services.customers import CustomerData  # noqa: E402
from portal.services.tx import write_transaction  # noqa: E402

RUNS = 15
POOLS = 1_000
MARK = "<!-- dashboard benchmark -->"


def add_pools(count: int) -> list[int]:
    with write_transaction() as session:
        added = [Pool(name=f"Campaign {n:04d}") for n in range(count)]
        session.add_all(added)
        session.flush()
        session.add_all(PoolCounter(pool_id=pool.id, shard=shard)
                        for pool in added for shard in range(COUNTER_SHARDS))
    return [pool.id for pool in added]


def fill(pool_ids: list[int]) -> None:
    for n, pool_id in enumerate(pool_ids[::10]):
        generation.generate_codes(pool_id, 1_000)
        assignment.assign_many(pool_id, [(line, CustomerData(f"B{n}-{line}")) for line in range(2, 12)])
        for code in db.session.scalars(select(Code.code).where(
                Code.pool_id == pool_id, Code.status == CodeStatus.ASSIGNED).limit(3)).all():
            redemption.redeem(code)


def median_ms(client, url: str) -> float:  # noqa: ANN001
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples) * 1000


def measure(kind: str, workdir: Path) -> dict[str, tuple[float, float]]:
    with fresh_app(kind, workdir) as (app, _where):
        app.config.update(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
        accounts.create_user("bench@example.com", "correct horse battery", "marketer")
        big = pools.create_pool("Big").id
        client = app.test_client()
        client.post("/login", data={"email": "bench@example.com", "password": "correct horse battery"})
        urls = {"dashboard": "/pools/", "dashboard, sorted by rate, searched": "/pools/?q=1&sort=rate",
                "polled counts (25 pools)": "/pools/counts?ids=" + str(big),
                "pool page with its report": f"/pools/{big}"}
        floor = {name: median_ms(client, url) for name, url in urls.items()}
        generation.generate_codes(big, 100_000)
        fill(add_pools(POOLS - 1))
        listed = [p.id for p in pools.list_pools()[:25]]
        urls["polled counts (25 pools)"] = "/pools/counts?ids=" + ",".join(map(str, listed))
        full = {name: median_ms(client, url) for name, url in urls.items()}
        db.session.remove()
    return {name: (floor[name], full[name]) for name in urls}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="print only; RESULTS.md unchanged")
    args = parser.parse_args()
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql"):
            for name, (one, many) in measure(kind, Path(tmp)).items():
                rows.append(f"| {kind} | {name} | {one:.1f} ms | {many:.1f} ms | {many / one:.1f}× |")
    section = "\n".join([
        MARK,
        "## The dashboard and a pool's report at 1,000 pools",
        "",
        f"`bench/dashboard.py`: median of {RUNS} requests through the test client, signed in as a "
        f"marketer, with 1 pool and then with {POOLS:,} (a hundred of them with 1,000 codes, ten "
        f"given out; the measured pool with 100,000 codes), on {machine()}; the load average "
        f"was {load:.1f} when it began (the machine is shared, so read the ratios, not the times).",
        "",
        "| database | page | 1 pool | 1,000 pools | ratio |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
    ])
    print(section)
    if not args.quick:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
