"""GET /pools answers in the same number of SQL queries for one pool or two hundred,
replenishment settings and last runs included."""

from __future__ import annotations

from sqlalchemy import insert, select

from portal.models import COUNTER_SHARDS, Pool, PoolCounter, Replenishment, ReplenishmentRun, utcnow
from portal.services import pools, replenishment
from portal.services.tx import write_transaction
from tests.helpers import counted_queries


def list_queries(api) -> tuple[list[str], dict]:  # noqa: ANN001
    with counted_queries() as statements:
        response = api.get("/pools")
    assert response.status_code == 200
    return statements, response.json


def add_pools(n: int) -> None:
    """n pools in a few bulk inserts; every third keeps itself filled, every sixth has run."""
    now = utcnow()
    with write_transaction() as session:
        session.execute(insert(Pool), [{"name": f"Bulk {i:03d}", "created_at": now} for i in range(n)])
        ids = list(session.scalars(select(Pool.id).where(Pool.name.like("Bulk %")).order_by(Pool.id)))
        session.execute(insert(PoolCounter), [{"pool_id": pool_id, "shard": s, "available": 1}
                                              for pool_id in ids for s in range(COUNTER_SHARDS)])
        refilled = ids[::3]
        session.execute(insert(Replenishment), [
            {"pool_id": pool_id, "url": f"https://partner.example/{pool_id}.csv", "every_hours": 6,
             "drop_folder": False, "top_up_count": 0, "updated_at": now} for pool_id in refilled])
        session.execute(insert(ReplenishmentRun), [
            {"pool_id": pool_id, "source": "url", "outcome": outcome, "detail": "", "at": now,
             "imported": 0, "rejected": 0, "rejected_by_reason": {}, "generated": 0}
            for pool_id in refilled[::2] for outcome in ("failed", "imported")])


def test_listing_pools_takes_the_same_queries_for_one_or_two_hundred(api, app):
    pools.create_pool("First")
    api.get("/pools")  # the first request warms up what is loaded once
    one, listed = list_queries(api)
    assert len(listed["pools"]) == 1

    add_pools(200)
    many, listed = list_queries(api)
    assert len(listed["pools"]) == 201
    assert len(many) == len(one), "\n".join(many)

    # And what the batch loaded is what each pool's own reading says.
    shown = {p["id"]: p for p in listed["pools"]}
    for pool_id, pool in shown.items():
        rep = replenishment.get(pool_id)
        assert (pool["replenishment"] is None) == (rep is None)
        if rep is not None:
            assert pool["replenishment"]["url"] == rep.url
            runs = replenishment.history(pool_id, limit=1)
            last = pool["replenishment"]["last_run"]
            if runs:
                assert (last["id"], last["outcome"]) == (runs[0].id, "imported")
            else:
                assert last is None
    assert sum(1 for p in shown.values() if p["replenishment"]) == 67
    assert all(p["counts"]["available"] == COUNTER_SHARDS for p in shown.values() if p["name"] != "First")
