"""A customer's consent to email and SMS, kept as a record of each change: when, how,
and what it was before.

A customer who withdrew consent themselves (an unsubscribe link, STOP to an SMS) stays
withdrawn when a later list or API call says yes: only an explicit choice, recorded as
such, subscribes them again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import CONSENT_CHANNELS, ConsentChange, ConsentSource, Customer, utcnow
from .errors import InvalidInput
from .tx import is_postgresql, write_transaction

_customers = Customer.__table__
_changes = ConsentChange.__table__
# The customer's own "no" (unsubscribe, STOP): a list's or an API call's "yes" does not undo it.
BY_THE_CUSTOMER = (ConsentSource.UNSUBSCRIBE.value, ConsentSource.SMS_STOP.value)
# How each source reads on a page.
SOURCE_WORDS = {
    ConsentSource.LIST.value: "customer list", ConsentSource.API.value: "API",
    ConsentSource.UNSUBSCRIBE.value: "unsubscribed by the customer",
    ConsentSource.SMS_STOP.value: "STOP sent by the customer", ConsentSource.ADMIN.value: "in the portal"}
# The usual opt-out words of SMS (the carriers' industry guidelines), in any case.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})


@dataclass(frozen=True)
class State:
    """A customer's consent to one channel now."""

    channel: str
    consent: bool
    withdrawn_at: datetime | None  # when the customer said no themselves


def consent_column(channel: str):  # noqa: ANN201
    return _customers.c[f"{_checked(channel)}_consent"]


def withdrawn_column(channel: str):  # noqa: ANN201
    return _customers.c[f"{_checked(channel)}_withdrawn_at"]


def _checked(channel: str) -> str:
    if channel not in CONSENT_CHANNELS:
        raise InvalidInput(f"Consent is kept for {' and '.join(CONSENT_CHANNELS)}, not “{channel}”.",
                           field="channel", reason="invalid_channel")
    return channel


def record(session: Session, rows: Iterable[dict]) -> None:
    """Write consent changes ({customer_id, channel, consent, before, source, detail})
    in the caller's transaction."""
    rows = [{"detail": "", "at": utcnow(), **row} for row in rows]
    if rows:
        session.execute(_changes.insert(), rows)


def states(customer: Customer) -> list[State]:
    """The customer's consent to each channel."""
    return [State(channel, getattr(customer, f"{channel}_consent"),
                  getattr(customer, f"{channel}_withdrawn_at")) for channel in CONSENT_CHANNELS]


def history(customer_pk: int, limit: int = 100) -> list[ConsentChange]:
    """The customer's consent changes, newest first."""
    return list(db.session.scalars(
        select(ConsentChange).where(ConsentChange.customer_id == customer_pk)
        .order_by(ConsentChange.at.desc(), ConsentChange.id.desc()).limit(limit)))


def withdraw(customer_pks: Iterable[int], channel: str, source: ConsentSource,
             detail: str = "") -> int:
    """The customers said no to the channel themselves (or a user did for them, with
    source ADMIN). Asking again changes nothing; returns how many changed."""
    return _set(list(customer_pks), channel, False, source, detail)


def give(customer_pks: Iterable[int], channel: str, source: ConsentSource, detail: str = "") -> int:
    """Consent given again by an explicit choice (a marketer who confirms the customers
    agreed, an API call to the consent endpoint): this also undoes a withdrawal."""
    return _set(list(customer_pks), channel, True, source, detail)


def give_again(pairs: Iterable[tuple[str, str]], source: ConsentSource, detail: str = "") -> int:
    """`give` for (customer_id, channel) pairs, as an upload report lists them."""
    by_channel: dict[str, set[str]] = {}
    for customer_id, channel in pairs:
        by_channel.setdefault(_checked(channel), set()).add(customer_id)
    given = 0
    for channel, customer_ids in by_channel.items():
        pks = db.session.scalars(select(Customer.id).where(Customer.external_id.in_(customer_ids)))
        given += give(list(pks), channel, source, detail)
    return given


def _set(customer_pks: list[int], channel: str, consent: bool, source: ConsentSource,
         detail: str) -> int:
    consent_col, withdrawn_col = consent_column(channel), withdrawn_column(channel)
    if not customer_pks:
        return 0
    with write_transaction() as session:
        query = select(_customers.c.id, consent_col, withdrawn_col).where(
            _customers.c.id.in_(customer_pks))
        if is_postgresql():
            query = query.with_for_update()
        now = utcnow()
        by_customer = source.value in BY_THE_CUSTOMER
        changed = []
        rows = session.execute(query).all()
        before_of = {pk: before for pk, before, _ in rows}
        for pk, before, withdrawn_at in rows:
            if consent:
                withdrawn_now = None
            elif by_customer:
                withdrawn_now = withdrawn_at or now
            else:
                withdrawn_now = withdrawn_at
            if before == consent and withdrawn_now == withdrawn_at:
                continue  # asked again: nothing to change, nothing to record
            changed.append(pk)
            session.execute(update(_customers).where(_customers.c.id == pk).values(
                {consent_col: consent, withdrawn_col: withdrawn_now, _customers.c.updated_at: now}))
        # One row per change, also for a customer who had not consented and now said no
        # themselves: that "no" outlasts a later list's "yes".
        record(session, [{"customer_id": pk, "channel": channel, "consent": consent,
                          "before": before_of[pk], "source": source.value, "detail": detail[:200],
                          "at": now} for pk in changed])
    # The rows changed under the ORM: a Customer the caller holds must not show the old state.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Customer) and obj.id in changed:
            db.session.expire(obj)
    return len(changed)


def customers_with_phone(phone: str) -> list[int]:
    """The customers who have this phone number (E.164)."""
    return list(db.session.scalars(select(Customer.id).where(Customer.phone == phone)))


def is_stop(text: str) -> bool:
    """Whether an inbound SMS asks to stop: its first word is one of STOP_WORDS."""
    words = (text or "").strip().upper().replace("-", "").split()
    return bool(words) and words[0].strip(".!") in STOP_WORDS
