"""The sending channels' settings: saved by an admin on the portal's channel page, or
given in the server's environment, which wins.

The one place that says what the transports use (`effective`): every transport reads its
settings through it, so a send, a test, the admin page and the stage 4 buttons agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import has_app_context
from sqlalchemy import select

from ..extensions import db
from ..models import TransportSetting, utcnow
from ..vocabulary import Transport
from .errors import InvalidInput
from .secrets import seal, unseal
from .tx import write_transaction

SMTP_SECURITIES = ("none", "starttls", "tls")
HOST_MAX, ADDRESS_MAX, URL_MAX, SECRET_MAX = 253, 254, 2000, 1000


@dataclass(frozen=True)
class Group:
    """One channel's settings: the setting that says it is set up (the environment's
    presence test), the plain ones, and the secret one."""

    key: str
    plain: tuple[str, ...]
    secret: str


GROUPS = {
    Transport.EMAIL: Group("SMTP_HOST", ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USERNAME",
                                         "MAIL_FROM"), "SMTP_PASSWORD"),
    Transport.SMS: Group("SMS_URL", ("SMS_URL",), "SMS_TOKEN"),
}


class Effective(dict):
    """The app's settings with the saved channels filled in: what the transports read."""

    from_saved: dict[str, bool]


def from_environment(config: Mapping, transport: str) -> bool:
    """Whether the server's environment sets the channel up (then what is saved waits)."""
    group = GROUPS.get(transport)
    if isinstance(config, Effective) and transport in config.from_saved:
        return False
    return bool(group and config.get(group.key))


def effective(config: Mapping) -> Mapping:
    """The settings the transports use: the environment's for a channel it sets up, else
    what an admin saved on the channel page. Outside an app (a bare test) only `config`."""
    if isinstance(config, Effective) or not has_app_context():
        return config
    out = Effective(config)
    out.from_saved = {}
    for row in db.session.scalars(select(TransportSetting)):
        group = GROUPS.get(row.transport)
        if group is None or config.get(group.key):
            continue  # the environment wins
        out.update({name: row.values.get(name, "") for name in group.plain})
        out[group.secret] = unseal(row.secret) or ""
        out.from_saved[row.transport] = True
    return out


def trial(config: Mapping, transport: str, values: Mapping, secret: str | None) -> Effective:
    """The settings as typed on the channel page, before they are saved (for a test):
    a secret left empty is the saved one."""
    out = Effective(config)
    out.from_saved = {transport: True}
    out.update(_checked(transport, values))
    out[GROUPS[transport].secret] = secret or saved_secret(transport) or ""
    return out


def saved(transport: str) -> dict:
    """What is saved for a channel (no secret: only whether one is stored)."""
    row = db.session.get(TransportSetting, transport)
    if row is None:
        return {}
    return {**row.values, "secret_stored": bool(row.secret), "updated_at": row.updated_at}


def saved_secret(transport: str) -> str | None:
    row = db.session.get(TransportSetting, transport)
    return unseal(row.secret) if row is not None else None


def _checked(transport: str, values: Mapping) -> dict:
    """The plain settings of a channel, refused with the field's own words when wrong."""
    if transport not in GROUPS:
        raise InvalidInput(f"Unknown channel {transport}.", field="transport")
    if transport == Transport.EMAIL:
        host = (values.get("SMTP_HOST") or "").strip()
        if not host or len(host) > HOST_MAX or any(c.isspace() for c in host):
            raise InvalidInput("Enter the SMTP server's host name, e.g. smtp.example.com.", field="host")
        port = values.get("SMTP_PORT")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidInput("The port is a number from 1 to 65535 (587 for STARTTLS, 465 for TLS).",
                               field="port")
        security = (values.get("SMTP_SECURITY") or "none").lower()
        if security not in SMTP_SECURITIES:
            raise InvalidInput("Choose none, STARTTLS or TLS.", field="security")
        sender = (values.get("MAIL_FROM") or "").strip()
        if "@" not in sender or len(sender) > ADDRESS_MAX:
            raise InvalidInput("Enter the address emails come from, e.g. Shop <vouchers@shop.example>.",
                               field="mail_from")
        return {"SMTP_HOST": host, "SMTP_PORT": port, "SMTP_SECURITY": security,
                "SMTP_USERNAME": (values.get("SMTP_USERNAME") or "").strip(), "MAIL_FROM": sender}
    url = (values.get("SMS_URL") or "").strip()
    if not url.startswith(("https://", "http://")) or len(url) > URL_MAX:
        raise InvalidInput("Enter the provider's address, starting with https://.", field="url")
    return {"SMS_URL": url}


def save(transport: str, values: Mapping, secret: str | None = None, *, forget_secret: bool = False,
         user_id: int | None = None) -> None:
    """Store a channel's settings; the secret sealed. An empty secret keeps the stored one."""
    plain = _checked(transport, values)
    if secret and len(secret) > SECRET_MAX:
        raise InvalidInput(f"At most {SECRET_MAX} characters.", field="secret")
    with write_transaction() as session:
        row = session.get(TransportSetting, transport)
        if row is None:
            row = TransportSetting(transport=transport, values={})
            session.add(row)
        row.values = plain
        if secret:
            row.secret = seal(secret)
        elif forget_secret:
            row.secret = None
        row.updated_at, row.updated_by = utcnow(), user_id
