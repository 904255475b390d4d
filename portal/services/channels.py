"""How a pool reaches its customers: channels, their messages, and the export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import lateral, literal_column, select, true

from ..extensions import db
from ..models import Channel, ChannelSetting, Code, CodeStatus, Customer, Pool, utcnow
from .codes import effective_expiry, expiry_text
from .errors import InvalidInput
from .links import customer_url_maker, sample_links, voucher_url_maker
from .pools import load_pool
from .spreadsheet import (
    csv_cell_sql,
    csv_chunks,
    isoformat_sql,
    plain_cell_sql,
    safe_cell_sql,
    written_as_is,
)
from .tx import is_postgresql, streamed, write_transaction

LABELS = {Channel.EMAIL: "Email", Channel.SMS: "SMS", Channel.PAGE: "Voucher web page",
          Channel.EXPORT: "CSV export for another tool"}
# The channels whose message the marketer writes (the page and the export have none).
WITH_MESSAGE = (Channel.EMAIL, Channel.SMS)
PLACEHOLDERS = ("code", "first_name", "benefit", "expires_at", "voucher_url", "wallet_url",
                "unsubscribe_url")
DEFAULTS = {
    "email": ("Your voucher: {{ benefit }}",
              "Hello {{ first_name }},\n\nhere is your voucher: {{ benefit }}.\n\n"
              "Your code: {{ code }}\nValid until: {{ expires_at }}\n\n"
              "Show it at the till or open it here: {{ voucher_url }}"),
    "sms": ("", "{{ benefit }}: your code is {{ code }}, valid until {{ expires_at }}. "
                "{{ voucher_url }}"),
    "page": ("", ""),
    "export": ("", ""),
}
# Under every campaign email unless the marketer writes another: mailbox providers
# expect a visible way out as well as the one-click header.
DEFAULT_FOOTERS = {"email": "You get this email because you agreed to hear from us. "
                            "Unsubscribe: {{ unsubscribe_url }}"}
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVW"
           "XYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€")

# Placeholders are filled by plain substitution, not a template engine: a marketer's
# message can do nothing but name these values.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


@dataclass
class Setting:
    channel: str
    enabled: bool
    subject: str
    body: str
    footer: str

    @property
    def label(self) -> str:
        return LABELS[self.channel]


def settings(pool_id: int) -> dict[str, Setting]:
    """Every channel's setting for the pool, with the default message where none is saved."""
    saved = {s.channel: s for s in db.session.scalars(
        select(ChannelSetting).where(ChannelSetting.pool_id == pool_id))}
    out = {}
    for channel in Channel:
        row = saved.get(channel)
        subject, body = DEFAULTS[channel]
        out[channel] = Setting(channel, bool(row and row.enabled),
                               (row.subject if row and row.subject else subject),
                               (row.body if row and row.body else body),
                               row.footer if row else DEFAULT_FOOTERS.get(channel, ""))
    return out


def check_template(text: str, field: str) -> None:
    """Refuse a message with an unknown or unfinished placeholder, naming the field."""
    unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS})
    if unknown:
        allowed = ", ".join("{{ " + name + " }}" for name in PLACEHOLDERS)
        raise InvalidInput(f"The message has a broken placeholder: unknown {', '.join(unknown)} "
                           f"(use {allowed}).", field=field)
    if "{{" in _PLACEHOLDER.sub("", text) or "}}" in _PLACEHOLDER.sub("", text):
        raise InvalidInput("The message has a broken placeholder: a {{ without its }}.",
                           field=field)


def save(pool_id: int, channel: str, *, enabled: bool, subject: str = "", body: str = "",
         footer: str = "") -> None:
    """Store one channel's choice and message."""
    if channel not in set(Channel):
        raise InvalidInput(f"Unknown channel {channel}.", field="channel")
    check_template(subject, "subject")
    check_template(body, "body")
    check_template(footer, "footer")
    with write_transaction() as session:
        load_pool(session, pool_id)
        row = session.get(ChannelSetting, (pool_id, channel))
        if row is None:
            row = ChannelSetting(pool_id=pool_id, channel=channel)
            session.add(row)
        row.enabled, row.subject, row.body, row.footer = enabled, subject, body, footer
        row.updated_at = utcnow()


def render(text: str, values: dict[str, str]) -> str:
    """A message with its placeholders filled in; raises InvalidInput for a broken one."""
    check_template(text, "body")
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), text)


def sample_values(pool: Pool, given: Code | None = None) -> dict[str, str]:
    """What a preview shows for a customer: a sample code, not one from the pool, and
    links on the portal's public address (PUBLIC_BASE_URL). With `given` (a code the pool
    gave out: sample_code) the links are that voucher's, so the preview's link opens a
    real voucher page of the campaign."""
    ends = pool.valid_until or (datetime.now(UTC) + timedelta(days=30))
    links = sample_links()
    if given is not None:
        links.update(voucher_url=voucher_url_maker()(given.id),
                     wallet_url=customer_url_maker()(given.customer_id))
    return {"code": "SAMPLE-CODE-1234", "first_name": "Maria", "benefit": pool.benefit or pool.name,
            "expires_at": expiry_text(ends), **links}


def sample_code(pool_id: int) -> Code | None:
    """A code the pool gave out (the first), whose voucher page a preview can link to."""
    return db.session.scalars(select(Code).where(
        Code.pool_id == pool_id, Code.customer_id.is_not(None),
        Code.status.in_((CodeStatus.ASSIGNED.value, CodeStatus.REDEEMED.value)),
    ).order_by(Code.id).limit(1)).first()


def sms_length(text: str) -> tuple[int, int, str]:
    """(characters, SMS segments, encoding): GSM-7 when every character allows it."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        segments = 1 if units <= 160 else -(-units // 153)
        return len(text), segments, "GSM-7"
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    segments = 1 if units <= 70 else -(-units // 67)
    return len(text), segments, "Unicode"


def export_rows(pool_id: int) -> Iterator[list[object]]:
    """customer_id, first name, email, phone, code, voucher link, expiry, status and the
    link to all the customer's vouchers — for every code the pool has given out, as plain
    rows streamed from one query, so a million rows stay light."""
    link = voucher_url_maker()
    wallet = customer_url_maker()
    valid_until = db.session.scalar(select(Pool.valid_until).where(Pool.id == pool_id))
    codes, customers = Code.__table__.c, Customer.__table__.c
    stmt = (select(customers.external_id, customers.first_name, customers.email, customers.phone,
                   codes.code, codes.id, codes.expires_at, codes.status, codes.customer_id)
            .join_from(Code.__table__, Customer.__table__, customers.id == codes.customer_id)
            .where(codes.pool_id == pool_id, codes.customer_id.is_not(None),
                   codes.status.in_((CodeStatus.ASSIGNED.value, CodeStatus.REDEEMED.value)))
            .order_by(codes.id))
    for rows in streamed(stmt, 2000).partitions():
        for external_id, first_name, email, phone, code, code_id, expires_at, status, customer_pk in rows:
            ends = effective_expiry(expires_at, valid_until)
            yield [external_id, first_name or "", email or "", phone or "", code, link(code_id),
                   ends.isoformat() if ends else "", status, wallet(customer_pk)]


def export_text(pool_id: int) -> Iterator[str]:
    """The export as CSV text in chunks, header first. On PostgreSQL the database writes
    every cell but the two links (whose tokens need the secret key), and Python puts the
    links in; elsewhere, or if the links would need quoting, csv_chunks of export_rows.
    Both give the same bytes."""
    link, wallet = voucher_url_maker(), customer_url_maker()
    if not is_postgresql() or not (written_as_is(link(1)) and written_as_is(wallet(1))):
        yield from csv_chunks(EXPORT_HEADER, export_rows(pool_id))
        return
    yield from csv_chunks(EXPORT_HEADER, ())
    texts = ("customer.external_id", "customer.first_name", "customer.email", "customer.phone", "code.code")
    safe = lateral(select(*(literal_column(safe_cell_sql(expr)).label(f"c{n}")
                            for n, expr in enumerate(texts)))).alias("safe")
    before_link = " || ',' || ".join(csv_cell_sql(f"safe.c{n}") for n in range(len(texts))) + " || ','"
    ends = isoformat_sql("LEAST(code.expires_at, pool.valid_until)")  # effective_expiry
    between = f"',' || {plain_cell_sql(ends)} || ',' || {plain_cell_sql('code.status')} || ','"
    codes = Code.__table__.c
    stmt = (select(literal_column(before_link), codes.id, literal_column(between), codes.customer_id)
            .select_from(Code.__table__.join(Customer.__table__, Customer.__table__.c.id == codes.customer_id)
                         .join(Pool.__table__, Pool.__table__.c.id == codes.pool_id))
            .join(safe, true())
            .where(codes.pool_id == pool_id, codes.customer_id.is_not(None),
                   codes.status.in_((CodeStatus.ASSIGNED.value, CodeStatus.REDEEMED.value)))
            .order_by(codes.id))
    for rows in streamed(stmt, 2000).partitions():
        yield "".join([f"{head}{link(code_id)}{middle}{wallet(customer_pk)}\r\n"
                       for head, code_id, middle, customer_pk in rows])


# New columns go at the end, so outside tools that read columns by position keep working.
EXPORT_HEADER = ["customer_id", "first_name", "email", "phone", "code", "voucher_url",
                 "expires_at", "status", "wallet_url"]
