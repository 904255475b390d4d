"""A send's delivery rows, one statement each: choosing their codes, taking the next
one for a connection, recording what happened to it, and settling the job when none
is left to take.

Each (pool, customer, transport) has one delivery row (a unique constraint). A row is
taken (`sending`) and committed before its message is handed over, and what happened
is recorded in the transaction that takes the connection's next row. So a connection
that dies leaves at most the one message it was handing over in doubt.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import (
    Code,
    CodeStatus,
    Customer,
    Delivery,
    DeliveryState,
    Job,
    JobState,
    Pool,
    UTCDateTime,
)
from .. import jobs, pools, transports
from ..assignment import give_each
from ..codes import effective_expiry
from ..times import as_utc
from ..tx import DriverStatement, is_postgresql
from .compose import Prepared
from .report import close

_deliveries = Delivery.__table__
_jobs = Job.__table__
PREPARE_BATCH = 100
INTERRUPTED = ("An earlier run stopped while handing this message over; it may have gone out, so "
               "it is not sent again on its own.")


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
        # Each connection of the send takes another row instead of queuing behind one.
        pick = pick.with_for_update(skip_locked=True)
    # Only while the run still holds the job: a recovery that took it over wins. A
    # read, not a write, so that a send's connections do not queue on the job's row.
    held = exists().where(_jobs.c.id == bindparam("for_job"), _jobs.c.state == JobState.RUNNING.value,
                          _jobs.c.worker == bindparam("token"))
    return (update(_deliveries)
            .where(_deliveries.c.id == pick.scalar_subquery(),
                   _deliveries.c.state == DeliveryState.QUEUED.value, held)
            .values(state=DeliveryState.SENDING.value, attempts=_deliveries.c.attempts + 1,
                    updated_at=bindparam("at", type_=UTCDateTime()))
            .returning(_deliveries.c.id, _deliveries.c.customer_id, _deliveries.c.attempts,
                       _deliveries.c.code_id))


# Built once: at hundreds of messages a second, building the statements showed.
_CLAIM = {True: _claim_statement(True), False: _claim_statement(False)}
_SENT = (update(_deliveries)
         .where(_deliveries.c.id == bindparam("row_id"),
                # Not `in_`: an expanding list would need compiling per execution.
                or_(_deliveries.c.state == DeliveryState.SENDING.value,
                    _deliveries.c.state == DeliveryState.FAILED.value))
         .values(state=DeliveryState.SENT.value, sent_at=bindparam("at", type_=UTCDateTime()),
                 reason=None, error=None, updated_at=bindparam("at", type_=UTCDateTime())))


_CHOSEN = (update(_deliveries).where(_deliveries.c.id == bindparam("row_id"))
           .values(code_id=bindparam("code_id")))


def _sent_then_claim():  # noqa: ANN202
    """PostgreSQL: record one message sent and take the next row, in one statement (the
    record is a data-modifying CTE, run whether or not the claim finds a row)."""
    sent = _SENT.returning(_deliveries.c.id).cte("sent")
    taken = _CLAIM[True].cte("taken")
    return select(taken).add_cte(sent)


_SENT_THEN_CLAIM = _sent_then_claim()
# A row taken, as the claim returns it.
Taken = namedtuple("Taken", "id customer_id attempts code_id")


class Line:
    """A send connection's own database connection, on which the common step of a send —
    a message recorded as sent and the next row taken — runs through the driver, with
    the statements compiled once: PostgreSQL runs both as one statement, its own
    transaction (one round trip and one durable commit, where `record` and `take` in a
    transaction take four); SQLite as one write transaction (the caller takes the run's
    turn at writing). The same guarantees as `record` and `take`: the row taken is
    `sending` once this returns.

    The connection is taken from the pool when needed and given back (`release`) before
    the send connection uses its session, so that each holds one at a time."""

    def __init__(self) -> None:
        self.connection = None

    def _open(self) -> None:
        connection = db.engine.connect()
        self.postgresql = connection.dialect.name == "postgresql"
        if self.postgresql:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        self.connection = connection
        self.driver = connection.connection.driver_connection
        self.cursor = self.driver.cursor()
        dialect = connection.dialect
        key = (dialect.name, dialect.server_version_info)
        if key not in _COMPILED:
            _COMPILED[key] = ((DriverStatement(_SENT_THEN_CLAIM, dialect),) if self.postgresql else
                              (DriverStatement(_SENT, dialect), DriverStatement(_CLAIM[False], dialect)))
        self.statements = _COMPILED[key]

    def sent_then_take(self, held: jobs.Claim, delivery_id: int, now: datetime) -> Taken | None:
        if self.connection is None:
            self._open()
        values = {"row_id": delivery_id, "for_job": held.job_id, "token": held.token, "at": now}
        if self.postgresql:
            row = self.statements[0].execute(self.cursor, values).fetchone()
        else:
            sent, claim = self.statements
            self.driver.execute("BEGIN IMMEDIATE")
            try:
                sent.execute(self.cursor, values)
                row = claim.execute(self.cursor, values).fetchone()
                self.driver.execute("COMMIT")
            except BaseException:
                if self.driver.in_transaction:
                    self.driver.execute("ROLLBACK")
                raise
        return None if row is None else Taken(*row)

    def release(self) -> None:
        """Give the connection back to the pool (it is taken again when next needed)."""
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                self.cursor.close()
            finally:
                connection.close()


_COMPILED: dict[tuple, tuple[DriverStatement, ...]] = {}


def give_back(session: Session, delivery_id: int) -> None:
    """A row taken but never handed over goes back to the queue."""
    sending = _deliveries.c.state == DeliveryState.SENDING.value
    session.execute(update(_deliveries).where(_deliveries.c.id == delivery_id, sending)
                    .values(state=DeliveryState.QUEUED.value, attempts=_deliveries.c.attempts - 1))


def holds(session: Session, held: jobs.Claim) -> bool:
    """Whether the run still holds the job: a read, which leaves the job's row free."""
    return bool(session.execute(select(exists().where(
        _jobs.c.id == held.job_id, _jobs.c.state == JobState.RUNNING.value,
        _jobs.c.worker == held.token))).scalar())


def take(session: Session, held: jobs.Claim, now: datetime):  # noqa: ANN201
    """Take the job's next prepared delivery (its code chosen) that is due: `sending`.
    None when there is none, or the run no longer holds the job."""
    # On the session's connection: the ORM adds nothing to these statements but time.
    return session.connection().execute(
        _CLAIM[is_postgresql()], {"for_job": held.job_id, "token": held.token, "at": now}).first()


def _finish(session: Session, delivery_id: int, state: str, now: datetime, *conditions,  # noqa: ANN002
            **values) -> None:  # noqa: ANN003
    session.execute(update(_deliveries).where(_deliveries.c.id == delivery_id, *conditions)
                    .values(state=state, updated_at=now, **values))


def prepare(session: Session, job: Job, pool: Pool, now: datetime, cache: dict[int, Prepared]) -> int:
    """Choose the codes of the job's next queued deliveries in one transaction: a code
    the customer holds, or one assigned now; those with nothing to send are skipped.
    Prepared rows stay queued, so a worker dying here leaves nothing half-sent."""
    pick = (select(_deliveries.c.id, _deliveries.c.customer_id)
            .where(_deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.QUEUED.value,
                   _deliveries.c.code_id.is_(None))
            .order_by(_deliveries.c.id).limit(PREPARE_BATCH))
    if is_postgresql():
        pick = pick.with_for_update(skip_locked=True)  # another connection prepares other rows
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
    reasons = {row.id: _skip_reason(job.channel, customers[row.customer_id]) for row in rows}
    # Codes for all who are to get a message, in a few statements for the batch.
    codes = give_each(session, pool, [(row.customer_id, customers[row.customer_id].external_id)
                                      for row in rows if reasons[row.id] is None])
    given = 0
    chosen, skipped = [], {}
    for row in rows:
        code = codes.get(row.customer_id)
        reason = reasons[row.id] or ("pool_exhausted" if code is None
                                     else "redeemed" if code.status != CodeStatus.ASSIGNED else None)
        if reason is not None:
            skipped.setdefault(reason, []).append(row.id)
            continue
        given += code.new
        chosen.append({"row_id": row.id, "code_id": code.code_id})
        cache[row.id] = Prepared(row.id, 0, customers[row.customer_id], code.code, code.code_id,
                                 code.expires_at)
    if chosen:
        session.connection().execute(_CHOSEN, chosen)
    for reason, ids in skipped.items():
        session.execute(update(_deliveries).where(_deliveries.c.id.in_(ids))
                        .values(state=DeliveryState.SKIPPED.value, updated_at=now, reason=reason))
    if given:
        pools.adjust_counts(session, pool.id, pool=pool, available=-given, assigned=given)
    return len(rows)


def load(session: Session, row, pool: Pool, cache: dict[int, Prepared]) -> Prepared:  # noqa: ANN001
    """The claimed delivery's message data: prepared by this run, or read back."""
    item = cache.pop(row.id, None)
    if item is None:
        customer = session.get(Customer, row.customer_id)
        code = session.get(Code, row.code_id)
        item = Prepared(row.id, 0, customer, code.code, code.id,
                        effective_expiry(code.expires_at, pool.valid_until))
    item.attempts = row.attempts
    return item


def record(session: Session, job_id: int, delivery_id: int, attempts: int,
           error: transports.DeliveryError | None, now: datetime) -> datetime | None:
    """Record what happened to a message this run handed over. It is the truth about a
    message that left, so it is written even when a recovery took the job meanwhile.
    Returns the time the provider paused the send until, when it asked to wait."""
    if error is None:
        # Also over an `interrupted` mark a recovery made while this run was slow.
        session.connection().execute(_SENT, {"row_id": delivery_id, "at": now})
        return None
    config = current_app.config
    # Conditional on `sending`: recording the same outcome twice changes nothing.
    sending = _deliveries.c.state == DeliveryState.SENDING.value
    if error.retry_after is not None:
        return _asked_to_wait(session, job_id, delivery_id, attempts, error, now)
    if error.transient and attempts < config["DELIVERY_ATTEMPTS"]:
        delay = config["DELIVERY_RETRY_SECONDS"] * 2 ** (attempts - 1)
        _finish(session, delivery_id, DeliveryState.QUEUED.value, now, sending,
                not_before=now + timedelta(seconds=delay), error=error.message[:2000])
    else:
        _finish(session, delivery_id, DeliveryState.FAILED.value, now, sending,
                reason="error", error=error.message[:2000])
    return None


def _asked_to_wait(session: Session, job_id: int, delivery_id: int, attempts: int,
                   error: transports.DeliveryError, now: datetime) -> datetime | None:
    """The provider asked the send to wait (Retry-After): the message goes back to the
    queue without using up an attempt, and the whole send pauses until then. Once the
    provider has kept it waiting longer than PROVIDER_MAX_WAIT, the rest fail with
    `provider_throttled` (sending again takes them up)."""
    job = session.get(Job, job_id, populate_existing=True, with_for_update=is_postgresql())
    until = now + timedelta(seconds=error.retry_after)
    since = job.throttled_since or now
    most = current_app.config["PROVIDER_MAX_WAIT"]
    sending = _deliveries.c.state == DeliveryState.SENDING.value
    if (until - since).total_seconds() > most:
        message = (f"The provider asked the send to wait for longer than PROVIDER_MAX_WAIT ({most} s), "
                   f"so the rest was not sent; send again later. Its last answer: {error.message}")[:2000]
        _finish(session, delivery_id, DeliveryState.FAILED.value, now, sending,
                reason="provider_throttled", error=message)
        session.execute(update(_deliveries).where(
            _deliveries.c.job_id == job_id, _deliveries.c.state == DeliveryState.QUEUED.value)
            .values(state=DeliveryState.FAILED.value, reason="provider_throttled", error=message,
                    updated_at=now))
        job.paused_until = job.throttled_since = None
        return None
    _finish(session, delivery_id, DeliveryState.QUEUED.value, now, sending, attempts=attempts - 1,
            not_before=until, error=error.message[:2000])
    job.throttled_since = since
    job.paused_until = max(job.paused_until or until, until)
    return job.paused_until


def provider_accepts(session: Session, job_id: int) -> None:
    """The provider took a message again: it no longer holds the send."""
    session.execute(update(_jobs).where(_jobs.c.id == job_id, or_(
        _jobs.c.throttled_since.is_not(None), _jobs.c.paused_until.is_not(None)))
        .values(throttled_since=None, paused_until=None))


def settle(session: Session, held: jobs.Claim, job: Job, now: datetime) -> datetime | None:
    """Nothing left to take now: the job is done, or waits for a retry or for the end of
    its provider's pause (returns when to run it again)."""
    session.execute(update(_deliveries).where(
        _deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.FAILED.value, reason="interrupted", updated_at=now,
                error=INTERRUPTED))
    left, soonest, timed = session.execute(
        select(func.count(), func.min(_deliveries.c.not_before), func.count(_deliveries.c.not_before))
        .where(_deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.QUEUED.value)).one()
    if not left:
        job.paused_until = job.throttled_since = None
        close(session, job, JobState.DONE, now)
        return None
    due = now if timed < left or soonest is None else as_utc(soonest)
    paused = job.paused_until
    if paused is not None and paused > due:
        due = paused
    if due <= now:
        jobs.release(session, held)
        return now  # due rows a moment ago out of reach: run again at once
    jobs.release(session, held, JobState.WAITING)
    return due
