"""Working through a send: one delivery per customer and transport, ever.

Each (pool, customer, transport) has one delivery row (a unique constraint). A run
claims the send job with a token of its own (`jobs.claim`), so a duplicated queue
message or a mistaken recovery never runs the job twice at once. It then walks the
job's queued rows: it takes one (`sending`) and commits, hands the message over, and
records the outcome in the transaction that takes the next — which also checks that
the run still holds the job. So a retried job never repeats a message that was sent,
and a worker that dies leaves at most the one message it was handing over in doubt:
the recovery marks that row `failed: interrupted` (it may have gone out) instead of
sending it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from ...models import (
    Code,
    CodeStatus,
    Customer,
    Delivery,
    DeliveryState,
    Job,
    JobState,
    Pool,
    PoolStatus,
    UTCDateTime,
    utcnow,
)
from .. import brand, channels, jobs, pools, transports
from ..assignment import assign_to
from ..codes import effective_expiry
from ..errors import PoolUnavailable
from ..links import customer_url_maker, voucher_url_maker
from ..times import as_utc
from ..tx import is_postgresql, write_transaction
from .compose import Composer, Prepared, Sender, VoucherHtml
from .report import close

_deliveries = Delivery.__table__
PREPARE_BATCH = 100
# How often a run re-reads its pool (a pause stops the send).
POOL_CHECK = timedelta(seconds=1)


def _never() -> bool:
    return False


def _skip_reason(transport: str, customer: Customer) -> str | None:
    if transport == "email":
        if not customer.email_consent:
            return "no_consent"
        return None if customer.email else "no_address"
    if transport == "sms":
        if not customer.sms_consent:
            return "no_consent"
        return None if customer.phone else "no_address"
    return None  # a webhook receiver gets everyone, consents included, and decides


def _claim_statement(postgresql: bool):  # noqa: ANN202
    pick = (select(_deliveries.c.id)
            .where(_deliveries.c.job_id == bindparam("for_job"),
                   _deliveries.c.state == DeliveryState.QUEUED.value,
                   _deliveries.c.code_id.is_not(None),
                   or_(_deliveries.c.not_before.is_(None),
                       _deliveries.c.not_before <= bindparam("at", type_=UTCDateTime())))
            .order_by(_deliveries.c.id).limit(1))
    if postgresql:
        pick = pick.with_for_update(skip_locked=True)
    return (update(_deliveries)
            .where(_deliveries.c.id == pick.scalar_subquery(),
                   _deliveries.c.state == DeliveryState.QUEUED.value)
            .values(state=DeliveryState.SENDING.value, attempts=_deliveries.c.attempts + 1,
                    updated_at=bindparam("at", type_=UTCDateTime()))
            .returning(_deliveries.c.id, _deliveries.c.customer_id, _deliveries.c.attempts,
                       _deliveries.c.code_id))


# Built once: at hundreds of messages a second, building the statements showed.
_CLAIM = {True: _claim_statement(True), False: _claim_statement(False)}
_SENT = (update(_deliveries)
         .where(_deliveries.c.id == bindparam("row_id"),
                _deliveries.c.state.in_((DeliveryState.SENDING.value, DeliveryState.FAILED.value)))
         .values(state=DeliveryState.SENT.value, sent_at=bindparam("at", type_=UTCDateTime()),
                 reason=None, error=None, updated_at=bindparam("at", type_=UTCDateTime())))


def _take(session: Session, job_id: int, now: datetime):  # noqa: ANN202
    """Take the job's next prepared delivery (its code chosen) that is due: `sending`."""
    return session.execute(_CLAIM[is_postgresql()], {"for_job": job_id, "at": now}).first()


def _finish(session: Session, delivery_id: int, state: str, now: datetime, *conditions,  # noqa: ANN002
            **values) -> None:  # noqa: ANN003
    session.execute(update(_deliveries).where(_deliveries.c.id == delivery_id, *conditions)
                    .values(state=state, updated_at=now, **values))


def _code_for(session: Session, pool: Pool, customer: Customer):  # noqa: ANN202
    """(assignment, None, new) for the code the customer holds or is newly given, or
    (None, skip reason, False)."""
    try:
        given = assign_to(session, pool, customer.id, customer.external_id)
    except PoolUnavailable as exc:
        return None, exc.reason, False
    if given.status != CodeStatus.ASSIGNED:
        return None, "redeemed", False
    return given, None, given.new


def _prepare(session: Session, job: Job, pool: Pool, now: datetime,
             cache: dict[int, Prepared]) -> int:
    """Choose the codes of the job's next queued deliveries in one transaction: a code
    the customer holds, or one assigned now; those with nothing to send are skipped.
    Prepared rows stay queued, so a worker dying here leaves nothing half-sent."""
    pick = (select(_deliveries.c.id, _deliveries.c.customer_id)
            .where(_deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.QUEUED.value,
                   _deliveries.c.code_id.is_(None))
            .order_by(_deliveries.c.id).limit(PREPARE_BATCH))
    rows = session.execute(pick).all()
    if not rows:
        return 0
    query = (select(Customer).where(Customer.id.in_([row.customer_id for row in rows]))
             .order_by(Customer.id))
    if is_postgresql():
        # The customers' rows are locked (in id order) as an assignment's upsert locks
        # them: a send on another transport, or a till, waits instead of giving a second code.
        query = query.with_for_update()
    customers = {c.id: c for c in session.scalars(query)}
    given = 0
    for row in rows:
        customer = customers[row.customer_id]
        reason = _skip_reason(job.channel, customer)
        code = None
        if reason is None:
            code, reason, new = _code_for(session, pool, customer)
            given += new
        if reason is not None:
            _finish(session, row.id, DeliveryState.SKIPPED.value, now, reason=reason)
            continue
        session.execute(update(_deliveries).where(_deliveries.c.id == row.id).values(code_id=code.code_id))
        cache[row.id] = Prepared(row.id, 0, customer, code.code, code.code_id, code.expires_at)
    if given:
        pools.adjust_counts(session, pool.id, pool=pool, available=-given, assigned=given)
    return len(rows)


def _load(session: Session, row, pool: Pool, cache: dict[int, Prepared]) -> Prepared:  # noqa: ANN001
    """The claimed delivery's message data: prepared by this run, or read back."""
    item = cache.pop(row.id, None)
    if item is None:
        customer = session.get(Customer, row.customer_id)
        code = session.get(Code, row.code_id)
        item = Prepared(row.id, 0, customer, code.code, code.id,
                        effective_expiry(code.expires_at, pool.valid_until))
    item.attempts = row.attempts
    return item


def _record(session: Session, delivery_id: int, attempts: int, error: transports.DeliveryError | None,
            now: datetime) -> None:
    """Record what happened to a message this run handed over. It is the truth about a
    message that left, so it is written even when a recovery took the job meanwhile."""
    if error is None:
        # Also over an `interrupted` mark a recovery made while this run was slow.
        session.execute(_SENT, {"row_id": delivery_id, "at": now})
        return
    config = current_app.config
    # Conditional on `sending`: recording the same outcome twice changes nothing.
    sending = _deliveries.c.state == DeliveryState.SENDING.value
    if error.transient and attempts < config["DELIVERY_ATTEMPTS"]:
        delay = config["DELIVERY_RETRY_SECONDS"] * 2 ** (attempts - 1)
        _finish(session, delivery_id, DeliveryState.QUEUED.value, now, sending,
                not_before=now + timedelta(seconds=delay), error=error.message[:2000])
    else:
        _finish(session, delivery_id, DeliveryState.FAILED.value, now, sending,
                reason="error", error=error.message[:2000])



def _settle(session: Session, held: jobs.Claim, job: Job, now: datetime) -> datetime | None:
    """Nothing left to take now: the job is done, or waits for a retry (returns when)."""
    session.execute(update(_deliveries).where(
        _deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.FAILED.value, reason="interrupted", updated_at=now,
                error="An earlier run stopped while handing this message over; it may have "
                      "gone out, so it is not sent again on its own."))
    due = session.execute(
        select(func.count(), func.min(_deliveries.c.not_before))
        .where(_deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.QUEUED.value)).one()
    if not due[0]:
        close(session, job, JobState.DONE, now)
        return None
    if due[1] is None or as_utc(due[1]) <= now:
        jobs.release(session, held)
        return now  # due rows a moment ago out of reach: run again at once
    jobs.release(session, held, JobState.WAITING)
    return as_utc(due[1])


def process_send(job_id: int, html: VoucherHtml, *, worker: str | None = None,
                 should_stop: Callable[[], bool] = _never) -> datetime | None:
    """Run a send job until nothing is left to send now, if no other run holds it.

    `html` draws an email's HTML part; `should_stop` is asked between two messages (a
    worker shutting down), and a stopping run hands the job back to the queue. Returns
    when the job should run again (its retries are due, or it was handed back), or None
    when it has ended or another run holds it.
    """
    held = jobs.claim(job_id, worker)
    if held is None:
        return None
    outcome: tuple | None = None
    sender: Sender | None = None
    composer: Composer | None = None
    cache: dict[int, Prepared] = {}
    pool: Pool | None = None
    checked = datetime.min.replace(tzinfo=UTC)
    try:
        while True:
            ended, result = False, None
            with write_transaction() as session:
                now = utcnow()
                if outcome is not None:
                    # Kept until this transaction commits: should it fail, the `finally`
                    # below records the outcome again (recording is idempotent).
                    _record(session, *outcome, now)
                job = session.get(Job, job_id)
                if not jobs.hold(session, held, now):
                    ended = True  # a recovery took the job over; its new run goes on
                elif should_stop():
                    jobs.release(session, held)
                    ended, result = True, now  # the caller queues it again, for the next worker
                elif pool is None or now - checked > POOL_CHECK:
                    pool, checked = pools.load_pool(session, job.pool_id), now
                    if pool.status != PoolStatus.ACTIVE:
                        close(session, job, JobState.FAILED, now)
                        job.error = (f"The pool was {pool.status} during the send; the rest was "
                                     "not sent. Send again once it is active.")
                        ended = True
                row = None
                if not ended:
                    row = _take(session, job_id, now)
                    if row is None and _prepare(session, job, pool, now, cache):
                        row = _take(session, job_id, now)
                        prepared_only = row is None  # a batch of skips: commit, prepare the next
                    else:
                        prepared_only = False
                    if row is None and not prepared_only:
                        ended, result = True, _settle(session, held, job, now)
                if row is not None:
                    item = _load(session, row, pool, cache)
                    if composer is None:
                        composer = Composer(pool, voucher_url_maker(), customer_url_maker(), html,
                                            channels.settings(pool.id), brand.current())
                        sender = Sender(job.channel, current_app.config)
            outcome = None  # committed
            if ended:
                return result
            if row is None:
                continue
            if len(session.identity_map) > 2000:
                session.expunge_all()  # a long send must not keep every customer it met
                pool = None
            outcome = _hand_over(sender, composer, item)
    finally:
        if outcome is not None:
            with write_transaction() as session:
                _record(session, *outcome, utcnow())
        if sender is not None:
            sender.close()


def _hand_over(sender: Sender, composer: Composer, item: Prepared) -> tuple:
    """Compose the message and hand it over: the outcome to record. A message that could
    not be composed never left, so it fails at once; an unexpected error while handing it
    over propagates and leaves the row `sending` (in doubt) for the recovery."""
    try:
        message = sender.compose(composer, item)
    except Exception as exc:  # noqa: BLE001
        error = transports.DeliveryError(f"The message could not be composed: {exc}", transient=False)
        return item.delivery_id, item.attempts, error
    try:
        sender.hand_over(message)
    except transports.DeliveryError as exc:
        return item.delivery_id, item.attempts, exc
    return item.delivery_id, item.attempts, None
