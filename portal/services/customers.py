"""Customers: who holds codes, and how to reach them."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import CONSENT_CHANNELS, Audience, ConsentSource, Customer, utcnow
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
