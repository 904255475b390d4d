"""Working through a send: one delivery per customer and transport, ever, over several
connections at once.

A run claims the send job with a token of its own (`jobs.claim`), so a duplicated
queue message or a mistaken recovery never runs the job twice at once. It then opens
its connections (SMTP_CONNECTIONS for email, one for SMS and webhooks): a thread each,
with its own connection to the server, its own database session and its own rows.
Each takes one queued row at a time (`sending`) and commits, hands the message over,
and records the outcome in the transaction that takes its next row, which also checks
that the run still holds the job (`deliveries`). So a retried job never repeats a
message that was sent, and a worker that dies leaves at most one message in doubt per
connection: the recovery marks those rows `failed: interrupted` (they may have gone
out) instead of sending them again.

A provider that answers 429 or 503 with Retry-After pauses the whole send: no
connection takes another row until then, and the job waits (`deliveries.settle`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from flask import current_app

from ...extensions import db
from ...models import Job, JobState, PoolStatus, Transport, utcnow
from .. import brand, channels, jobs, pools, transports
from ..links import customer_url_maker, voucher_url_maker
from ..tx import is_postgresql, write_transaction
from . import deliveries
from .compose import Composer, Prepared, Sender, VoucherHtml
from .pacing import Pace
from .report import close

# How often a connection re-reads its pool (a pause stops the send), and how often the
# run tells the recovery it is alive.
POOL_CHECK = timedelta(seconds=1)
HEARTBEAT = timedelta(seconds=1)
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def _never() -> bool:
    return False


def connections(transport: str, config: Mapping) -> int:
    """How many messages of a send on this transport are handed over at once."""
    return max(1, int(config.get("SMTP_CONNECTIONS") or 1)) if transport == Transport.EMAIL else 1


class _Run:
    """What the connections of one run of a send share."""

    def __init__(self, held: jobs.Claim, job: Job, html: VoucherHtml, should_stop: Callable[[], bool],
                 config: Mapping) -> None:
        self.held, self.job_id, self.pool_id, self.channel = held, job.id, job.pool_id, job.channel
        self.html, self.should_stop, self.config = html, should_stop, config
        self.cache: dict[int, Prepared] = {}  # rows whose codes this run chose, by id
        # Two connections may choose codes at once on PostgreSQL (each takes other rows);
        # on SQLite, whose writers take turns, one.
        self.preparing = threading.Semaphore(2 if is_postgresql() else 1)
        self.prepared_all = False  # no row of the job is left without its code
        self.lock = threading.Lock()
        self.why: str | None = None  # "lost", "inactive" or "error" once the run must end
        self.errors: list[BaseException] = []
        self.paused_until = job.paused_until
        self.throttled = job.throttled_since is not None
        self.beat = utcnow()
        self.pace = Pace(job.channel, config)
        # SQLite has one writer at a time: the run's connections take turns at a lock of
        # their own, handed over at once, rather than in SQLite's busy wait, which
        # sleeps longer and longer (up to 100 ms) while another writes.
        self.writing = threading.Lock() if not is_postgresql() else contextlib.nullcontext()

    def end(self, why: str) -> None:
        with self.lock:
            self.why = self.why or why

    def stopping(self) -> bool:
        return self.why is not None or self.should_stop()

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now

    def beat_due(self, now: datetime) -> bool:
        """Whether this connection should show the run alive now (one does, each second)."""
        with self.lock:
            if now - self.beat < HEARTBEAT:
                return False
            self.beat = now
            return True

    def recorded(self, session, outcome: tuple, paused: datetime | None) -> None:  # noqa: ANN001
        """Keep what the provider said about a message: a pause, or the end of one."""
        with self.lock:
            if paused is not None:
                self.paused_until = max(self.paused_until or paused, paused)
                self.throttled = True
                return
            accepted = outcome[2] is None and self.throttled
            self.throttled = self.throttled and not accepted
        if accepted:
            deliveries.provider_accepts(session, self.job_id)

    def prepare(self) -> bool:
        """Choose the codes of the next batch of rows; False when none is left (or the run
        no longer holds the job). When as many connections as may are preparing already,
        wait for one of them and take what it prepared."""
        if not self.preparing.acquire(blocking=False):
            with self.preparing:
                return True
        try:
            return self._prepare()
        finally:
            self.preparing.release()

    def prepare_ahead(self, before: Callable[[], None]) -> None:
        """While the other connections send, choose the next batch's codes once the rows
        this run prepared run low, so that they never wait for a batch (calling `before`
        first, when it does)."""
        if self.prepared_all or len(self.cache) >= deliveries.PREPARE_BATCH // 2 or self.stopping():
            return
        if self.preparing.acquire(blocking=False):
            try:
                before()
                self._prepare()
            finally:
                self.preparing.release()

    def _prepare(self) -> bool:
        with self.writing, write_transaction() as session:
            now = utcnow()
            if not deliveries.holds(session, self.held):
                self.end("lost")
                return False
            job = session.get(Job, self.job_id)
            pool = pools.load_pool(session, self.pool_id)
            found = bool(deliveries.prepare(session, job, pool, now, self.cache))
        self.prepared_all = self.prepared_all or not found
        return found

    def finish(self) -> datetime | None:
        """After every connection stopped: end the job, hand it back, or leave it to the
        run that took it over. Returns when the job should run again."""
        if self.errors:
            raise self.errors[0]  # left running: the recovery takes the job over
        if self.why == "lost":
            return None
        with write_transaction() as session:
            now = utcnow()
            job = session.get(Job, self.job_id, populate_existing=True)
            if not jobs.hold(session, self.held, now):
                return None  # a recovery took the job over; its new run goes on
            if self.why == "inactive":
                pool = pools.load_pool(session, self.pool_id)
                close(session, job, JobState.FAILED, now)
                job.error = (f"The pool was {pool.status} during the send; the rest was "
                             "not sent. Send again once it is active.")
                return None
            # Stopping or not, the same: done, or back to the queue, or waiting.
            return deliveries.settle(session, self.held, job, now)


def process_send(job_id: int, html: VoucherHtml, *, worker: str | None = None,
                 should_stop: Callable[[], bool] = _never) -> datetime | None:
    """Run a send job until nothing is left to send now, if no other run holds it.

    `html` draws an email's HTML part; `should_stop` is asked between two messages (a
    worker shutting down), and a stopping run hands the job back to the queue. Returns
    when the job should run again (its retries are due, its provider's pause ends, or
    it was handed back), or None when it has ended or another run holds it.
    """
    held = jobs.claim(job_id, worker)
    if held is None:
        return None
    config = current_app.config
    job = db.session.get(Job, job_id, populate_existing=True)
    run = _Run(held, job, html, should_stop, config)
    app = current_app._get_current_object()

    def connection() -> None:
        with app.app_context():
            _connection(run)

    others = [threading.Thread(target=connection, name=f"send-{job_id}-{n}", daemon=True)
              for n in range(1, min(connections(job.channel, config), max(job.total, 1)))]
    for thread in others:
        thread.start()
    try:
        _connection(run)
    finally:
        for thread in others:
            thread.join()
    return run.finish()


def _connection(run: _Run) -> None:
    """One connection's loop: take a row, hand its message over, record it with the next."""
    outcome: tuple | None = None
    sender: Sender | None = None
    composer: Composer | None = None
    pool = None
    checked = _LONG_AGO
    # The common case, a message that went out recorded and the next row taken, runs on
    # a database connection of this connection's own (`deliveries.Line`), given back
    # before anything here uses the session: one database connection at a time.
    line = deliveries.Line()
    try:
        while True:
            if not run.stopping() and not run.paused(utcnow()):
                run.pace.wait(run.stopping)
            row = None
            now = utcnow()
            beat = run.beat_due(now)
            if (outcome is not None and outcome[2] is None and not beat
                    and not run.throttled and pool is not None and now - checked <= POOL_CHECK
                    and not run.stopping() and not run.paused(now)):
                with run.writing:
                    row = line.sent_then_take(run.held, outcome[0], now)
                outcome = None  # committed
                if row is not None:
                    item = _load_taken(row, pool, run, line)
            else:
                line.release()
                row, pool, checked, composer, sender, outcome = _the_long_way(
                    run, outcome, beat, pool, checked, composer, sender)
                if row is not None:
                    row, item = row
            if row is None:
                line.release()
                if run.stopping() or run.paused(utcnow()) or not run.prepare():
                    return
                continue
            if len(db.session.identity_map) > 2000:
                db.session.expunge_all()  # a long send must not keep every customer it met
                pool = None
            outcome = _hand_over(sender, composer, item)
            run.prepare_ahead(before=line.release)
    except BaseException as exc:  # noqa: BLE001 - raised again by run.finish, after the others stop
        run.errors.append(exc)
        run.end("error")
    finally:
        try:
            line.release()
            if outcome is not None:
                with run.writing, write_transaction() as session:
                    run.recorded(session, outcome,
                                 deliveries.record(session, run.job_id, *outcome, utcnow()))
        finally:
            if sender is not None:
                sender.close()


def _load_taken(row, pool, run: _Run, line: deliveries.Line) -> Prepared:  # noqa: ANN001
    """The message data of a row taken the quick way. A row this run did not prepare is
    read in a transaction that ends at once (committed: its objects stay loaded); should
    that fail, the row goes back to the queue, as it never left."""
    try:
        prepared = row.id in run.cache
        if not prepared:
            line.release()
        item = deliveries.load(db.session, row, pool, run.cache)
        if not prepared:
            db.session.commit()
        return item
    except BaseException:
        line.release()
        db.session.rollback()
        with write_transaction() as session:
            deliveries.give_back(session, row.id)
        raise


def _the_long_way(run: _Run, outcome: tuple | None, beat: bool, pool, checked: datetime,  # noqa: ANN001
                  composer: Composer | None, sender: Sender | None) -> tuple:
    """Record the last outcome and take the next row in a transaction, checking what the
    quick way does not: the run's hold on the job (each second), the pool (a pause stops
    the send), a provider's pause. Returns (row and its message data, or None), and the
    connection's state."""
    row = None
    with run.writing, write_transaction() as session:
        now = utcnow()
        if outcome is not None:
            # Kept until this transaction commits: should it fail, the connection's
            # `finally` records the outcome again (recording is idempotent).
            run.recorded(session, outcome, deliveries.record(session, run.job_id, *outcome, now))
        if beat and not jobs.hold(session, run.held, now):
            run.end("lost")
        if not run.stopping() and not run.paused(now):
            if pool is None or now - checked > POOL_CHECK:
                pool, checked = pools.load_pool(session, run.pool_id), now
                if pool.status != PoolStatus.ACTIVE:
                    run.end("inactive")
            taken = None if run.stopping() else deliveries.take(session, run.held, now)
            if taken is not None:
                row = taken, deliveries.load(session, taken, pool, run.cache)
                if composer is None:
                    composer = Composer(pool, voucher_url_maker(), customer_url_maker(), run.html,
                                        channels.settings(pool.id), brand.current())
                    sender = Sender(run.channel, run.config)
    return row, pool, checked, composer, sender, None


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
