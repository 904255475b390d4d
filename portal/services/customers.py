"""Customers: who holds codes, and how to reach them."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import bindparam, case, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import CONSENT_CHANNELS, Audience, ConsentSource, Customer, UTCDateTime, utcnow
from .consent import record
from .errors import InvalidInput, NotFound
from .text import BLANK, NUL

# The rules for a value as given: blanks around it are trimmed, and blank is no value.
# The API's document states the same patterns.
_AROUND = f"[{BLANK}]*"
_WORD = f"[^@{BLANK}{NUL}]+"
EMAIL_PATTERN = f"^{_AROUND}(?:{_WORD}@{_WORD}\\.{_WORD}{_AROUND})?$"
# +, then 5 to 31 of digits, spaces, brackets and dashes; trimmed, it neither starts nor
# ends with a space.
PHONE_PATTERN = (f"^{_AROUND}(?:(?:\\+[0-9 ()\\-]{{4,30}}|[0-9()\\-][0-9 ()\\-]{{3,29}})"
                 f"[0-9()\\-]{_AROUND})?$")
EMAIL_MAX = 254
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)
TRUE = {"1", "true", "yes", "y", "t", "on", "x"}
FALSE = {"0", "false", "no", "n", "f", "off", ""}


@dataclass(frozen=True)
class CustomerData:
    """What a caller says about a customer; None leaves a stored value as it is."""

    customer_id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_consent: bool | None = None
    sms_consent: bool | None = None

    def checked(self) -> CustomerData:
        """The same data trimmed, or InvalidInput naming the wrong field."""
        customer_id = (self.customer_id or "").strip()
        if not customer_id:
            raise InvalidInput("A customer needs a customer_id.", field="customer_id",
                               reason="missing_customer_id")
        if len(customer_id) > 200:
            raise InvalidInput("customer_id is at most 200 characters.", field="customer_id")
        email = (self.email or "").strip() or None
        if email:
            email = normal_email(email)
        phone = (self.phone or "").strip() or None
        if phone:
            phone = e164(phone, current_app.config.get("DEFAULT_PHONE_REGION") or None)
        first = (self.first_name or "").strip()[:200] or None
        last = (self.last_name or "").strip()[:200] or None
        return CustomerData(customer_id, email, phone, first, last,
                            self.email_consent, self.sms_consent)


def normal_email(raw: str) -> str:
    """The address with its domain in lower case, or InvalidInput(invalid_email) saying
    what is wrong with it. Syntax only: no DNS lookups."""
    if len(raw) > EMAIL_MAX or not _EMAIL.fullmatch(raw):
        raise InvalidInput(f"“{raw}” is not an email address.", field="email", reason="invalid_email")
    local, _, domain = raw.rpartition("@")
    try:
        if len(local) <= LOCAL_MAX and _DOT_ATOM.fullmatch(local):
            return f"{local}@{_normal_domain(domain)}"
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"“{raw}” is not an email address: {exc}", field="email",
                           reason="invalid_email") from exc


# A plain ASCII local part (RFC 5322's dot-atom), which email-validator takes as it is.
# Such addresses, nearly every one of a real list, are checked by it once per domain
# instead of character by character each time: a million-line list spends seconds, not
# most of a minute, here. Anything else goes through email-validator whole.
LOCAL_MAX = 64
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_ATOM = re.compile(f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*")


@functools.lru_cache(maxsize=10_000)
def _normal_domain(domain: str) -> str:
    """The domain as email-validator checks and writes it (lower case, IDNA rules)."""
    return validate_email(f"postmaster@{domain}", check_deliverability=False).domain


def e164(raw: str, region: str | None) -> str:
    """The number as SMS providers take it (+48608123456), or InvalidInput(invalid_phone).

    A number written without its country code ("608 123 456", "0048 …") is read as a
    number of `region` (DEFAULT_PHONE_REGION); without a region it is refused.
    """
    if not _PHONE.fullmatch(raw):
        raise InvalidInput(f"“{raw}” is not a phone number.", field="phone", reason="invalid_phone")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not region:
            message = (f"“{raw}” has no country code: write it as +<country code> <number>, "
                       f"or set DEFAULT_PHONE_REGION for numbers without one.")
        else:
            message = f"“{raw}” is not a phone number."
        raise InvalidInput(message, field="phone", reason="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_country_code(number.country_code)
        raise InvalidInput(f"“{raw}” is not a valid phone number"
                           f"{f' in {where}' if where and where != 'ZZ' else ''}.",
                           field="phone", reason="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_consent(value: str | bool | None, field: str) -> bool | None:
    """yes/no, true/false, 1/0 (any case); blank means no."""
    if value is None or isinstance(value, bool):
        return value
    key = value.strip().lower()
    if key in TRUE:
        return True
    if key in FALSE:
        return False
    raise InvalidInput(f"{field} must be yes or no, not “{value}”.", field=field,
                       reason="invalid_consent")


@dataclass(frozen=True)
class Upserted:
    id: int
    # The channels whose "yes" did not take: the customer had said no themselves.
    kept_withdrawn: tuple[str, ...] = ()


def upsert(session: Session, data: CustomerData, source: ConsentSource = ConsentSource.LIST,
           detail: str = "") -> Upserted:
    """Create or update the customer in the caller's transaction, recording each change
    of consent (`source`, `detail`: how and who).

    A "yes" does not undo a withdrawal by the customer themselves: the database keeps
    that rule in the statement itself, so an unsubscribe that lands at the same moment
    still wins. On PostgreSQL the upsert also locks the customer's row until the
    transaction ends, which is what keeps concurrent assignments to one customer in line.
    """
    table = Customer.__table__
    wanted = {channel: getattr(data, f"{channel}_consent") for channel in CONSENT_CHANNELS
              if getattr(data, f"{channel}_consent") is not None}
    consents = [table.c[f"{channel}_consent"] for channel in CONSENT_CHANNELS]
    before = session.execute(select(*consents).where(table.c.external_id == data.customer_id)
                             ).first() if wanted else None
    values = {
        key: value
        for key, value in (
            ("email", data.email), ("phone", data.phone), ("first_name", data.first_name),
            ("last_name", data.last_name),
        )
        if value is not None
    }
    now = utcnow()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(
        external_id=data.customer_id, created_at=now, updated_at=now,
        **{"email_consent": False, "sms_consent": False, **values,
           **{f"{channel}_consent": want for channel, want in wanted.items()}},
    )
    changes = {**values, **{
        f"{channel}_consent": case((table.c[f"{channel}_withdrawn_at"].is_(None),
                                    stmt.excluded[f"{channel}_consent"]),
                                   else_=table.c[f"{channel}_consent"])
        for channel in wanted}}
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.external_id],
        set_={**changes, "updated_at": now} if changes else {"external_id": data.customer_id},
    ).returning(table.c.id, *consents)
    row = session.execute(stmt).one()
    after = dict(zip(CONSENT_CHANNELS, row[1:], strict=True))
    was = dict(zip(CONSENT_CHANNELS, before, strict=True)) if before is not None else {}
    record(session, [
        {"customer_id": row.id, "channel": channel, "consent": after[channel],
         "before": was.get(channel), "source": source.value, "detail": detail[:200], "at": now}
        # A new customer's consent is recorded when it is a yes (no is where all start).
        for channel in wanted if (was[channel] != after[channel] if was else after[channel])])
    return Upserted(row.id, tuple(channel for channel, want in wanted.items()
                                  if want and not after[channel]))


def add_to_audience(session: Session, pool_id: int, customer_pk: int) -> None:
    """Make the customer part of the pool's campaign (once), in the caller's transaction."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(Audience.__table__)
                    .values(pool_id=pool_id, customer_id=customer_pk, added_at=utcnow())
                    .on_conflict_do_nothing())


def find(customer_id: str) -> Customer:
    """The customer with this external id, or NotFound(unknown_customer)."""
    customer = db.session.scalar(select(Customer).where(Customer.external_id == customer_id))
    if customer is None:
        raise NotFound(f"There is no customer “{customer_id}”.", reason="unknown_customer")
    return customer


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
    if postgresql:
        execute(text("ANALYZE assign_lines"))
        execute(text("ANALYZE assign_people"))
    now = utcnow()
    at = bindparam("now", now, type_=UTCDateTime())
    # Who exists already, and their consent before: locked on PostgreSQL, in customer_id order.
    execute(text(f"CREATE TEMP TABLE assign_before (customer_id text PRIMARY KEY, email_consent {flag}, "
                 f"sms_consent {flag})"))
    before = execute(text(
        "INSERT INTO assign_before SELECT c.external_id, c.email_consent, c.sms_consent FROM customer c "
        "JOIN assign_people p ON p.customer_id = c.external_id ORDER BY c.external_id"
        + (" FOR UPDATE OF c" if postgresql else ""))).rowcount
    added = execute(text(
        "INSERT INTO customer (external_id, email, phone, first_name, last_name, email_consent, "
        "sms_consent, created_at, updated_at) SELECT p.customer_id, p.email, p.phone, p.first_name, "
        "p.last_name, coalesce(p.email_consent, false), coalesce(p.sms_consent, false), :now, :now "
        "FROM assign_people p WHERE NOT EXISTS (SELECT 1 FROM assign_before b "
        "WHERE b.customer_id = p.customer_id) ORDER BY p.customer_id "
        "ON CONFLICT (external_id) DO NOTHING").bindparams(at)).rowcount
    people = count and execute(text("SELECT count(*) FROM assign_people")).scalar_one()
    if before or added + before < people:
        # Those who existed (or were added meanwhile by someone else): the fields given
        # replace the stored ones, and a yes does not undo the customer's own no.
        consent = {channel: (f"CASE WHEN p.{channel}_consent IS NULL OR customer.{channel}_withdrawn_at "
                             f"IS NOT NULL THEN customer.{channel}_consent ELSE p.{channel}_consent END")
                   for channel in CONSENT_CHANNELS}
        execute(text(
            "UPDATE customer SET email = coalesce(p.email, customer.email), "
            "phone = coalesce(p.phone, customer.phone), "
            "first_name = coalesce(p.first_name, customer.first_name), "
            "last_name = coalesce(p.last_name, customer.last_name), "
            + "".join(f"{channel}_consent = {rule}, " for channel, rule in consent.items())
            + "updated_at = :now FROM assign_people p "
            "WHERE customer.external_id = p.customer_id AND customer.created_at <> :now").bindparams(at))
    execute(text("UPDATE assign_people SET customer_pk = c.id FROM customer c "
                 "WHERE c.external_id = assign_people.customer_id"))
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
    everyone_new = before == 0 and added == people
    return Staged(session, count, *(([], 0) if everyone_new else _withdrawn(connection, kept)),
                  everyone_new=everyone_new)


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
    refused = " OR ".join(f"(l.{channel}_consent = true AND c.{channel}_consent = false)"
                          for channel in CONSENT_CHANNELS)
    source = ("FROM assign_lines l JOIN assign_people p ON p.customer_id = l.customer_id "
              f"JOIN customer c ON c.id = p.customer_pk WHERE {refused}")
    count = connection.execute(text(f"SELECT count(*) {source}")).scalar_one()
    if not count:
        return [], 0
    flags = ", ".join(f"l.{channel}_consent, c.{channel}_consent" for channel in CONSENT_CHANNELS)
    rows = connection.execute(text(f"SELECT l.line, l.customer_id, {flags} {source} ORDER BY l.line "
                                   "LIMIT :kept"), {"kept": kept}).all()
    return [(row[0], row[1], [channel for index, channel in enumerate(CONSENT_CHANNELS)
                              if row[2 + 2 * index] and not row[3 + 2 * index]]) for row in rows], count
