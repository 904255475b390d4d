"""The dashboard and its polled counts run a fixed number of SQL queries, however many
pools there are: nothing is read pool by pool."""

from __future__ import annotations

from datetime import timedelta

from portal.models import COUNTER_SHARDS, Pool, PoolCounter, utcnow
from portal.services import assignment, channels, dashboard, imports, pools, redemption
from portal.services.tx import write_transaction
from tests.helpers import counted_queries, customer, upload


def listed() -> list[int]:
    """The ids of the pools on the dashboard's first page (newest first)."""
    return [pool.id for pool in pools.list_pools()[:dashboard.PAGE_SIZE]]


def queries(client, url: str) -> int:  # noqa: ANN001
    with counted_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200
    if url == "/pools/":  # one row per pool on the page
        assert response.text.count('<th scope="row" class="pool-name">') == len(listed())
    else:  # the counts of every pool asked for
        assert response.text.count('-available" hx-swap-oob="true"') == len(listed())
    return len(statements)


def add_pools(count: int) -> list[int]:
    """`count` plain pools with their counter shards, in one transaction."""
    with write_transaction() as session:
        added = [Pool(name=f"Bulk {n:03d}") for n in range(count)]
        session.add_all(added)
        session.flush()
        session.add_all(PoolCounter(pool_id=pool.id, shard=shard)
                        for pool in added for shard in range(COUNTER_SHARDS))
    return [pool.id for pool in added]


def set_up_differently(pool_ids: list[int]) -> None:
    """Give pools every state the set-up column and the banner tell apart."""
    codes = iter(range(1, 1000))

    def fill(pool_id: int, n: int = 3, expired: bool = False) -> list[str]:
        names = [f"Q{pool_id:03d}-{next(codes):04d}" for _ in range(n)]
        rows = [f"{name},2020-01-01" if expired else name for name in names]
        imports.import_codes(pool_id, upload("code,expires_at\n" + "\n".join(rows)))
        return names

    codes_only, holder, waiting, nobody_served, expired, channel, off, redeemed, reviewed, low, \
        paused = pool_ids[:11]
    fill(codes_only)
    fill(holder)
    assignment.assign_code(holder, customer("H1"))
    fill(waiting)
    assignment.assign_file(waiting, upload("customer_id\nW1\nW2\n"), now=False)
    assignment.assign_file(nobody_served, upload("customer_id\nN1\nN2\n"))  # no codes: all fail
    fill(expired, expired=True)
    assignment.assign_file(expired, upload("customer_id\nE1\n"), now=False)
    fill(channel)
    channels.save(channel, "email", enabled=True, body="{{ code }}")
    channels.save(off, "sms", enabled=False, body="{{ code }}")
    code = fill(redeemed)[0]
    assignment.assign_code(redeemed, customer("R1"))
    redemption.redeem(code)
    pools.review_redemption(reviewed, valid_until=utcnow() + timedelta(days=30))
    pools.update_pool(low, low_stock_threshold=10)
    fill(low)  # below its threshold: the low-stock banner names it
    pools.set_status(paused, "paused")


def test_the_dashboard_queries_as_often_for_200_pools_as_for_1(as_role, htmx):
    pools.create_pool("First")
    marketer = as_role("marketer")
    clients = {"page": marketer, "counts": htmx}
    marketer.get("/pools/")  # connections opened and set up before counting
    at_one = {kind: queries(clients[kind], url) for kind, url in urls().items()}

    set_up_differently(add_pools(199))
    assert len(pools.list_pools()) == 200
    at_200 = {kind: queries(clients[kind], url) for kind, url in urls().items()}

    assert at_200 == at_one
    page = marketer.get("/pools/").text
    assert "Running low" in page and "Needs your attention" in page


def urls() -> dict[str, str]:
    return {"page": "/pools/", "counts": "/pools/counts?ids=" + ",".join(map(str, listed()))}
