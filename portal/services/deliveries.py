"""Sending a campaign (stage 4): one delivery per customer and channel, ever.

Each (pool, customer, channel) has one delivery row (a unique constraint). A send
job walks its queued rows: it takes one (`sending`) and commits, hands the message
to the channel, then records the outcome in the transaction that takes the next.
So a retried or duplicated job never repeats a message that was sent, and a worker
that dies leaves at most the one message it was handing over in doubt: that row is
marked `failed: interrupted` (it may have gone out) instead of being sent again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import and_, bindparam, func, insert, literal, or_, select, union, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import (
    SEND_CHANNELS,
    Audience,
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
from . import channels, pools, transports
from .assignment import assign_to
from .customers import CustomerData
from .errors import InvalidInput, NotFound, PoolUnavailable
from .links import voucher_url_maker
from .tx import is_postgresql, write_transaction

_deliveries = Delivery.__table__
# Skipped for a reason that may have changed since: consent given, pool refilled.
REQUEUED = (DeliveryState.QUEUED.value, DeliveryState.SKIPPED.value, DeliveryState.FAILED.value)
PREPARE_BATCH = 100
# How often a send re-reads its job and pool and shows it is alive.
HEARTBEAT = timedelta(seconds=1)


def _never() -> bool:
    return False


# Set by the worker when it is asked to stop: a send then puts its job back on the
# queue between two messages instead of being cut off in the middle of one.
stop_requested: Callable[[], bool] = _never


def worker_name() -> str:
    """host:pid of this process, which the recovery uses to tell a dead worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _check_channel(channel: str) -> None:
    if channel not in SEND_CHANNELS:
        raise InvalidInput(f"Unknown channel {channel}; use email, sms or webhook.", field="channel")
    if not transports.configured(current_app.config, channel):
        raise InvalidInput(f"The {channel} channel is not configured; an admin sets it up "
                           "in the server's environment.", field="channel",
                           reason="channel_not_configured")


def start_send(pool_id: int, channel: str, *, user_id: int | None = None,
               resend_interrupted: bool = False) -> tuple[Job, bool]:
    """Queue the pool's campaign on a channel: (job, created).

    Every customer in the campaign without a sent message on the channel gets a
    queued delivery (skipped and failed ones are tried again). While a send of the
    pool on that channel is under way, the same job comes back with created=False.
    """
    _check_channel(channel)
    with write_transaction() as session:
        query = select(Pool).where(Pool.id == pool_id)
        pool = session.scalars(query.with_for_update() if is_postgresql() else query).first()
        if pool is None:
            raise NotFound(f"There is no pool {pool_id}.", reason="unknown_pool")
        if pool.status != PoolStatus.ACTIVE:
            raise PoolUnavailable(f"The pool “{pool.name}” is {pool.status}; it sends nothing.",
                                  reason="pool_inactive")
        running = session.scalars(select(Job).where(
            Job.pool_id == pool_id, Job.channel == channel,
            Job.state.in_((JobState.QUEUED, JobState.RUNNING, JobState.WAITING)))).first()
        if running is not None:
            return running, False
        now = utcnow()
        job = Job(kind="send", pool_id=pool_id, channel=channel, user_id=user_id,
                  state=JobState.QUEUED.value, created_at=now)
        session.add(job)
        session.flush()
        members = union(
            select(Audience.customer_id).where(Audience.pool_id == pool_id),
            select(Code.customer_id).where(Code.pool_id == pool_id, Code.customer_id.is_not(None)),
        ).subquery()
        known = select(_deliveries.c.customer_id).where(
            _deliveries.c.pool_id == pool_id, _deliveries.c.channel == channel)
        session.execute(insert(_deliveries).from_select(
            ["pool_id", "customer_id", "channel", "state", "job_id", "attempts", "updated_at"],
            select(literal(pool_id), members.c.customer_id, literal(channel),
                   literal(DeliveryState.QUEUED.value), literal(job.id), literal(0),
                   literal(now, UTCDateTime()))
            .where(members.c.customer_id.not_in(known))
            .order_by(members.c.customer_id)))
        again = and_(_deliveries.c.state.in_(REQUEUED),
                     or_(_deliveries.c.reason.is_(None), _deliveries.c.reason != "interrupted"))
        if resend_interrupted:
            again = or_(again, _deliveries.c.reason == "interrupted")
        session.execute(update(_deliveries).where(
            _deliveries.c.pool_id == pool_id, _deliveries.c.channel == channel, again,
            _deliveries.c.job_id != job.id,
        ).values(state=DeliveryState.QUEUED.value, job_id=job.id, attempts=0, not_before=None,
                 reason=None, error=None, updated_at=now))
        job.total = session.execute(select(func.count()).where(_deliveries.c.job_id == job.id)).scalar_one()
        if job.total == 0:
            job.state, job.started_at, job.finished_at = JobState.DONE.value, now, now
    return job, True


@dataclass
class Prepared:
    """A claimed delivery with everything its message needs."""

    delivery_id: int
    attempts: int
    customer: Customer
    code: str
    code_id: int
    expires: datetime | None


@dataclass
class Outcome:
    delivery_id: int
    attempts: int
    error: transports.DeliveryError | None = None


@dataclass
class Composer:
    """Turns a pool's saved messages into each customer's message."""

    pool: Pool
    link: Callable[[int], str]
    settings: dict = field(default_factory=dict)

    def values(self, item: Prepared) -> dict[str, str]:
        return {"code": item.code, "first_name": item.customer.first_name or "",
                "benefit": self.pool.benefit or self.pool.name,
                "expires_at": item.expires.strftime("%d %b %Y") if item.expires else "no end date",
                "voucher_url": self.link(item.code_id)}

    def email(self, to: str, values: dict[str, str], message_id: str | None = None) -> transports.Email:
        setting = self.settings["email"]
        subject = channels.render(setting.subject, values)
        body = channels.render(setting.body, values)
        text = body + (f"\n\n-- \n{setting.footer}" if setting.footer else "")
        html = render_template("email/voucher.html", body=body, footer=setting.footer,
                               values=values, pool=self.pool)
        return transports.Email(to, subject, text, html, message_id)

    def sms(self, values: dict[str, str]) -> str:
        setting = self.settings["sms"]
        text = channels.render(setting.body, values)
        return text + (f" {setting.footer}" if setting.footer else "")

    def webhook(self, item: Prepared, values: dict[str, str]) -> dict:
        c = item.customer
        return {"delivery_id": item.delivery_id,
                "pool": {"id": self.pool.id, "name": self.pool.name, "benefit": values["benefit"]},
                "customer": {"customer_id": c.external_id, "email": c.email, "phone": c.phone,
                             "first_name": c.first_name, "last_name": c.last_name,
                             "email_consent": c.email_consent, "sms_consent": c.sms_consent},
                "code": item.code, "voucher_url": values["voucher_url"],
                "expires_at": item.expires.isoformat() if item.expires else None}


class Channel:
    """One channel's transport, opened lazily and kept for the whole job."""

    def __init__(self, name: str, config) -> None:  # noqa: ANN001
        self.name = name
        self.transport = {"email": transports.Mailer, "sms": transports.SmsSender,
                          "webhook": transports.WebhookSender}[name](config)

    def send(self, composer: Composer, item: Prepared) -> None:
        values = composer.values(item)
        reference = f"delivery-{item.delivery_id}"
        if self.name == "email":
            self.transport.send(composer.email(item.customer.email, values,
                                               f"<{reference}@voucher-portal>"))
        elif self.name == "sms":
            self.transport.send(item.customer.phone, composer.sms(values), reference)
        else:
            self.transport.send("voucher.issued", composer.webhook(item, values), reference)

    def close(self) -> None:
        self.transport.close()


def _skip_reason(channel: str, customer: Customer) -> str | None:
    if channel == "email":
        if not customer.email_consent:
            return "no_consent"
        return None if customer.email else "no_address"
    if channel == "sms":
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


def _claim(session: Session, job_id: int, now: datetime):  # noqa: ANN202
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
    if is_postgresql():
        pick = pick.with_for_update(skip_locked=True)
    rows = session.execute(pick).all()
    if not rows:
        return 0
    query = (select(Customer).where(Customer.id.in_([row.customer_id for row in rows]))
             .order_by(Customer.id))
    if is_postgresql():
        # The customers' rows are locked (in id order) as an assignment's upsert locks
        # them: a send on another channel, or a till, waits instead of giving a second code.
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
        ends = [t for t in (code.expires_at, pool.valid_until) if t]
        cache[row.id] = Prepared(row.id, 0, customer, code.code, code.code_id, min(ends) if ends else None)
    if given:
        pools.adjust_counts(session, pool.id, pool=pool, available=-given, assigned=given)
    return len(rows)


def _load(session: Session, row, pool: Pool, cache: dict[int, Prepared]) -> Prepared:  # noqa: ANN001
    """The claimed delivery's message data: prepared by this worker, or read back."""
    item = cache.pop(row.id, None)
    if item is None:
        customer = session.get(Customer, row.customer_id)
        code = session.get(Code, row.code_id)
        ends = [t for t in (code.expires_at, pool.valid_until) if t]
        item = Prepared(row.id, 0, customer, code.code, code.id, min(ends) if ends else None)
    item.attempts = row.attempts
    return item


def _record(session: Session, outcome: Outcome, now: datetime) -> None:
    config = current_app.config
    error = outcome.error
    if error is None:
        # Also over an `interrupted` mark a recovery made while this send was slow.
        session.execute(_SENT, {"row_id": outcome.delivery_id, "at": now})
        return
    # Conditional on `sending`: recording the same outcome twice changes nothing.
    sending = _deliveries.c.state == DeliveryState.SENDING.value
    if error.transient and outcome.attempts < config["DELIVERY_ATTEMPTS"]:
        delay = config["DELIVERY_RETRY_SECONDS"] * 2 ** (outcome.attempts - 1)
        _finish(session, outcome.delivery_id, DeliveryState.QUEUED.value, now, sending,
                not_before=now + timedelta(seconds=delay), error=error.message[:2000])
    else:
        _finish(session, outcome.delivery_id, DeliveryState.FAILED.value, now, sending,
                reason="error", error=error.message[:2000])


def _checked_job(session: Session, job_id: int, worker: str, now: datetime) -> tuple[Job | None, Pool]:
    """Re-read the job and its pool, and show this worker is alive: (None, pool) when the
    job must stop here (ended elsewhere, pool paused, worker stopping)."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.state in (JobState.DONE, JobState.FAILED):
        return None, None
    pool = session.get(Pool, job.pool_id, populate_existing=True)
    if job.state != JobState.RUNNING or job.worker != worker:
        job.state, job.worker = JobState.RUNNING.value, worker
        job.started_at = job.started_at or now
    job.heartbeat_at = now
    if pool.status != PoolStatus.ACTIVE:
        _close(session, job, JobState.FAILED, now)
        job.error = (f"The pool was {pool.status} during the send; the rest was not "
                     "sent. Send again once it is active.")
        return None, pool
    return job, pool


def _counts(session: Session, job_id: int) -> list[list]:
    return [list(row) for row in session.execute(
        select(_deliveries.c.state, _deliveries.c.reason, func.count())
        .where(_deliveries.c.job_id == job_id)
        .group_by(_deliveries.c.state, _deliveries.c.reason))]


def _errors(session: Session, job_id: int) -> list[list]:
    """The job's five commonest errors, with how often each happened."""
    return [list(row) for row in session.execute(
        select(_deliveries.c.error, func.count()).where(
            _deliveries.c.job_id == job_id, _deliveries.c.error.is_not(None))
        .group_by(_deliveries.c.error).order_by(func.count().desc()).limit(5))]


def _close(session: Session, job: Job, state: JobState, now: datetime) -> None:
    """End the job, keeping its final counts: a later send takes over its failed and
    skipped deliveries, and this job's report must not change when it does."""
    job.state, job.finished_at = state.value, now
    job.details = {**(job.details or {}), "counts": _counts(session, job.id),
                   "errors": _errors(session, job.id)}


def _settle(session: Session, job: Job, now: datetime) -> datetime | None:
    """Nothing to claim: the job is done, waits for a retry, or another processor of
    the same job (a duplicate queue message) holds its last rows and will finish it."""
    left = session.execute(
        select(_deliveries.c.state, func.count(), func.min(_deliveries.c.not_before),
               func.count(_deliveries.c.not_before))
        .where(_deliveries.c.job_id == job.id,
               _deliveries.c.state.in_((DeliveryState.QUEUED.value, DeliveryState.SENDING.value)))
        .group_by(_deliveries.c.state)).all()
    if not left:
        _close(session, job, JobState.DONE, now)
        return None
    states = {state: (n, due, timed) for state, n, due, timed in left}
    queued, due, timed = states.get(DeliveryState.QUEUED.value, (0, None, 0))
    if DeliveryState.SENDING.value in states or queued > timed:
        return None  # rows in someone else's hands, or not yet prepared and locked
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    if due <= now:
        return None  # due but locked by the other processor
    job.state = JobState.WAITING.value
    return due


def process_send(job_id: int, worker: str | None = None) -> datetime | None:
    """Work through a send job until nothing is left to send now.

    Returns when its waiting deliveries are due (the caller schedules the job again
    then), or None when the job has ended.
    """
    worker = worker or worker_name()
    outcome: Outcome | None = None
    channel: Channel | None = None
    composer: Composer | None = None
    cache: dict[int, Prepared] = {}
    job = pool = None
    checked = datetime.min.replace(tzinfo=UTC)
    try:
        while True:
            with write_transaction() as session:
                now = utcnow()
                if outcome is not None:
                    # Kept until this transaction commits: should it fail, the `finally`
                    # below records the outcome again (recording is idempotent).
                    _record(session, outcome, now)
                if stop_requested():
                    session.execute(update(Job.__table__).where(
                        Job.id == job_id, Job.state == JobState.RUNNING.value, Job.worker == worker)
                        .values(state=JobState.QUEUED.value, worker=None))
                    return now  # the caller queues it again, for the next worker
                if job is None or now - checked > HEARTBEAT:
                    job, pool = _checked_job(session, job_id, worker, now)
                    checked = now
                    if job is None:
                        return None
                    channel_name = job.channel
                row = _claim(session, job_id, now)
                if row is None and _prepare(session, job, pool, now, cache):
                    row = _claim(session, job_id, now)
                    if row is None:
                        continue  # a batch of skips: commit it and prepare the next
                if row is None:
                    job, pool = _checked_job(session, job_id, worker, now)
                    if job is None:
                        return None
                    return _settle(session, job, now)
                item = _load(session, row, pool, cache)
                if composer is None:
                    composer = Composer(pool, voucher_url_maker(), channels.settings(pool.id))
            outcome = None  # committed with the claim of the next one
            if len(session.identity_map) > 2000:
                session.expunge_all()  # a long send must not keep every customer it met
                job = None
            if channel is None:
                channel = Channel(channel_name, current_app.config)
            try:
                channel.send(composer, item)
                outcome = Outcome(item.delivery_id, item.attempts)
            except transports.DeliveryError as exc:
                outcome = Outcome(item.delivery_id, item.attempts, exc)
    finally:
        if outcome is not None:
            with write_transaction() as session:
                _record(session, outcome, utcnow())
        if channel is not None:
            channel.close()


def _worker_gone(worker: str | None) -> bool:
    """True when the worker ran on this machine and its process is no longer there."""
    if not worker or ":" not in worker:
        return False
    host, _, rest = worker.partition(":")
    pid = rest.split("/")[0]  # a file job's run adds /token
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover(lease: timedelta) -> list[int]:
    """Jobs whose worker died or went silent: their in-flight delivery is marked
    interrupted and the job goes back to the queue. Returns the ids to enqueue."""
    now = utcnow()
    out = []
    with write_transaction() as session:
        jobs = session.scalars(select(Job).where(
            Job.state.in_((JobState.QUEUED, JobState.RUNNING, JobState.WAITING)))).all()
        for job in jobs:
            # A file job's import is one long transaction that cannot show signs of life;
            # it is given much longer (and its commit checks that it still holds the job).
            patience = lease * (30 if job.kind != "send" else 1)
            silent = (job.heartbeat_at or job.created_at) < now - patience
            if job.state == JobState.RUNNING and not (silent or _worker_gone(job.worker)):
                continue
            if job.state == JobState.WAITING:
                due = session.execute(select(func.min(_deliveries.c.not_before)).where(
                    _deliveries.c.job_id == job.id,
                    _deliveries.c.state == DeliveryState.QUEUED.value)).scalar_one()
                if due is not None and (due if due.tzinfo else due.replace(tzinfo=UTC)) > now - lease:
                    continue
            if job.state == JobState.QUEUED and not silent:
                continue
            session.execute(update(_deliveries).where(
                _deliveries.c.job_id == job.id, _deliveries.c.state == DeliveryState.SENDING.value)
                .values(state=DeliveryState.FAILED.value, reason="interrupted", updated_at=now,
                        error="The worker stopped while handing this message over; it may "
                              "have gone out, so it is not sent again on its own."))
            job.state, job.worker = JobState.QUEUED.value, None
            out.append(job.id)
    return out


@dataclass
class Progress:
    job: Job
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    remaining: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[str, int]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def percent(self) -> int:
        total = self.job.total
        return 100 if not total else min(100, int(self.done * 100 / total))


def progress(job_id: int) -> Progress:
    """Counts of a job's deliveries by state, with the reasons and the commonest errors."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"There is no send {job_id}.", reason="unknown_job")
    out = Progress(job)
    kept = None if job.active else (job.details or {}).get("counts")
    rows = kept if kept is not None else _counts(db.session, job_id)
    for state, reason, n in rows:
        if state == DeliveryState.SENT:
            out.sent += n
        elif state == DeliveryState.FAILED:
            out.failed += n
            out.failed_by_reason[reason or "error"] = out.failed_by_reason.get(reason or "error", 0) + n
        elif state == DeliveryState.SKIPPED:
            out.skipped += n
            out.skipped_by_reason[reason] = out.skipped_by_reason.get(reason, 0) + n
        else:
            out.remaining += n
    errors = (job.details or {}).get("errors") if kept is not None else None
    out.errors = [tuple(row) for row in (errors if errors is not None else _errors(db.session, job_id))]
    return out


def jobs_for(pool_id: int, limit: int = 10) -> list[Job]:
    """The pool's latest sends, newest first."""
    return list(db.session.scalars(select(Job).where(Job.pool_id == pool_id)
                                   .order_by(Job.id.desc()).limit(limit)))


def get_job(pool_id: int, job_id: int) -> Job:
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or job.pool_id != pool_id or job.kind != "send":
        raise NotFound(f"There is no send {job_id} for this pool.", reason="unknown_job")
    return job


def audience_size(pool_id: int) -> int:
    """How many customers the campaign reaches: its list and everyone holding a code."""
    members = union(
        select(Audience.customer_id).where(Audience.pool_id == pool_id),
        select(Code.customer_id).where(Code.pool_id == pool_id, Code.customer_id.is_not(None)),
    ).subquery()
    return db.session.execute(select(func.count()).select_from(members)).scalar_one()


def send_test(pool_id: int, channel: str, to: str) -> None:
    """Send the pool's message with a sample code to the marketer's own address or
    phone. Nothing is assigned or recorded; raises DeliveryError when it fails."""
    _check_channel(channel)
    # The same address rules as a customer's.
    checked = CustomerData(customer_id="sample", email=to if channel == "email" else None,
                           phone=to if channel == "sms" else None).checked()
    pool = pools.get_pool(pool_id)
    sample = channels.sample_values(pool)
    composer = Composer(pool, lambda _: sample["voucher_url"], channels.settings(pool_id))
    customer = Customer(external_id="sample", first_name=sample["first_name"], email=checked.email,
                        phone=checked.phone, email_consent=True, sms_consent=True)
    item = Prepared(0, 1, customer, sample["code"], 0, pool.valid_until)
    sender = Channel(channel, current_app.config)
    try:
        if channel == "email":
            email = composer.email(checked.email, composer.values(item))
            sender.transport.send(transports.Email(email.to, "[Test] " + email.subject, email.text,
                                                   email.html))
        else:
            sender.send(composer, item)
    finally:
        sender.close()
