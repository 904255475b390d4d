"""Composing each customer's message from the pool's saved messages, and handing it to
the send's transport.

The HTML part of an email is drawn from a template at the edge (`portal.emails`): a
send is given that function, so this package renders no template itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header

from markupsafe import escape

from ...models import Customer, Pool, Transport
from .. import channels, transports
from ..brand import Look
from ..codes import expiry_text
from ..links import unsubscribe_url_maker

# The HTML part of a voucher email: (body, footer, placeholder values, pool, brand) -> HTML.
# It places each value as text (escaped), as the message's placeholders do: drawn once
# with a marker for each value, it is then filled in for each customer (`Composer`).
VoucherHtml = Callable[[str, str, dict, Pool, Look], str]
_MARK = "\x00{}\x00"


def _plain(value: str) -> bool:
    """Whether a value draws as its marker does: text on one line, with no space at
    either end (a paragraph is trimmed) and not empty (an empty footer is left out)."""
    return bool(value) and value == value.strip() and not any(c in value for c in "\n\r\x00")


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
class Composer:
    """Turns a pool's saved messages into each customer's message."""

    pool: Pool
    link: Callable[[int], str]  # code id -> the voucher's link
    wallet: Callable[[int], str]  # customer's row id -> the link to all their vouchers
    html: VoucherHtml
    settings: dict = field(default_factory=dict)
    brand: Look = field(default_factory=Look)
    unsubscribe: Callable[[int], str] = field(default_factory=unsubscribe_url_maker)
    _drawn: tuple[str, re.Pattern] | None = field(default=None, init=False, repr=False)

    def values(self, item: Prepared) -> dict[str, str]:
        return {"code": item.code, "first_name": item.customer.first_name or "",
                "benefit": self.pool.benefit or self.pool.name,
                "expires_at": expiry_text(item.expires),
                "voucher_url": self.link(item.code_id),
                "wallet_url": self.wallet(item.customer.id),
                "unsubscribe_url": self.unsubscribe(item.customer.id)}

    def email(self, to: str, values: dict[str, str], message_id: str | None = None,
              domain: str = "localhost", mailto: str = "") -> transports.Email:
        """The customer's email, with the headers a mailbox provider wants of a
        campaign: List-Id, and one-click unsubscribe (RFC 8058)."""
        setting = self.settings[Transport.EMAIL]
        subject = channels.render(setting.subject, values)
        body = channels.render(setting.body, values)
        footer = channels.render(setting.footer, values)
        text = body + (f"\n\n-- \n{footer}" if footer else "")
        html = self.html_part(body, footer, values)
        link = values["unsubscribe_url"]
        targets = f"<{link}>" + (f", <mailto:{mailto}?subject=unsubscribe%20{link.rpartition('/')[2]}>"
                                 if mailto else "")
        return transports.Email(to, subject, text, html, message_id, headers=(
            ("List-Id", self.list_id(domain)),
            ("List-Unsubscribe", targets),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")))

    def html_part(self, body: str, footer: str, values: dict[str, str]) -> str:
        """The email's HTML: the send's drawing with each marker replaced by the customer's
        value, escaped as the template escapes it (drawing the template for every message
        took a seventh of a send's time); drawn in full where a value is not plain."""
        if not all(_plain(value) for value in values.values()):
            return self.html(body, footer, values, self.pool, self.brand)
        if self._drawn is None:
            marks = {name: _MARK.format(name) for name in values}
            setting = self.settings[Transport.EMAIL]
            drawn = self.html(channels.render(setting.body, marks), channels.render(setting.footer, marks),
                              marks, self.pool, self.brand)
            self._drawn = drawn, re.compile("\x00(" + "|".join(map(re.escape, marks)) + ")\x00")
        drawn, marker = self._drawn
        return marker.sub(lambda found: escape(values[found.group(1)]), drawn)

    def list_id(self, domain: str) -> str:
        """RFC 2919: the pool's campaign as a list, so a mailbox can sort and filter it."""
        name = " ".join(self.pool.name.replace('"', "'").replace("\\", "/").split())[:60]
        phrase = f'"{name}"' if name.isascii() else Header(name, "utf-8").encode()
        return f"{phrase} <pool-{self.pool.id}.{domain}>"

    def sms(self, values: dict[str, str]) -> str:
        setting = self.settings[Transport.SMS]
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
                "wallet_url": values["wallet_url"],
                "expires_at": item.expires.isoformat() if item.expires else None}


class Sender:
    """A send's transport, opened lazily and kept for the whole job."""

    def __init__(self, transport: Transport, config: Mapping) -> None:
        self.transport = Transport(transport)
        self.client = transports.client(self.transport, config)
        self.mailto = config.get("UNSUBSCRIBE_MAILTO") or ""

    def compose(self, composer: Composer, item: Prepared) -> tuple:
        """The arguments of the client's `send` for this customer's message."""
        values = composer.values(item)
        reference = f"delivery-{item.delivery_id}"
        if self.transport == Transport.EMAIL:
            mailer = self.client
            message_id = mailer.message_id(reference, composer.pool.created_at.isoformat())
            return (composer.email(item.customer.email, values, message_id, mailer.domain,
                                   self.mailto),)
        if self.transport == Transport.SMS:
            return item.customer.phone, composer.sms(values), reference
        return "voucher.issued", composer.webhook(item, values), reference

    def hand_over(self, message: tuple) -> None:
        """Give a composed message to the transport; raises DeliveryError when it fails."""
        self.client.send(*message)

    def send(self, composer: Composer, item: Prepared) -> None:
        self.hand_over(self.compose(composer, item))

    def close(self) -> None:
        self.client.close()
