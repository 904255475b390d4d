"""Giving codes to a whole customer list in a few statements: the wizard's upload, the
command line and the API's bulk assignment.

A list of N customers is not N assignments one after another. It becomes:

1. its lines checked in Python, before any lock is taken, and spooled to a file;
2. in one write transaction: the spool loaded into a temporary table (COPY on
   PostgreSQL, one `executemany` on SQLite);
3. the customers upserted and added to the campaign (`customers.upsert_staged`);
4. one statement that pairs the lines still wanting a code with the pool's next
   available codes (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent lists and
   single assignments take different codes), one that gives them, one that writes
   their history, and one counter update.

The guarantees are those of one assignment at a time: no code to two customers (the
pairing takes each free code once, and only codes still available are given), the
pool's per-customer limit (counted after the customers' rows are locked), a customer
who already holds their limit gets it back (`already_assigned`), and once the pool
runs out the remaining lines fail with `pool_exhausted`, in customer_id order as
before. The whole list is applied in one transaction: all of it or none of it.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

from sqlalchemy import JSON, bindparam, column, func, insert, literal, select, table, text, update
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import Code, CodeEvent, CodeStatus, utcnow
from ...models.base import UTCDateTime
from .. import jobs, pools
from ..actor import SYSTEM, Actor
from ..codes import effective_expiry
from ..customer_lists import Staged, analyze_staged, upsert_staged
from ..customers import CustomerData
from ..errors import DomainError, InvalidInput
from ..integrations import voucher_events
from ..tx import is_postgresql, write_transaction
from .giving import HELD, consent_source, next_free, usable_pool
from .reading import read_customer_file

# Failed and withdrawn lines kept for the report; their counts are always complete.
KEPT = 10_000
SPOOL_CHUNK = 10_000
# How often a background job's progress is written while its list is checked.
PROGRESS_SECONDS = 1.0

_codes = Code.__table__
_events = CodeEvent.__table__
_wants = table("assign_wants", column("rn"), column("line"), column("customer_id"), column("customer_pk"))
_given = table("assign_given", column("code_id"), column("customer_pk"), column("line"), column("rn"))


@dataclass
class Failure:
    line: int
    customer_id: str
    reason: str
    message: str


@dataclass
class Withdrawn:
    """A line whose consent "yes" did not take: the customer had unsubscribed or sent STOP."""

    line: int
    customer_id: str
    channels: list[str]


@dataclass
class BulkResult:
    assigned: int = 0
    already_assigned: int = 0
    added: int = 0  # to the campaign, their codes to come with its messages
    failed: list[Failure] = field(default_factory=list)
    counts: pools.Counts | None = None
    failed_count: int | None = None  # when `failed` holds only the first of them
    withdrawn: list[Withdrawn] = field(default_factory=list)
    withdrawn_count: int | None = None  # when `withdrawn` holds only the first of them

    def summary(self, kept: int = 500) -> dict:
        """The counts and the first failed lines, as a background job keeps them."""
        return {"assigned": self.assigned, "already_assigned": self.already_assigned,
                "added": self.added, "failed_count": self.failures,
                "failed": [asdict(f) for f in self.failed[:kept]],
                "withdrawn_count": self.withdrawals,
                "withdrawn": [asdict(w) for w in self.withdrawn[:kept]]}

    @classmethod
    def from_summary(cls, data: dict) -> BulkResult:
        return cls(data["assigned"], data["already_assigned"], data["added"],
                   [Failure(**f) for f in data["failed"]], failed_count=data["failed_count"],
                   withdrawn=[Withdrawn(**w) for w in data.get("withdrawn", [])],
                   withdrawn_count=data.get("withdrawn_count", 0))

    @property
    def withdrawals(self) -> int:
        return len(self.withdrawn) if self.withdrawn_count is None else self.withdrawn_count

    @property
    def failures(self) -> int:
        return len(self.failed) if self.failed_count is None else self.failed_count


class _Spool:
    """Checked lines on disk, so a list of millions is held neither in memory nor under a lock."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.chunk: list[tuple] = []
        self.count = 0

    def add(self, row: tuple) -> None:
        self.chunk.append(row)
        self.count += 1
        if len(self.chunk) >= SPOOL_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self.chunk:
            pickle.dump(self.chunk, self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.chunk = []

    def rows(self) -> Iterator[tuple]:
        self._flush()
        self.file.seek(0)
        while True:
            try:
                yield from pickle.load(self.file)
            except EOFError:
                return

    def close(self) -> None:
        self.file.close()


class _Progress:
    """How far the checking of a list has got, shown on its background job now and then."""

    def __init__(self, job: jobs.Claim | None, total: int | None) -> None:
        self.job, self.total = job, total
        self.shown = time.monotonic()

    def checked(self, done: int) -> None:
        if self.job is not None and done % 1000 == 0 and time.monotonic() - self.shown >= PROGRESS_SECONDS:
            self._show("checking", done)

    def assigning(self, done: int) -> None:
        if self.job is not None:
            self._show("assigning", done)

    def _show(self, phase: str, done: int) -> None:
        self.shown = time.monotonic()
        jobs.report_progress(self.job, phase=phase, done=done, total=max(self.total or 0, done))


def _check(customers: Iterable[tuple[int, CustomerData | DomainError]], result: BulkResult,
           progress: _Progress) -> _Spool:
    """Check every line; the good ones go to the spool, the others to the result."""
    spool = _Spool()
    failed = 0
    for done, (line, data) in enumerate(customers, start=1):
        progress.checked(done)
        if isinstance(data, DomainError):
            failure = Failure(line, data.details.get("customer_id", ""), data.reason, data.message)
        else:
            try:
                data = data.checked()
            except InvalidInput as exc:
                failure = Failure(line, data.customer_id or "", exc.reason, exc.message)
            else:
                spool.add((line, data.customer_id, data.email, data.phone, data.first_name,
                           data.last_name, data.email_consent, data.sms_consent))
                continue
        failed += 1
        if len(result.failed) < KEPT:
            result.failed.append(failure)
    result.failed_count = failed
    progress.assigning(spool.count + failed)
    return spool


def assign_many(
    pool_id: int, customers: Iterable[tuple[int, CustomerData | DomainError]],
    *, actor: Actor = SYSTEM, now: bool = True, job: jobs.Claim | None = None, total: int | None = None,
) -> BulkResult:
    """Add a list of (line, customer) to the pool's campaign and, unless `now` is
    false, assign their codes, in one transaction.

    Lines that cannot be served are reported, not fatal: a wrong field fails that
    line, and once the pool runs out the remaining lines fail with pool_exhausted
    (those customers stay in the campaign and get a code when it is sent, if the
    pool has been refilled by then). With `now` false, codes are given out as the
    campaign's messages go. A background job's progress is shown on it as the lines are
    checked (of about `total`), before the transaction.
    """
    result = BulkResult()
    usable_pool(db.session, pool_id)  # a paused or ended pool says so before a long file is read
    db.session.commit()
    spool = _check(customers, result, _Progress(job, total))
    try:
        with write_transaction() as session:
            pool = usable_pool(session, pool_id)
            staged = upsert_staged(session, spool.rows(), pool_id, *consent_source(actor, one=False),
                                   kept=KEPT)
            result.withdrawn = [Withdrawn(*row) for row in staged.withdrawn]
            result.withdrawn_count = staged.withdrawn_count
            if now:
                _give(session, pool, staged, actor, result)
            else:
                result.added = staged.lines
            staged.drop()  # a failure rolls the tables back with the rest
            result.failed.sort(key=lambda failure: failure.line)
            del result.failed[KEPT:]
            jobs.finish_in(session, job, result.summary())
    finally:
        spool.close()
    result.counts = pools.counts(pool_id)
    return result


def _give(session: Session, pool, staged: Staged, actor: Actor, result: BulkResult) -> None:  # noqa: ANN001
    """Pair the lines wanting a code with the pool's next available codes, and give them."""
    execute = session.connection().execute
    at = utcnow()
    postgresql = is_postgresql()
    # The lines wanting a new code, in the order they are served: each customer's lines
    # in file order, up to the pool's limit less what the customer holds already.
    execute(text(f"CREATE TEMP TABLE assign_wants (rn {'bigint' if postgresql else 'INTEGER'} "
                 f"PRIMARY KEY, line bigint, customer_id text, customer_pk bigint)"))
    # Customers are served in customer_id order, compared byte by byte on both databases.
    in_order = 's.customer_id COLLATE "C"' if postgresql else "s.customer_id"
    # What the listed customers hold in the pool already (none, when all are new).
    execute(text("CREATE TEMP TABLE assign_held (customer_pk bigint PRIMARY KEY, n bigint)"))
    if not staged.everyone_new:
        # The list outside, each customer's codes looked up by index: a CROSS JOIN keeps
        # SQLite from walking the pool's codes instead.
        execute(text(
            "INSERT INTO assign_held SELECT h.customer_id, count(*) FROM assign_people p CROSS JOIN code h "
            "WHERE h.customer_id = p.customer_pk AND h.pool_id = :pool AND h.status IN "
            f"({', '.join(repr(s) for s in HELD)}) GROUP BY h.customer_id"), {"pool": pool.id})
    wanting = execute(text(
        f"INSERT INTO assign_wants SELECT row_number() OVER (ORDER BY {in_order}, s.line), "
        "s.line, s.customer_id, s.customer_pk FROM ("
        "  SELECT l.line, l.customer_id, p.customer_pk, "
        "  row_number() OVER (PARTITION BY l.customer_id ORDER BY l.line) AS k "
        "  FROM assign_lines l JOIN assign_people p ON p.customer_id = l.customer_id) s "
        "LEFT JOIN assign_held h ON h.customer_pk = s.customer_pk "
        "WHERE coalesce(h.n, 0) + s.k <= :most"), {"most": pool.per_customer_limit}).rowcount
    result.already_assigned = staged.lines - wanting
    if not wanting:
        return
    analyze_staged(session.connection(), "assign_wants")
    # Pair them with the next available codes: each free code is taken once (skipping
    # those another transaction holds), numbered, and matched by number.
    picked = next_free(pool.id, at, wanting).subquery("picked")
    numbered = select(picked.c.id, func.row_number().over(order_by=picked.c.id).label("rn")
                      ).subquery("numbered")
    execute(text("CREATE TEMP TABLE assign_given (code_id bigint PRIMARY KEY, customer_pk bigint, "
                 "line bigint, rn bigint)"))
    given = execute(insert(_given).from_select(
        ["code_id", "customer_pk", "line", "rn"],
        select(numbered.c.id, _wants.c.customer_pk, _wants.c.line, _wants.c.rn)
        .join_from(numbered, _wants, _wants.c.rn == numbered.c.rn)),
        execution_options={"preserve_rowcount": True}).rowcount
    analyze_staged(session.connection(), "assign_given")
    if given:
        changed = execute(
            update(_codes)
            .where(_codes.c.id == _given.c.code_id, _codes.c.status == CodeStatus.AVAILABLE.value)
            .values(status=CodeStatus.ASSIGNED.value, customer_id=_given.c.customer_pk,
                    assigned_at=bindparam("at", at, type_=UTCDateTime()))).rowcount
        assert changed == given, (changed, given)  # the pick took only available codes
        execute(insert(_events).from_select(
            ["code_id", "pool_id", "customer_id", "kind", "from_status", "to_status", "at",
             "user_id", "api_key_id", "store_id", "details"],
            select(_given.c.code_id, literal(pool.id), _given.c.customer_pk, literal("assigned"),
                   literal(CodeStatus.AVAILABLE.value), literal(CodeStatus.ASSIGNED.value),
                   bindparam("at", at, type_=UTCDateTime()), literal(actor.user_id),
                   literal(actor.api_key_id), literal(actor.store_id),
                   bindparam("details", {}, type_=JSON))))
        _announce(session, pool, at)
        pools.adjust_counts(session, pool.id, pool=pool, available=-given, assigned=given)
    result.assigned = given
    if wanting > given:
        _short(execute, wanting, given, result)


def _short(execute, wanting: int, given: int, result: BulkResult) -> None:  # noqa: ANN001
    """The pool ran out: the lines that wanted a code and got none fail, and so do the
    other lines of a customer left holding nothing."""
    unserved = ("SELECT w.line, w.customer_id FROM assign_wants w WHERE w.rn > :given "
                "UNION ALL SELECT l.line, l.customer_id FROM assign_lines l "
                "JOIN (SELECT customer_id FROM assign_wants GROUP BY customer_id HAVING min(rn) > :given) n "
                "ON n.customer_id = l.customer_id "
                "JOIN assign_people p ON p.customer_id = l.customer_id "
                "LEFT JOIN assign_held h ON h.customer_pk = p.customer_pk "
                "WHERE h.customer_pk IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM assign_wants w2 WHERE w2.line = l.line)")
    count = execute(text(f"SELECT count(*) FROM ({unserved}) u"), {"given": given}).scalar_one()
    result.failed_count += count
    result.already_assigned -= count - (wanting - given)  # their other lines are not served either
    rows = execute(text(f"SELECT line, customer_id FROM ({unserved}) u ORDER BY line LIMIT :kept"),
                   {"given": given, "kept": KEPT}).all()
    result.failed.extend(Failure(line, customer_id, "pool_exhausted", "The pool had no codes left.")
                         for line, customer_id in rows)


def _announce(session: Session, pool, at) -> None:  # noqa: ANN001
    """The voucher.assigned event of each code given, for the endpoints that want it."""
    if not voucher_events.wanted(session, "voucher.assigned"):
        return
    rows = session.connection().execute(
        select(_codes.c.code, _codes.c.expires_at, _wants.c.customer_id)
        .join_from(_given, _codes, _codes.c.id == _given.c.code_id)
        .join(_wants, _wants.c.rn == _given.c.rn).order_by(_given.c.rn))
    for code, expires_at, customer_id in rows.all():
        voucher_events.assigned(session, code=code, pool_id=pool.id, customer_id=customer_id,
                                assigned_at=at, expires_at=effective_expiry(expires_at, pool.valid_until))


def assign_file(pool_id: int, stream: BinaryIO, *, actor: Actor = SYSTEM,
                now: bool = True, job: jobs.Claim | None = None) -> BulkResult:
    """Assign codes to every customer in a CSV file (same reading rules as imports)."""
    return assign_many(pool_id, read_customer_file(stream), actor=actor, now=now, job=job,
                       total=_lines_in(stream) if job is not None else None)


def _lines_in(stream: BinaryIO) -> int | None:
    """About how many customers a file lists (its lines less the header), for the
    progress bar; None when the stream cannot be read twice."""
    if not stream.seekable():
        return None
    start = stream.tell()
    lines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    stream.seek(start)
    return max(lines - 1, 0)
