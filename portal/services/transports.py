"""The outside services that carry messages: an SMTP server, an SMS provider's HTTP
API and a webhook receiver, configured from the environment or, for email and SMS, on the
admin's channel page (every entry point reads them through transport_settings.effective)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid, parseaddr, parsedate_to_datetime
from typing import TYPE_CHECKING

from ..models import Transport
from . import message_bytes, webhooks
from .addresses import is_loopback_host
from .transport_settings import SMTP_SECURITIES, effective, from_environment
from .urls import without_credentials

if TYPE_CHECKING:
    import requests

HTTP_TIMEOUT = 15
SMTP_TIMEOUT = 30
SMS_BODY_DEFAULT = '{"to": "{{ to }}", "text": "{{ text }}", "reference": "{{ reference }}"}'


class DeliveryError(Exception):
    """A message did not go out. Transient errors are worth another attempt later;
    `retry_after` is how many seconds the receiver asked the sender to wait (HTTP 429 or
    503 with Retry-After), which pauses the whole send rather than failing anything."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds a Retry-After header asks for (RFC 9110: a number of seconds, or an
    HTTP date), or None when there is none or it cannot be read. A date in the past
    asks for no wait."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@functools.cache
def user_agent() -> str:
    """The User-Agent of every request the portal sends: its name and installed version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"voucher-portal/{version('voucher-portal')}"
    except PackageNotFoundError:
        return "voucher-portal"


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str | None = None  # Mailer.message_id(...): the same for a repeat
    headers: tuple[tuple[str, str], ...] = ()  # List-Id and such, as they are written


# How a sentence names each transport ("Send by SMS"); a heading capitalises it.
NAMES = {Transport.EMAIL: "email", Transport.SMS: "SMS", Transport.WEBHOOK: "webhook"}



def configured(config: Mapping, transport: str) -> bool:
    """Whether the transport has what it needs to send (it may still refuse: refusal())."""
    config = effective(config)
    if transport == Transport.EMAIL:
        return bool(config.get("SMTP_HOST") and config.get("MAIL_FROM"))
    if transport == Transport.SMS:
        return bool(config.get("SMS_URL"))
    if transport == Transport.WEBHOOK:
        return bool(config.get("WEBHOOK_URL"))
    return False


def smtp_refusal(config: Mapping) -> str | None:
    """Why the SMTP settings must not be used, or None: an unknown SMTP_SECURITY, or a
    password that would cross the network readable (a sign-in without TLS to a server
    other than this machine, unless SMTP_ALLOW_PLAIN_AUTH says so)."""
    config = effective(config)
    security = (config.get("SMTP_SECURITY") or "none").lower()
    if security not in SMTP_SECURITIES:
        return f"SMTP_SECURITY is {security!r}; use none, starttls or tls."
    host = config.get("SMTP_HOST") or ""
    if (security == "none" and config.get("SMTP_USERNAME") and not is_loopback_host(host)
            and not config.get("SMTP_ALLOW_PLAIN_AUTH")):
        return (f"SMTP_SECURITY is none, so the SMTP password would cross the network to {host} "
                "unencrypted; set SMTP_SECURITY to starttls or tls (or SMTP_ALLOW_PLAIN_AUTH=1 "
                "if that network is trusted).")
    return None


def refusal(config: Mapping, transport: str) -> str | None:
    """Why nothing can be sent on the transport now, or None when it is ready: the one
    rule behind the send buttons, a send's start and the admin page."""
    config = effective(config)
    if not configured(config, transport):
        return (f"The {transport} channel is not set up; an admin sets it up on the "
                "portal's channel page.")
    if transport == Transport.EMAIL:
        return smtp_refusal(config)
    return None


def describe(config: Mapping) -> list[dict]:
    """Each channel's configuration as an admin may see it: no secrets, only whether set,
    and where it comes from (the environment, or the channel page)."""
    config = effective(config)
    security = config.get("SMTP_SECURITY") or "none"
    return [
        {"channel": Transport.EMAIL, "configured": configured(config, Transport.EMAIL),
         "source": _source(config, Transport.EMAIL),
         "warning": smtp_refusal(config) if config.get("SMTP_HOST") else None,
         "settings": [("SMTP server", f"{config.get('SMTP_HOST') or '—'}:{config.get('SMTP_PORT')}"),
                      ("Security", security), ("From", config.get("MAIL_FROM") or "—"),
                      ("User", config.get("SMTP_USERNAME") or "—"),
                      ("Password", "set" if config.get("SMTP_PASSWORD") else "not set")]},
        {"channel": Transport.SMS, "configured": configured(config, Transport.SMS), "warning": None,
         "source": _source(config, Transport.SMS),
         "settings": [("Provider URL", _shown(config.get("SMS_URL"))),
                      ("Token", "set" if config.get("SMS_TOKEN") else "not set")]},
        {"channel": Transport.WEBHOOK, "configured": configured(config, Transport.WEBHOOK),
         "warning": None, "source": "environment" if configured(config, Transport.WEBHOOK) else None,
         "settings": [("URL", _shown(config.get("WEBHOOK_URL"))),
                      ("Signing secret", _secret_kind(config.get("WEBHOOK_SECRET") or ""))]},
    ]


def _source(config: Mapping, transport: str) -> str | None:
    if not configured(config, transport):
        return None
    return "environment" if from_environment(config, transport) else "channel page"


def _secret_kind(secret: str) -> str:
    if not secret:
        return "not set"
    return "set (Standard Webhooks)" if secret.startswith(webhooks.SECRET_PREFIX) else "set (plain text)"


def _shown(url: str | None) -> str:
    # No query either: a provider's key often travels in it.
    return without_credentials(url, query=False) or "—"


class Mailer:
    """One SMTP connection reused for many messages, reopened when the server drops it."""

    def __init__(self, config: Mapping) -> None:
        config = effective(config)
        self.host = config.get("SMTP_HOST") or ""
        self.port = int(config.get("SMTP_PORT") or 25)
        self.security = (config.get("SMTP_SECURITY") or "none").lower()
        self.username = config.get("SMTP_USERNAME") or ""
        self.password = config.get("SMTP_PASSWORD") or ""
        self.sender = config.get("MAIL_FROM") or ""
        self.reply_to = config.get("MAIL_REPLY_TO") or ""
        self._from = _address(self.sender)
        self._envelope_from = parseaddr(self.sender)[1]
        self.domain = parseaddr(self.sender)[1].rpartition("@")[2].lower() or "localhost"
        self._secret = str(config.get("SECRET_KEY") or "").encode()
        self.refused = smtp_refusal(config)
        self._smtp: smtplib.SMTP | None = None

    def message_id(self, label: str, *unique: object) -> str:
        """A Message-ID at MAIL_FROM's domain, the same each time for the same arguments
        (a retry of one delivery), so a receiving system can spot a repeat. `unique` holds
        what tells this message from one with the same label after a database reset (a
        creation time); the installation's secret tells it from another installation's."""
        digest = hmac.new(self._secret, "\x1f".join(map(str, (label, *unique))).encode(),
                          hashlib.sha256).hexdigest()[:20]
        return f"<{label}.{digest}@{self.domain}>"

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        if self.refused:
            raise DeliveryError(self.refused, transient=False)
        try:
            if self.security == "tls":
                smtp: smtplib.SMTP = message_bytes.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT,
                                                     context=ssl.create_default_context())
            else:
                smtp = message_bytes.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"the SMTP server refused the sign-in: {exc.smtp_code}",
                                transient=False) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"the SMTP server does not offer that ({exc}); check SMTP_SECURITY",
                                transient=False) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"the SMTP server's certificate is not trusted: {exc.verify_message}",
                                transient=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"cannot reach the SMTP server {self.host}:{self.port}: {exc}",
                                transient=True) from exc
        self._smtp = smtp
        return smtp

    def _headers(self, email: Email) -> list[tuple[str, str]]:
        headers = [("From", self._from), ("To", _address(email.to)),
                   ("Subject", message_bytes.unstructured(email.subject))]
        if self.reply_to:
            headers.append(("Reply-To", _address(self.reply_to)))
        headers += [("Date", format_datetime(datetime.now(UTC))),  # "+0000", not "-0000"
                    ("Message-ID", email.message_id or make_msgid(domain=self.domain)),
                    *email.headers]
        return headers

    def _message(self, email: Email) -> tuple[bytes | MIMEMultipart, str, str]:
        """(the message, the envelope's sender and recipient)."""
        sender, to = self._envelope_from, email.to if message_bytes.bare(email.to) else parseaddr(email.to)[1]
        if sender.isascii() and to.isascii():
            return message_bytes.build(self._headers(email), email.text, email.html), sender, to
        # An address beyond ASCII needs SMTPUTF8, which send_message negotiates.
        message = MIMEMultipart("alternative")
        for name, value in self._headers(email):
            message[name] = value
        message.attach(MIMEText(email.text, "plain", "utf-8"))
        message.attach(MIMEText(email.html, "html", "utf-8"))
        return message, sender, to

    def send(self, email: Email) -> None:
        """Hand one message to the SMTP server; raises DeliveryError."""
        message, sender, to = self._message(email)
        for attempt in (1, 2):
            smtp = self._connect()
            try:
                if isinstance(message, bytes):
                    smtp.sendmail(sender, [to], message)
                else:
                    smtp.send_message(message)
                return
            except smtplib.SMTPServerDisconnected as exc:
                # An idle connection the server closed: reconnect once and try again.
                self.close()
                if attempt == 2:
                    raise DeliveryError(f"the SMTP server hung up: {exc}", transient=True) from exc
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise DeliveryError(f"the SMTP server refused {email.to}: {code} {_text(text)}",
                                    transient=400 <= code < 500) from exc
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise DeliveryError(f"the SMTP server answered {exc.smtp_code} {_text(exc.smtp_error)}",
                                    transient=400 <= exc.smtp_code < 500) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise DeliveryError(f"sending to the SMTP server failed: {exc}", transient=True) from exc

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None


def _address(value: str) -> str:
    """An address header, its display name encoded when it is not plain ASCII."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# The answers with which a receiver asks the sender to slow down (RFC 9110, RFC 6585).
WAIT_ASKED = (429, 503)


def _post(session: requests.Session, url: str, what: str, **kwargs) -> requests.Response:  # noqa: ANN003
    import requests  # here, not at the top: the app starts without it (`portal --help`)

    try:
        response = session.post(url, timeout=HTTP_TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise DeliveryError(f"cannot reach the {what}: {type(exc).__name__}", transient=True) from exc
    if response.status_code >= 300:
        status = response.status_code
        # Overload and server trouble pass; a refusal of the request itself does not.
        transient = status >= 500 or status in (408, 425, 429)
        wait = retry_after(response.headers.get("Retry-After")) if status in WAIT_ASKED else None
        asked = f" (Retry-After: {response.headers['Retry-After']})" if wait is not None else ""
        raise DeliveryError(f"the {what} answered HTTP {status}{asked}: {response.text[:200]}",
                            transient=transient, retry_after=wait)
    return response


class SmsSender:
    """Posts one text message per call to the SMS provider's HTTP API."""

    def __init__(self, config: Mapping) -> None:
        config = effective(config)
        self.url = config.get("SMS_URL") or ""
        self.token = config.get("SMS_TOKEN") or ""
        self.body = json.loads(config.get("SMS_BODY") or SMS_BODY_DEFAULT)
        self.http = _session()

    def send(self, to: str, text: str, reference: str) -> None:
        values = {"to": to, "text": text, "reference": reference}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        _post(self.http, self.url, "SMS provider", json=fill(self.body, values), headers=headers)

    def close(self) -> None:
        self.http.close()


def _session() -> requests.Session:
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = user_agent()
    return session


def fill(template: object, values: Mapping[str, str]) -> object:
    """The provider's JSON body with {{ name }} replaced inside its strings only, so the
    values can hold quotes or braces and the body stays valid JSON."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{{ " + name + " }}", value)
        return template
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, dict):
        return {key: fill(item, values) for key, item in template.items()}
    return template


class WebhookSender:
    """POSTs a JSON document per call to the configured webhook URL, signed as the
    Standard Webhooks specification says (`webhooks.Signer`)."""

    def __init__(self, config: Mapping, clock: Callable[[], float] = time.time) -> None:
        secret = config.get("WEBHOOK_SECRET") or ""
        self.url = config.get("WEBHOOK_URL") or ""
        self.signer = webhooks.Signer(secret, str(config.get("SECRET_KEY") or ""), clock) if secret else None
        self.http = _session()

    def send(self, event: str, payload: dict, reference: str) -> None:
        body = json.dumps({"event": event, **payload}, separators=(",", ":"),
                          ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-Portal-Event": event,
                   "X-Portal-Delivery": reference}
        if self.signer is not None:
            headers.update(self.signer.headers(reference, body))
        _post(self.http, self.url, "webhook receiver", data=body, headers=headers)

    def close(self) -> None:
        self.http.close()


def client(transport: str, config: Mapping) -> Mailer | SmsSender | WebhookSender:
    """The sender for a transport (email, sms or webhook)."""
    senders = {Transport.EMAIL: Mailer, Transport.SMS: SmsSender, Transport.WEBHOOK: WebhookSender}
    return senders[transport](config)
