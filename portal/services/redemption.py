"""Checking and redeeming codes (stage 5), rolling redemptions back, voiding codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from .. import metrics
from ..extensions import db
from ..models import (
    Code,
    CodeStatus,
    PoolStatus,
    Redemption,
    utcnow,
)
from . import history, pools
from . import redemption_writes as writes
from .actor import SYSTEM, Actor
from .codes import MAX_LENGTH, effective_expiry, normalize
from .errors import Conflict, Forbidden, InvalidInput, NotFound, RedemptionRefused
from .integrations import voucher_events
from .loading import is_live
from .redemption_writes import answer_for, claim, insert_redemption, record  # noqa: F401  (read from here)
from .tx import is_postgresql, write_transaction
from .wording import REASONS, REDEEMED, REFUSALS, UNDONE, VALID, Wording  # noqa: F401  (read from here)


@dataclass(frozen=True)
class Verdict:
    """Whether a code can be redeemed now; `reason` is None when it can."""

    valid: bool
    reason: str | None
    code: Code | None

    @property
    def wording(self) -> Wording:
        return REFUSALS[self.reason] if self.reason else VALID

    @property
    def message(self) -> str:
        return self.wording.message


# Built once: a till's lookup is the hottest read there is, and building the statement
# (its loader options, the live-batch test) cost more than running it.
_FIND_CODE = (
    select(Code)
    .options(joinedload(Code.pool), joinedload(Code.customer), joinedload(Code.redeemed_store))
    .where(Code.normalized == bindparam("key"), is_live(Code.batch_id))
    .execution_options(populate_existing=True)
)


def find_code(raw: str, session: Session | None = None) -> Code | None:
    """The code typed loosely (any case, spaces, hyphens), with its pool, or None."""
    key = normalize(raw or "")
    if not key or len(key) > MAX_LENGTH:
        return None
    return (session or db.session).scalar(_FIND_CODE, {"key": key})


def verdict_for(code: Code | None, now: datetime | None = None) -> Verdict:
    """The rules of a code's life, in the order a cashier needs to hear them."""
    now = now or utcnow()
    if code is None:
        return Verdict(False, "unknown_code", None)
    pool = code.pool
    if code.status == CodeStatus.CANCELED:
        reason = "canceled"
    elif code.status == CodeStatus.REDEEMED:
        reason = "already_redeemed"
    elif pool.status != PoolStatus.ACTIVE:
        reason = "pool_inactive"
    elif pool.valid_from is not None and now < pool.valid_from:
        reason = "not_yet_valid"
    elif (ends := effective_expiry(code.expires_at, pool.valid_until)) is not None and ends <= now:
        reason = "expired"
    elif code.status == CodeStatus.AVAILABLE and pool.require_assignment:
        reason = "not_assigned"
    else:
        reason = None
    return Verdict(reason is None, reason, code)


def validate(raw: str) -> Verdict:
    """Say whether the code can be redeemed now, and if not exactly why."""
    verdict = verdict_for(find_code(raw))
    if not verdict.valid:
        metrics.refused("validate", verdict.reason)
    return verdict


def refusal(verdict: Verdict) -> RedemptionRefused:
    """The refusal of a code that cannot be redeemed, with when and where it was if it was."""
    details = {}
    if verdict.reason == "already_redeemed" and verdict.code is not None:
        details = {
            "redeemed_at": verdict.code.redeemed_at,
            "store": verdict.code.redeemed_store.code if verdict.code.redeemed_store else None,
        }
    return RedemptionRefused(verdict.message, reason=verdict.reason, **details)


def by_key(session: Session, idempotency_key: str, raw: str) -> Redemption | None:
    """The earlier redemption made with this key, if it is the same request again.

    The same key for another code, or for a redemption rolled back since, is refused:
    answering with the old result would tell the till a code is redeemed when it is not.
    """
    earlier = session.scalar(
        select(Redemption)
        .options(joinedload(Redemption.code), joinedload(Redemption.store))
        .where(Redemption.idempotency_key == idempotency_key)
        .execution_options(populate_existing=True)
    )
    if earlier is None:
        return None
    if earlier.code.normalized != normalize(raw or ""):
        raise Conflict("This Idempotency-Key was already used for another code.",
                       reason="idempotency_key_reused")
    if earlier.rolled_back_at is not None:
        raise Conflict("The redemption made with this Idempotency-Key was rolled back; "
                       "redeem again with a new key.", reason="idempotency_key_rolled_back")
    return earlier


def redeem(
    raw: str,
    *,
    store_id: int | None = None,
    actor: Actor = SYSTEM,
    order_ref: str | None = None,
    idempotency_key: str | None = None,
) -> Redemption:
    """Redeem the code exactly once; the same idempotency key again returns the first result."""
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise InvalidInput("An idempotency key is 1–200 characters.", field="idempotency_key")
    if order_ref is not None and len(order_ref) > 200:
        raise InvalidInput("An order reference is at most 200 characters.", field="order_ref")
    store_id = store_id if store_id is not None else actor.store_id
    try:
        with write_transaction() as session:
            if idempotency_key and (earlier := by_key(session, idempotency_key, raw)):
                return earlier
            verdict = verdict_for(find_code(raw, session))
            if not verdict.valid:
                raise refusal(verdict)
            code = verdict.code
            now = utcnow()
            before = code.status
            values = {"code_id": code.id, "store_id": store_id, "user_id": actor.user_id,
                      "api_key_id": actor.api_key_id, "order_ref": order_ref,
                      "idempotency_key": idempotency_key, "redeemed_at": now}
            one_statement = is_postgresql()
            if one_statement:  # the history event is written by the same statement
                new_id = writes.in_one_statement(session, code, before, values)
            else:
                new_id = writes.step_by_step(session, code, before, values)
            if new_id is None:
                # Someone else redeemed it between our read and our write.
                session.rollback()
                raise refusal(verdict_for(find_code(raw)))
            if not one_statement:
                history.record(session, code_id=code.id, pool_id=code.pool_id,
                               customer_id=code.customer_id, **writes.history_values(before, values))
            voucher_events.redeemed(session, code, new_id, values)
            redemption = writes.answer_for(session, code, new_id, values)
        metrics.redeemed()
        return redemption
    except (RedemptionRefused, IntegrityError) as exc:
        # A concurrent request with the same key won: answer with its redemption.
        if idempotency_key and (earlier := by_key(db.session, idempotency_key, raw)):
            return earlier
        if isinstance(exc, RedemptionRefused):
            metrics.refused("redeem", exc.reason)
        raise


def _reload(redemption_id: int) -> Redemption:
    return db.session.scalar(
        select(Redemption)
        .options(joinedload(Redemption.code), joinedload(Redemption.store))
        .where(Redemption.id == redemption_id)
        .execution_options(populate_existing=True)
    )


def rollback(
    redemption_id: int,
    reason: str,
    *,
    actor: Actor = SYSTEM,
    only_by_user: int | None = None,
    within: timedelta | None = None,
) -> Redemption:
    """Undo a redemption: the code goes back to `assigned` (or `available`) and says why.

    `only_by_user` and `within` narrow who may undo (a cashier: their own redemptions,
    for a few minutes); anything else needs someone without those limits.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the redemption is rolled back.", field="reason")
    with write_transaction() as session:
        redemption = session.get(Redemption, redemption_id, populate_existing=True)
        if redemption is None:
            raise NotFound(f"There is no redemption {redemption_id}.", reason="unknown_redemption")
        now = utcnow()
        if only_by_user is not None and redemption.user_id != only_by_user:
            raise Forbidden("Only the cashier who redeemed it can undo this; ask an admin.",
                            reason="not_your_redemption")
        if within is not None and now - redemption.redeemed_at > within:
            minutes = int(within.total_seconds() // 60)
            raise Forbidden(f"Redemptions older than {minutes} minutes need an admin to undo.",
                            reason="undo_window_passed")
        done = session.execute(
            update(Redemption)
            .where(Redemption.id == redemption_id, Redemption.rolled_back_at.is_(None))
            .values(rolled_back_at=now, rollback_reason=reason[:1000])
            .execution_options(synchronize_session=False)
        ).rowcount
        if done != 1:
            raise Conflict("This redemption was already rolled back.", reason="already_rolled_back")
        code = session.get(Code, redemption.code_id)
        back = CodeStatus.ASSIGNED if code.customer_id is not None else CodeStatus.AVAILABLE
        done = session.execute(
            update(Code)
            .where(Code.id == code.id, Code.status == CodeStatus.REDEEMED.value)
            .values(status=back.value, redeemed_at=None, redeemed_store_id=None,
                    redeemed_by_user_id=None, redeemed_by_api_key_id=None, order_ref=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done != 1:
            raise Conflict("The code is no longer redeemed.", reason="code_not_redeemed")
        history.record(session, code_id=code.id, pool_id=code.pool_id, customer_id=code.customer_id,
                       kind="redemption_rolled_back", before=CodeStatus.REDEEMED.value,
                       after=back.value, at=now, actor=actor,
                       details={"reason": reason, "redemption_id": redemption_id})
        voucher_events.rolled_back(session, code, redemption_id, reason, now)
        pools.adjust_counts(session, code.pool_id, redeemed=-1, **{back.value: 1})
    return _reload(redemption_id)


def cancel(raw: str, reason: str, *, actor: Actor = SYSTEM) -> Code:
    """Void a code that has not been redeemed; it can never be assigned or redeemed again."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the code is canceled.", field="reason")
    with write_transaction() as session:
        code = find_code(raw, session)
        if code is None:
            raise NotFound("There is no such code.", reason="unknown_code")
        before = code.status
        if before == CodeStatus.CANCELED:
            raise Conflict("This code is already canceled.", reason="already_canceled")
        if before == CodeStatus.REDEEMED:
            raise Conflict("A redeemed code cannot be canceled; roll the redemption back first.",
                           reason="already_redeemed")
        now = utcnow()
        done = session.execute(
            update(Code)
            .where(Code.id == code.id, Code.status == before)
            .values(status=CodeStatus.CANCELED.value)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done != 1:
            raise Conflict("The code changed meanwhile; try again.", reason="conflict")
        history.record(session, code_id=code.id, pool_id=code.pool_id, customer_id=code.customer_id,
                       kind="canceled", before=before, after=CodeStatus.CANCELED.value, at=now,
                       actor=actor, details={"reason": reason})
        voucher_events.canceled(session, code, reason, now)
        pools.adjust_counts(session, code.pool_id, canceled=1, **{before: -1})
        code_id = code.id
    return db.session.get(Code, code_id, populate_existing=True)


def recent(user_id: int, limit: int = 10) -> list[Redemption]:
    """The last redemptions this user made, newest first (the till's list)."""
    return list(db.session.scalars(
        select(Redemption)
        .options(joinedload(Redemption.code).joinedload(Code.customer),
                 joinedload(Redemption.code).joinedload(Code.pool))
        .where(Redemption.user_id == user_id)
        .order_by(Redemption.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    ))


def per_day(pool_id: int, days: int = 14) -> list[tuple[str, int]]:
    """Redemptions of the pool per day over the last `days` days, oldest first (UTC days
    on SQLite, the server's days on PostgreSQL; grouped in the database)."""
    start = (utcnow() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = func.date(Redemption.redeemed_at)
    rows = db.session.execute(
        select(day, func.count()).join(Code, Code.id == Redemption.code_id)
        .where(Code.pool_id == pool_id, Redemption.rolled_back_at.is_(None),
               Redemption.redeemed_at >= start)
        .group_by(day)
    ).all()
    found = {str(key)[:10]: int(n) for key, n in rows}
    keys = [(start + timedelta(days=i)).date().isoformat() for i in range(days)]
    return [(key, found.get(key, 0)) for key in keys]


def active_redemption(code_id: int) -> Redemption | None:
    """The code's redemption that has not been rolled back, if any."""
    return db.session.scalar(
        select(Redemption).where(Redemption.code_id == code_id, Redemption.rolled_back_at.is_(None))
        .order_by(Redemption.id.desc()).limit(1)
    )
