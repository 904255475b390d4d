"""Redeeming a basket of codes in one call: each item as a single redemption would be,
either each on its own or all or nothing, and the first answer kept for its
Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from .. import metrics
from ..extensions import db
from ..models import Code, Redemption, RedemptionBatch, Store, utcnow
from . import pools, redemption
from .actor import SYSTEM, Actor
from .codes import normalize
from .errors import Conflict, DomainError, InvalidInput, NotFound
from .tx import write_transaction
from .wording import REASONS, REDEEMED

MAX_ITEMS = 100
UNKNOWN_STORE = "unknown_store"
DUPLICATE = "duplicate_in_batch"
RATE_LIMITED = "rate_limited"
KEY_REUSED = "idempotency_key_reused"
KEY_ROLLED_BACK = "idempotency_key_rolled_back"
# Why an item is refused: a single redemption's reasons, and the batch's own.
ITEM_REASONS = (*REASONS, UNKNOWN_STORE, DUPLICATE, RATE_LIMITED, KEY_REUSED, KEY_ROLLED_BACK)
DUPLICATE_MESSAGE = "An earlier item of this batch has this code."
HELD_BACK_MESSAGE = "Not redeemed: another item of this all-or-nothing batch was refused."

# Each item's outcome.
STATUS_REDEEMED, STATUS_REFUSED, STATUS_NOT_REDEEMED = "redeemed", "refused", "not_redeemed"


@dataclass(frozen=True)
class Item:
    code: str
    store: str | None = None
    order_ref: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one item: `reason` says why it was refused; `details` are the
    refusal's extra facts (when and where an already redeemed code was)."""

    status: str
    reason: str | None
    message: str
    redemption: Redemption | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResult:
    all_or_nothing: bool
    outcomes: list[Outcome]

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)


# Entered around each code's lookup (the caller's allowance of unknown codes): it yields
# an object whose `reason` the batch sets to the answer's, and may refuse the item by
# raising a DomainError as it is entered.
Guard = Callable[[], AbstractContextManager[Any]]


@contextmanager
def _unguarded() -> Iterator[SimpleNamespace]:
    yield SimpleNamespace(reason=None)


def redeem_batch(
    items: list[Item],
    *,
    all_or_nothing: bool = False,
    actor: Actor = SYSTEM,
    idempotency_key: str | None = None,
    guard: Guard = _unguarded,
) -> BatchResult:
    """Redeem each item as `redemption.redeem` would, one result per item in order; with
    `all_or_nothing`, all of them in one transaction or none. The same idempotency key
    with the same items returns the first answer; with other items it is refused."""
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidInput(f"A batch has 1–{MAX_ITEMS} items.", field="items")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 180:
        raise InvalidInput("An idempotency key is 1–180 characters.", field="idempotency_key")
    fingerprint = _fingerprint(items, all_or_nothing)
    if idempotency_key and (earlier := _earlier(idempotency_key, fingerprint)) is not None:
        return BatchResult(all_or_nothing, earlier)
    run = _all_or_nothing if all_or_nothing else _each_alone
    outcomes = run(items, _store_ids(items), actor, idempotency_key, guard)
    if idempotency_key and not any(o.reason == RATE_LIMITED for o in outcomes):
        # An answer with items not looked up is not kept: the same batch sent again once
        # the wait is over looks them up, and gets the redeemed ones back by their keys.
        outcomes = _keep(idempotency_key, fingerprint, outcomes)
    return BatchResult(all_or_nothing, outcomes)


def _fingerprint(items: list[Item], all_or_nothing: bool) -> str:
    request = [all_or_nothing, [[item.code, item.store, item.order_ref] for item in items]]
    return hashlib.sha256(json.dumps(request).encode()).hexdigest()


def _item_key(idempotency_key: str | None, index: int) -> str | None:
    # Its own space ("batch …"), apart from single redemptions' keys: a batch sent twice
    # at once redeems each item once, and both answers name the same redemptions.
    return f"batch {idempotency_key}#{index}" if idempotency_key else None


def _store_ids(items: list[Item]) -> dict[str, int | None]:
    """Each store code the items name, and its id (None: no such store)."""
    wanted = {item.store for item in items if item.store}
    found = dict(db.session.execute(select(Store.code, Store.id).where(Store.code.in_(wanted))).all())
    return {code: found.get(code) for code in wanted}


def _refused(exc: DomainError) -> Outcome:
    return Outcome(STATUS_REFUSED, exc.reason, exc.message, details=dict(exc.details))


def _redeemed(done: Redemption) -> Outcome:
    return Outcome(STATUS_REDEEMED, None, REDEEMED.message, done)


def _before_lookup(item: Item, stores: dict[str, int | None], seen: set[str]) -> Outcome | None:
    """The refusals that need no lookup of the code: no such store, the same code twice."""
    if item.store and stores[item.store] is None:
        return _refused(NotFound(f"There is no store “{item.store}”.", reason=UNKNOWN_STORE))
    key = normalize(item.code or "")
    if key and key in seen:
        return Outcome(STATUS_REFUSED, DUPLICATE, DUPLICATE_MESSAGE)
    seen.add(key)
    return None


def _each_alone(items: list[Item], stores: dict[str, int | None], actor: Actor,
                idempotency_key: str | None, guard: Guard) -> list[Outcome]:
    """Each item in its own transaction, exactly as a single redemption."""
    outcomes: list[Outcome] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if (early := _before_lookup(item, stores, seen)) is not None:
            outcomes.append(early)
            continue
        try:
            with guard():
                done = redemption.redeem(item.code, store_id=stores.get(item.store or ""), actor=actor,
                                         order_ref=item.order_ref,
                                         idempotency_key=_item_key(idempotency_key, index))
            outcomes.append(_redeemed(done))
        except DomainError as exc:
            outcomes.append(_refused(exc))
    return outcomes


class _Refused(Exception):
    """Leaves the all-or-nothing transaction (rolling it back) with the outcomes."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("batch refused")
        self.outcomes = outcomes


def _all_or_nothing(items: list[Item], stores: dict[str, int | None], actor: Actor,
                    idempotency_key: str | None, guard: Guard) -> list[Outcome]:
    """All the items in one transaction: each code is claimed with the single path's
    conditional update, in the order of the codes' ids (so two batches sharing codes
    wait for each other instead of deadlocking); the counters are added last, per pool in
    order. The first refusal rolls everything back."""
    try:
        with write_transaction() as session:
            planned = _plan(session, items, stores, guard)
            if any(isinstance(entry, Outcome) for entry in planned):
                raise _Refused(_held_back(planned))
            now = utcnow()
            values: dict[int, dict] = {}
            for index, code in sorted(enumerate(planned), key=lambda pair: pair[1].id):
                item = items[index]
                values[index] = {
                    "code_id": code.id, "store_id": stores.get(item.store or "") or actor.store_id,
                    "user_id": actor.user_id, "api_key_id": actor.api_key_id,
                    "order_ref": item.order_ref, "idempotency_key": _item_key(idempotency_key, index),
                    "redeemed_at": now}
                before = code.status
                if not redemption.claim(session, code, before, values[index]):
                    # Another redemption took it since we read it: say what it is now.
                    fresh = redemption.verdict_for(redemption.find_code(item.code, session))
                    planned[index] = _refused(redemption.refusal(fresh))
                    raise _Refused(_held_back(planned))
                values[index]["before"] = before
            deltas: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            outcomes = []
            for index, code in enumerate(planned):
                row = values[index]
                before = row.pop("before")
                new_id = redemption.insert_redemption(session, row)
                redemption.record(session, code, before, row, new_id)
                deltas[code.pool_id][before] -= 1
                deltas[code.pool_id]["redeemed"] += 1
                outcomes.append(_redeemed(redemption.answer_for(session, code, new_id, row)))
            for pool_id in sorted(deltas):
                pools.adjust_counts(session, pool_id, **deltas[pool_id])
            if idempotency_key:
                # Kept with the redemptions, so a batch sent twice at once answers the same.
                _add_answer(session, idempotency_key, _fingerprint(items, True), outcomes)
        for _ in outcomes:  # counted once committed, as a single redemption is
            metrics.redeemed()
        return outcomes
    except _Refused as refused:
        for outcome in refused.outcomes:
            if outcome.status == STATUS_REFUSED:
                metrics.refused("redeem", outcome.reason)
        return refused.outcomes
    except IntegrityError:
        # The same batch, sent at once, was kept first: its answer is this one's.
        if idempotency_key and (earlier := _earlier(idempotency_key, _fingerprint(items, True))):
            return earlier
        raise


def _plan(session: Session, items: list[Item], stores: dict[str, int | None],
          guard: Guard) -> list[Code | Outcome]:
    """Each item's code when it can be redeemed now, or its refusal."""
    planned: list[Code | Outcome] = []
    seen: set[str] = set()
    for item in items:
        if (early := _before_lookup(item, stores, seen)) is not None:
            planned.append(early)
            continue
        try:
            with guard() as answer:
                verdict = redemption.verdict_for(redemption.find_code(item.code, session))
                answer.reason = verdict.reason
        except DomainError as exc:
            planned.append(_refused(exc))
            continue
        planned.append(verdict.code if verdict.valid else _refused(redemption.refusal(verdict)))
    return planned


def _held_back(planned: list[Code | Outcome]) -> list[Outcome]:
    return [entry if isinstance(entry, Outcome) else Outcome(STATUS_NOT_REDEEMED, None, HELD_BACK_MESSAGE)
            for entry in planned]


# --- the first answer, kept by its key -----------------------------------------------------

def _stored(outcomes: list[Outcome]) -> list[dict]:
    return [{"status": o.status, "reason": o.reason, "message": o.message,
             "redemption_id": o.redemption.id if o.redemption else None,
             "details": {k: v.isoformat() if isinstance(v, datetime) else v for k, v in o.details.items()}}
            for o in outcomes]


def _add_answer(session: Session, idempotency_key: str, fingerprint: str, outcomes: list[Outcome]) -> None:
    session.add(RedemptionBatch(idempotency_key=idempotency_key, fingerprint=fingerprint,
                                results=_stored(outcomes)))
    session.flush()


def _keep(idempotency_key: str, fingerprint: str, outcomes: list[Outcome]) -> list[Outcome]:
    """Keep this answer for the key, unless the same batch sent at once kept its own
    first: then answer with that one."""
    try:
        with write_transaction() as session:
            if session.scalar(select(RedemptionBatch.id)
                              .where(RedemptionBatch.idempotency_key == idempotency_key)) is None:
                _add_answer(session, idempotency_key, fingerprint, outcomes)
                return outcomes
    except IntegrityError:
        pass
    try:
        return _earlier(idempotency_key, fingerprint) or outcomes
    except Conflict:
        return outcomes  # another batch took the key meanwhile; this one's answer is its own


def _earlier(idempotency_key: str, fingerprint: str) -> list[Outcome] | None:
    """The first answer given for this key, or None; refused when the key came with
    other items, or when one of its redemptions was rolled back since (answering it
    would tell the till a code is redeemed when it is not)."""
    kept = db.session.scalar(select(RedemptionBatch)
                             .where(RedemptionBatch.idempotency_key == idempotency_key))
    if kept is None:
        return None
    if kept.fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was already used for another batch.", reason=KEY_REUSED)
    ids = [entry["redemption_id"] for entry in kept.results if entry["redemption_id"] is not None]
    found = {done.id: done for done in db.session.scalars(
        select(Redemption)
        .options(joinedload(Redemption.code).joinedload(Code.customer), joinedload(Redemption.store))
        .where(Redemption.id.in_(ids))
        .execution_options(populate_existing=True))}
    if any(done.rolled_back_at is not None for done in found.values()):
        raise Conflict("A redemption made with this Idempotency-Key was rolled back; send the "
                       "batch again with a new key.", reason=KEY_ROLLED_BACK)
    return [Outcome(entry["status"], entry["reason"], entry["message"],
                    found.get(entry["redemption_id"]), _read_details(entry["details"]))
            for entry in kept.results]


def _read_details(details: dict) -> dict:
    if details.get("redeemed_at"):
        details = {**details, "redeemed_at": datetime.fromisoformat(details["redeemed_at"])}
    return details
