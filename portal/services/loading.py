"""Writing a batch of new codes in short steps, so a big import never stalls the till.

SQLite has one writer at a time. An import of two million lines written in one
transaction held the write lock for most of a minute, and a redemption queued behind
it failed. So a load of codes (an import or a generation):

1. begins in one short transaction: it takes the code space (one load at a time, since
   codes are unique across every pool), checks the pool and records its batch as
   `loading`, with the highest code id so far (`code_floor`);
2. stages the candidates in temporary tables of a connection of its own, holding no
   lock on the shared tables (services/staging.py);
3. writes them into `code` in steps of about STEP_SECONDS, pausing between steps so
   that tills get their turn, the unique index leaving out codes already there; each
   step shows the load is alive;
4. goes live in one short transaction: the batch's state, the pool's counters and a
   background job's end together.

Until it is live a batch's codes count nowhere (`is_live`): not in the counts, not for
assignment, not at the till. So a file is still applied all or nothing. A load that
fails removes its codes (those above its floor); one whose process died is found by
`recover` (the worker's minute task, and the next load) and removed the same way.
On PostgreSQL the codes go in one step: a long transaction blocks nobody there.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import ColumnElement, Connection, delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..extensions import SQLITE_BEGIN, db
from ..models import BatchState, Code, ImportBatch, utcnow
from . import jobs, pools
from .actor import Actor
from .errors import Conflict
from .staging import Row, Staging
from .tx import lock_code_space, write_transaction

# How long one step may hold SQLite's write lock, and the pause after it in which a
# waiting till gets in. SQLite's busy handler polls again after 1, 2, 5, 10, 15 and 20 ms,
# then every 25 to 100 ms: a till that arrives during a step is let in at the pause after
# it, or the one after that. Steps of 25 ms spent more than half of a large import in
# pauses; at 100 ms a till waits about as long as a step and the import pauses a fifth.
STEP_SECONDS = 0.1
PAUSE_SECONDS = 0.025
FIRST_STEP, SMALLEST_STEP, LARGEST_STEP = 2_000, 500, 200_000
# A load shows it is alive at least this often while it stages a file...
BEAT_SECONDS = 5.0
# ...and one silent for this long, or whose process is gone, is taken for dead.
SILENCE = timedelta(seconds=120)
# How long a load waits for another one to finish before it gives up.
WAIT_IN_REQUEST = 30.0
WAIT_IN_BACKGROUND = 3600.0
# Rejected lines kept for the report, per reason; the counts are always complete.
KEPT_REJECTIONS = 10_000

_batches = ImportBatch.__table__
_codes = Code.__table__


def is_live(batch_id: ColumnElement) -> ColumnElement[bool]:
    """Whether a code counts, given its batch_id column: its batch has gone live."""
    unfinished = select(_batches.c.id).where(_batches.c.state != BatchState.LIVE.value)
    return or_(batch_id.is_(None), batch_id.not_in(unfinished))


class Busy(Conflict):
    reason = "codes_being_loaded"


class Load:
    """One batch of codes being written: `with Load(...) as load:`, then `stage`,
    `classify`, `write_accepted` (and `reset` for another round), `go_live`."""

    def __init__(self, pool_id: int, kind: str, source: str, actor: Actor, *,
                 job: jobs.Claim | None = None, wait: float = WAIT_IN_REQUEST) -> None:
        self.pool_id = pool_id
        self.kind = kind
        self.source = source[:500]
        self.actor = actor
        self.job = job
        self.wait = wait
        self.token = f"{jobs.worker_name()}/{uuid.uuid4().hex[:12]}"
        self.batch_id = 0
        self.floor = 0
        self.live = False
        self._beaten = time.monotonic()

    def __enter__(self) -> Load:
        self._begin()
        try:
            self.connection = db.engine.connect()
        except BaseException:
            discard(self.batch_id, self.floor, self.token)
            raise
        self.postgresql = self.connection.dialect.name == "postgresql"
        self.staging = Staging(self.connection)
        try:
            with self._step():
                self.staging.create()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.connection.in_transaction():
                self.connection.rollback()
            with self._step():
                self.staging.drop()
        finally:
            self.connection.close()
            if not self.live:
                # A failed load leaves nothing behind (a dead one is left to `recover`).
                discard(self.batch_id, self.floor, self.token)

    # 1. Begin: the code space, the pool, the batch.

    def _begin(self) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            with write_transaction() as session:
                pools.load_pool_for_codes(session, self.pool_id)
                lock_code_space(session)
                if session.scalar(select(_batches.c.id).where(
                        _batches.c.state != BatchState.LIVE.value).limit(1)) is None:
                    self.floor = session.scalar(select(func.max(_codes.c.id))) or 0
                    batch = ImportBatch(
                        pool_id=self.pool_id, kind=self.kind, source=self.source,
                        user_id=self.actor.user_id, api_key_id=self.actor.api_key_id,
                        state=BatchState.LOADING.value, loader=self.token, heartbeat_at=utcnow(),
                        code_floor=self.floor)
                    session.add(batch)
                    session.flush()
                    self.batch_id = batch.id
                    return
            if recover():
                continue
            if time.monotonic() > deadline:
                raise Busy("Another import or generation is writing codes right now; "
                           "try again in a minute.")
            time.sleep(0.25)

    # 2. Stage, in temporary tables.

    def stage(self, rows: Iterable[Row]) -> int:
        """Put candidate rows into the staging table; returns how many."""
        with self._step():
            return self.staging.add(self._beating(rows))

    def stage_block(self, first_line: int, block: str) -> int:
        """Put a block of plain lines into the staging table (Staging.add_block)."""
        self._beat_if_due()
        with self._step():
            return self.staging.add_block(first_line, block)

    def rejection_counts(self) -> dict[str, int]:
        with self._step():
            return self.staging.rejection_counts()

    def reset(self) -> None:
        with self._step():
            self.staging.reset()

    # 3. Write in steps.

    def write_staged(self, *, find_conflicts: bool = True) -> int:
        """Write the staged codes into `code`, leaving out those already there; returns
        how many went in. With find_conflicts, the lines left out are then found and
        given their reason (only when there are any: it costs a lookup a line)."""
        with self._step():
            last = self.staging.sort()
        written = self._in_steps(last, lambda first, end: self.staging.insert_codes(
            self.pool_id, self.batch_id, first, end))
        if find_conflicts:
            with self._step():
                if written < self.staging.offered():
                    self.staging.find_conflicts(self.pool_id, self.batch_id)
        return written

    def save_rejections(self) -> int:
        """Keep the first KEPT_REJECTIONS rejected lines of each reason for the report."""
        with self._step():
            total = self.staging.keep_rejections(KEPT_REJECTIONS)
        return self._in_steps(total, lambda first, last: self.staging.insert_rejections(
            self.batch_id, first, last))

    def _in_steps(self, total: int, write: Callable[[int, int], int]) -> int:
        written, done, size = 0, 0, FIRST_STEP
        while done < total:
            step = total - done if self.postgresql else min(size, total - done)
            started = time.monotonic()
            with self._step(writing=True):
                self._beat(self.connection)
                written += write(done + 1, done + step)
            took = time.monotonic() - started
            done += step
            if not self.postgresql:
                size = max(SMALLEST_STEP, min(LARGEST_STEP, int(step * STEP_SECONDS / max(took, 1e-3))))
                time.sleep(PAUSE_SECONDS)
        return written

    # 4. Go live.

    def go_live(self, finish: Callable[[Session, ImportBatch], None]) -> None:
        """Make the batch's codes count, and run `finish` in the same short transaction
        (the batch's figures, the pool's counters, a background job's end)."""
        with write_transaction() as session:
            self._beat(session)
            session.execute(update(_batches).where(_batches.c.id == self.batch_id).values(
                state=BatchState.LIVE.value, loader=None, heartbeat_at=None))
            finish(session, session.get(ImportBatch, self.batch_id, populate_existing=True))
        self.live = True

    # Signs of life.

    @contextmanager
    def _step(self, writing: bool = False) -> Iterator[None]:
        """A transaction on the load's own connection; a writing one takes SQLite's write
        lock at its start (the others touch only temporary tables, or read)."""
        self.connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE" if writing else "DEFERRED"})
        with self.connection.begin():
            yield

    def _beat(self, where: Connection | Session) -> None:
        """Show the load (and its job) alive in the caller's transaction, or stop it."""
        now = utcnow()
        mine = where.execute(update(_batches).where(
            _batches.c.id == self.batch_id, _batches.c.loader == self.token,
            _batches.c.state == BatchState.LOADING.value).values(heartbeat_at=now)).rowcount
        if not mine or (self.job is not None and not jobs.hold(where, self.job, now)):
            raise Conflict("This load was taken for dead and removed; nothing was added.",
                           reason="job_taken_over")
        self._beaten = time.monotonic()

    def _beating(self, rows: Iterable[Row]) -> Iterator[Row]:
        """The rows, with a sign of life every BEAT_SECONDS while they are read."""
        for count, row in enumerate(rows):
            if count % 4096 == 0:
                self._beat_if_due()
            yield row

    def _beat_if_due(self) -> None:
        if time.monotonic() - self._beaten > BEAT_SECONDS:
            with write_transaction() as session:
                self._beat(session)


def discard(batch_id: int, floor: int, token: str) -> bool:
    """Remove a batch that never went live, its codes in steps, if `token` holds it."""
    if not batch_id:
        return False
    while True:
        with write_transaction() as session:
            held = session.execute(update(_batches).where(
                _batches.c.id == batch_id, _batches.c.loader == token,
                _batches.c.state != BatchState.LIVE.value).values(
                state=BatchState.DISCARDING.value, heartbeat_at=utcnow())).rowcount
            if not held:
                return False
            # Every code above the floor is this batch's: loads run one at a time.
            some = (select(_codes.c.id).where(_codes.c.id > floor, _codes.c.batch_id == batch_id)
                    .order_by(_codes.c.id).limit(FIRST_STEP * 5))
            if not session.execute(delete(_codes).where(_codes.c.id.in_(some))).rowcount:
                session.execute(delete(_batches).where(_batches.c.id == batch_id))
                return True
        time.sleep(PAUSE_SECONDS)


def recover(silence: timedelta = SILENCE) -> list[int]:
    """Remove the batches of loads whose process died or went silent; their ids."""
    db.session.rollback()  # read what is committed now
    now = utcnow()
    removed = []
    rows = db.session.execute(select(_batches.c.id, _batches.c.loader, _batches.c.heartbeat_at,
                                     _batches.c.code_floor)
                              .where(_batches.c.state != BatchState.LIVE.value)).all()
    for row in rows:
        heartbeat = row.heartbeat_at
        if heartbeat is not None and heartbeat > now - silence and not jobs.worker_gone(row.loader):
            continue
        token = f"{jobs.worker_name()}/{uuid.uuid4().hex[:12]}"
        with write_transaction() as session:
            taken = session.execute(update(_batches).where(
                _batches.c.id == row.id, _batches.c.loader == row.loader,
                _batches.c.heartbeat_at == row.heartbeat_at,
                _batches.c.state != BatchState.LIVE.value).values(
                state=BatchState.DISCARDING.value, loader=token, heartbeat_at=now)).rowcount
        if taken and discard(row.id, row.code_floor or 0, token):
            removed.append(row.id)
    return removed
