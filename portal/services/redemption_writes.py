"""The writes of a redemption: the conditional update that claims the code, the
redemption row, the counters and the history event (one statement on PostgreSQL, step
by step on SQLite), and the answer made from what was written."""

from __future__ import annotations

import random

from sqlalchemy import insert, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..models import COUNTER_SHARDS, Code, CodeStatus, Redemption, Store
from . import alerts, history, pools
from .actor import Actor
from .integrations import outbox, voucher_events


def record(session: Session, code: Code, before: str, values: dict, redemption_id: int) -> None:
    """The redemption's history event (who, where, which order) and its outgoing event."""
    history.record(session, code_id=code.id, pool_id=code.pool_id, customer_id=code.customer_id,
                   **history_values(before, values))
    voucher_events.redeemed(session, code, redemption_id, values)


def answer_for(session: Session, code: Code, new_id: int, values: dict) -> Redemption:
    """The redemption just written, as the caller answers it, without a second read."""
    # The row was changed by a statement; tell the loaded objects without making them dirty.
    for name, value in (("status", CodeStatus.REDEEMED.value), ("redeemed_at", values["redeemed_at"]),
                        ("redeemed_store_id", values["store_id"]), ("order_ref", values["order_ref"])):
        set_committed_value(code, name, value)
    redemption = Redemption(id=new_id, **values)  # the answer; not in the session
    set_committed_value(redemption, "code", code)
    store_id = values["store_id"]
    set_committed_value(redemption, "store", session.get(Store, store_id) if store_id is not None else None)
    set_committed_value(redemption, "rolled_back_at", None)
    set_committed_value(redemption, "rollback_reason", None)
    return redemption


def claim(session: Session, code: Code, before: str, values: dict) -> bool:
    """The conditional update that redeems the code only if it still has the status read
    (`before`), and writes the redemption; False when the code changed under us."""
    done = session.execute(
        update(Code)
        .where(Code.id == code.id, Code.status == before)
        .values(status=CodeStatus.REDEEMED.value, redeemed_at=values["redeemed_at"],
                redeemed_store_id=values["store_id"], redeemed_by_user_id=values["user_id"],
                redeemed_by_api_key_id=values["api_key_id"], order_ref=values["order_ref"])
        .execution_options(synchronize_session=False)
    ).rowcount
    return done == 1


def insert_redemption(session: Session, values: dict) -> int:
    return session.execute(insert(Redemption.__table__).values(values)
                           .returning(Redemption.__table__.c.id)).scalar_one()


def step_by_step(session: Session, code: Code, before: str, values: dict) -> int | None:
    """The redemption's writes one by one: the conditional update, the redemption and the
    counters. None when the code changed under us."""
    if not claim(session, code, before, values):
        return None
    new_id = insert_redemption(session, values)
    pools.adjust_counts(session, code.pool_id, pool=code.pool, **{before: -1, "redeemed": 1})
    return new_id


# PostgreSQL does the redemption's writes in one statement (one round trip, nothing for
# the ORM to build): the same conditional update, and the rest only when it matched —
# the redemption, the counter, the history event (history.insert_sql) — and it reads
# the webhook endpoints on the way, for the outgoing event written after it.
_REDEEM_PG = """
WITH done AS (
    UPDATE code SET status = 'redeemed', redeemed_at = :redeemed_at, redeemed_store_id = :store_id,
        redeemed_by_user_id = :user_id, redeemed_by_api_key_id = :api_key_id, order_ref = :order_ref
    WHERE id = :code_id AND status = :before
    RETURNING id, pool_id, customer_id
), added AS (
    INSERT INTO redemption (code_id, store_id, user_id, api_key_id, order_ref, idempotency_key,
                            redeemed_at)
    SELECT id, :store_id, :user_id, :api_key_id, :order_ref, :idempotency_key, :redeemed_at FROM done
    RETURNING id
), counted AS (
    UPDATE pool_counter SET {before} = {before} - 1, redeemed = redeemed + 1
    WHERE pool_id = :pool_id AND shard = :shard AND EXISTS (SELECT 1 FROM done)
), logged AS (
    {history}
)
SELECT (SELECT id FROM added), {endpoints}
"""
_REDEEM_PG_FROM = {status: text(_REDEEM_PG.format(before=status, history=history.insert_sql("done"),
                                                  endpoints=outbox.ENDPOINTS_SQL))
                   for status in (CodeStatus.ASSIGNED.value, CodeStatus.AVAILABLE.value)}


def history_values(before: str, values: dict) -> dict:
    """What the redemption's history event says (one home for record() and the statement)."""
    order_ref = values["order_ref"]
    return {"kind": "redeemed", "before": before, "after": CodeStatus.REDEEMED.value,
            "at": values["redeemed_at"],
            "actor": Actor(user_id=values["user_id"], api_key_id=values["api_key_id"],
                           store_id=values["store_id"]),
            "details": {"order_ref": order_ref} if order_ref else {}}


def in_one_statement(session: Session, code: Code, before: str, values: dict) -> int | None:
    params = {**values, "before": before, "pool_id": code.pool_id,
              "shard": random.randrange(COUNTER_SHARDS),
              **history.params(**history_values(before, values))}
    new_id, endpoints = session.execute(_REDEEM_PG_FROM[before], params).one()
    if new_id is not None:
        outbox.prime(session, endpoints)
        if before == CodeStatus.AVAILABLE.value:
            alerts.check_low_stock(session, code.pool_id, known=code.pool)
    return new_id
