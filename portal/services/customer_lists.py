"""A whole customer list upserted in a few statements, through temporary tables: the
same rules as `customers.upsert` line after line, for the list path of assignment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from ..models import CONSENT_CHANNELS, ConsentSource, UTCDateTime, utcnow

# A customer list's lines as upsert_staged takes them: (line, customer_id, email, phone,
# first_name, last_name, email_consent, sms_consent), each already `checked()`.
StagedLine = tuple[int, str, str | None, str | None, str | None, str | None, bool | None, bool | None]
_LINE_COLUMNS = ("line", "customer_id", "email", "phone", "first_name", "last_name",
                 "email_consent", "sms_consent")
_TEMP_TABLES = ("assign_held", "assign_given", "assign_wants", "assign_before", "assign_people",
                "assign_lines")


@dataclass
class Staged:
    """A customer list upserted from its temporary tables, which stay for the caller's
    next statements until `drop`: `assign_lines` (one row a line) and `assign_people`
    (one row a customer, with `customer_pk`)."""

    session: Session
    lines: int
    withdrawn: list[tuple[int, str, list[str]]]  # (line, customer_id, channels), the first ones
    withdrawn_count: int
    everyone_new: bool = False  # no listed customer existed before: none holds a code

    def drop(self) -> None:
        drop_staged(self.session)


def drop_staged(session: Session) -> None:
    for name in _TEMP_TABLES:
        session.connection().execute(text(f"DROP TABLE IF EXISTS {name}"))


def upsert_staged(session: Session, lines: Iterable[StagedLine], pool_id: int,
                  source: ConsentSource, detail: str, *, kept: int) -> Staged:
    """Upsert a whole customer list in a few statements, in the caller's transaction, and
    add its customers to the pool's campaign: the same rules as `upsert`, line after line.

    None leaves a stored value as it is (a customer on several lines ends with the last
    value given for each field); a "yes" does not undo the customer's own withdrawal;
    each change of consent is recorded. On PostgreSQL the customers' rows stay locked
    until the transaction ends, taken in customer_id order as `upsert` takes them.
    """
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    execute = connection.execute
    drop_staged(session)
    if postgresql:
        # Sorting and joining a list of a million in memory, not in files on disk; for
        # this transaction only.
        execute(text("SET LOCAL work_mem = '128MB'"))
    flag = "boolean" if postgresql else "INTEGER"
    execute(text("CREATE TEMP TABLE assign_lines (line bigint, customer_id text, email text, phone text, "
                 f"first_name text, last_name text, email_consent {flag}, sms_consent {flag})"))
    count = _load_lines(connection, lines, postgresql)
    execute(text("CREATE INDEX assign_lines_customer ON assign_lines (customer_id, line)"))
    # One row a customer: their last line's values, then fields their last line left
    # blank filled from earlier lines (rare: a customer on several lines of one list).
    execute(text("CREATE TEMP TABLE assign_people (customer_id text PRIMARY KEY, lines bigint, email text, "
                 f"phone text, first_name text, last_name text, email_consent {flag}, sms_consent {flag}, "
                 "customer_pk bigint)"))
    execute(text(
        "INSERT INTO assign_people SELECT l.customer_id, g.n, l.email, l.phone, l.first_name, "
        "l.last_name, l.email_consent, l.sms_consent, NULL FROM assign_lines l JOIN ("
        "SELECT customer_id, max(line) AS last, count(*) AS n FROM assign_lines GROUP BY customer_id) g "
        "ON g.customer_id = l.customer_id AND g.last = l.line"))
    _merge_repeated(connection)
    analyze_staged(connection, "assign_lines", "assign_people")
    now = utcnow()
    at = bindparam("now", now, type_=UTCDateTime())
    # Who exists already, and their consent before. On PostgreSQL their rows are locked
    # in id order, as a send locks them, and not against the key-share locks of foreign
    # keys (a till redeeming one of their codes does not wait for the list).
    lock = " ORDER BY c.id FOR NO KEY UPDATE OF c" if postgresql else ""
    read_before = ("INSERT INTO assign_before SELECT c.external_id, c.email_consent, c.sms_consent "
                   "FROM customer c JOIN assign_people p ON p.customer_id = c.external_id")
    execute(text(f"CREATE TEMP TABLE assign_before (customer_id text PRIMARY KEY, email_consent {flag}, "
                 f"sms_consent {flag})"))
    before = execute(text(read_before + lock)).rowcount
    added = execute(text(
        "INSERT INTO customer (external_id, email, phone, first_name, last_name, email_consent, "
        "sms_consent, created_at, updated_at) SELECT p.customer_id, p.email, p.phone, p.first_name, "
        "p.last_name, coalesce(p.email_consent, false), coalesce(p.sms_consent, false), :now, :now "
        "FROM assign_people p WHERE NOT EXISTS (SELECT 1 FROM assign_before b "
        "WHERE b.customer_id = p.customer_id) ORDER BY p.customer_id "
        "ON CONFLICT (external_id) DO NOTHING").bindparams(at)).rowcount
    people = count and execute(text("SELECT count(*) FROM assign_people")).scalar_one()
    if added + before < people:
        # Customers another transaction added meanwhile: locked and read like the others.
        before += execute(text(
            read_before + " WHERE c.created_at <> :now AND NOT EXISTS (SELECT 1 FROM assign_before b "
            "WHERE b.customer_id = c.external_id)" + lock).bindparams(at)).rowcount
    if before:
        # Those who existed: the fields given replace the stored ones, and a yes does
        # not undo the customer's own no.
        consent = {channel: (f"CASE WHEN p.{channel}_consent IS NULL OR customer.{channel}_withdrawn_at "
                             f"IS NOT NULL THEN customer.{channel}_consent ELSE p.{channel}_consent END")
                   for channel in CONSENT_CHANNELS}
        analyze_staged(connection, "assign_before")
        execute(text(
            "UPDATE customer SET email = coalesce(p.email, customer.email), "
            "phone = coalesce(p.phone, customer.phone), "
            "first_name = coalesce(p.first_name, customer.first_name), "
            "last_name = coalesce(p.last_name, customer.last_name), "
            + "".join(f"{channel}_consent = {rule}, " for channel, rule in consent.items())
            + "updated_at = :now FROM assign_people p JOIN assign_before b ON b.customer_id = p.customer_id "
            "WHERE customer.external_id = p.customer_id").bindparams(at))
    execute(text("UPDATE assign_people SET customer_pk = c.id FROM customer c "
                 "WHERE c.external_id = assign_people.customer_id"))
    analyze_staged(connection, "assign_people")
    for channel in CONSENT_CHANNELS:
        # Each change of consent, as `upsert` records it: a new customer's yes, or a change.
        execute(text(
            "INSERT INTO consent_change (customer_id, channel, consent, before, source, detail, at) "
            f"SELECT p.customer_pk, :channel, c.{channel}_consent, b.{channel}_consent, :source, "
            ":detail, :now FROM assign_people p JOIN customer c ON c.id = p.customer_pk "
            "LEFT JOIN assign_before b ON b.customer_id = p.customer_id "
            f"WHERE p.{channel}_consent IS NOT NULL AND (CASE WHEN b.customer_id IS NULL "
            f"THEN c.{channel}_consent ELSE b.{channel}_consent <> c.{channel}_consent END)"
        ).bindparams(at), {"channel": channel, "source": source.value, "detail": detail[:200]})
    execute(text("INSERT INTO audience (pool_id, customer_id, added_at) SELECT :pool, customer_pk, :now "
                 "FROM assign_people WHERE true ON CONFLICT DO NOTHING").bindparams(at), {"pool": pool_id})
    # Only a customer who was there before can have said no themselves.
    everyone_new = before == 0
    return Staged(session, count, *(([], 0) if everyone_new else _withdrawn(connection, kept)),
                  everyone_new=everyone_new)


def analyze_staged(connection, *names: str) -> None:  # noqa: ANN001
    """Give the planner the sizes of temporary tables just filled: without them SQLite
    walks a whole table for a list of ten, and PostgreSQL guesses one row where there
    are a million. (SQLite's, all of them, from a sample.)"""
    if connection.dialect.name == "postgresql":
        for name in names:
            connection.execute(text(f"ANALYZE {name}"))
    else:
        connection.execute(text("PRAGMA analysis_limit = 400"))
        connection.execute(text("ANALYZE temp"))


def _load_lines(connection, lines: Iterable[StagedLine], postgresql: bool) -> int:  # noqa: ANN001
    """Hand the lines to the database through its fastest path; returns how many."""
    count = 0
    raw = connection.connection.driver_connection
    if postgresql:
        with raw.cursor() as cursor, cursor.copy(
                f"COPY assign_lines ({', '.join(_LINE_COLUMNS)}) FROM STDIN") as copy:
            for row in lines:
                copy.write_row(row)
                count += 1
        return count

    def counted() -> Iterable[StagedLine]:
        nonlocal count
        for row in lines:
            count += 1
            yield row

    cursor = raw.cursor()
    cursor.executemany("INSERT INTO assign_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?)", counted())
    cursor.close()
    return count


def _merge_repeated(connection) -> None:  # noqa: ANN001
    """A customer on several lines: each field takes the last value given for it."""
    rows = connection.execute(text(
        f"SELECT {', '.join(_LINE_COLUMNS[1:])} FROM assign_lines WHERE customer_id IN "
        "(SELECT customer_id FROM assign_people WHERE lines > 1) ORDER BY customer_id, line")).all()
    merged: dict[str, list] = {}
    for row in rows:
        values = merged.setdefault(row[0], [None] * (len(_LINE_COLUMNS) - 2))
        for index, value in enumerate(row[1:]):
            if value is not None:
                values[index] = value
    if merged:
        names = _LINE_COLUMNS[2:]
        connection.execute(
            text(f"UPDATE assign_people SET {', '.join(f'{n} = :{n}' for n in names)} "
                 "WHERE customer_id = :customer_id"),
            [{"customer_id": key, **dict(zip(names, values, strict=True))} for key, values in merged.items()])


def _withdrawn(connection, kept: int) -> tuple[list[tuple[int, str, list[str]]], int]:  # noqa: ANN001
    """The lines whose yes did not take because the customer had said no themselves."""
    refused = " OR ".join(f"(l.{channel}_consent = true AND c.{channel}_consent = false "
                          f"AND c.{channel}_withdrawn_at IS NOT NULL)" for channel in CONSENT_CHANNELS)
    source = ("FROM assign_lines l JOIN assign_people p ON p.customer_id = l.customer_id "
              f"JOIN customer c ON c.id = p.customer_pk WHERE {refused}")
    count = connection.execute(text(f"SELECT count(*) {source}")).scalar_one()
    if not count:
        return [], 0
    flags = ", ".join(f"l.{channel}_consent, c.{channel}_consent, c.{channel}_withdrawn_at IS NOT NULL"
                      for channel in CONSENT_CHANNELS)
    rows = connection.execute(text(f"SELECT l.line, l.customer_id, {flags} {source} ORDER BY l.line "
                                   "LIMIT :kept"), {"kept": kept}).all()
    return [(row[0], row[1], [channel for index, channel in enumerate(CONSENT_CHANNELS)
                              if row[2 + 3 * index] and not row[3 + 3 * index] and row[4 + 3 * index]])
             for row in rows], count
