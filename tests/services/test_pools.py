"""Pools: settings, validation, status, and counts that match reality."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import COUNTER_SHARDS, PoolCounter, utcnow
from portal.services import pools
from portal.services.errors import Conflict, InvalidInput, NotFound


def test_create_with_defaults(app):
    pool = pools.create_pool("  Spring sale  ", benefit="10% off")
    assert pool.name == "Spring sale"
    assert (pool.status, pool.per_customer_limit, pool.require_assignment) == ("active", 1, True)
    assert pool.barcode_format == "qr"
    assert pools.counts(pool.id).as_dict() == {
        "available": 0, "assigned": 0, "redeemed": 0, "canceled": 0, "total": 0}
    shards = db.session.scalars(select(PoolCounter).where(PoolCounter.pool_id == pool.id)).all()
    assert len(shards) == COUNTER_SHARDS


def test_names_are_unique(app):
    pools.create_pool("Spring")
    with pytest.raises(Conflict) as info:
        pools.create_pool("Spring")
    assert (info.value.reason, info.value.details["field"]) == ("conflict", "name")


@pytest.mark.parametrize("values, field", [
    ({"per_customer_limit": 0}, "per_customer_limit"),
    ({"low_stock_threshold": -1}, "low_stock_threshold"),
    ({"barcode_format": "pdf417"}, "barcode_format"),
    ({"status": "deleted"}, "status"),
    ({"valid_from": "tomorrow"}, "valid_from"),
])
def test_wrong_values_name_their_field(app, values, field):
    with pytest.raises(InvalidInput) as info:
        pools.create_pool("P", **values)
    assert (info.value.reason, info.value.details["field"]) == ("invalid_request", field)
    assert pools.list_pools() == []


def test_window_must_be_in_order(app):
    now = utcnow()
    with pytest.raises(InvalidInput) as info:
        pools.create_pool("P", valid_from=now, valid_until=now - timedelta(days=1))
    assert (info.value.reason, info.value.details["field"]) == ("invalid_window", "valid_until")
    pool = pools.create_pool("P", valid_from=now, valid_until=now + timedelta(days=1))
    assert pool.valid_until.tzinfo is not None


def test_update_and_status(app):
    pool = pools.create_pool("P")
    pools.update_pool(pool.id, benefit="Free coffee", per_customer_limit=3)
    pools.set_status(pool.id, "paused")
    fresh = pools.get_pool(pool.id)
    assert (fresh.benefit, fresh.per_customer_limit, fresh.status) == ("Free coffee", 3, "paused")
    with pytest.raises(InvalidInput) as info:
        pools.update_pool(pool.id, colour="red")
    assert info.value.reason == "invalid_request" and "colour" in info.value.message
    with pytest.raises(NotFound) as info:
        pools.update_pool(999, benefit="x")
    assert info.value.reason == "unknown_pool"
