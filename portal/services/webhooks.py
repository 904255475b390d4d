"""Signing outgoing webhooks as the Standard Webhooks specification says: the headers
webhook-id, webhook-timestamp and webhook-signature, made with the specification's own
library, so that a receiver can check who sent a delivery and refuse a replay of it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

SECRET_PREFIX = "whsec_"


def key(secret: str) -> bytes:
    """The signing key of WEBHOOK_SECRET: a Standard Webhooks secret (`whsec_` and
    base64) decoded; any other secret is its own UTF-8 bytes. Raises ValueError for a
    `whsec_` secret that is not base64."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret[len(SECRET_PREFIX):]
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("WEBHOOK_SECRET starts with whsec_ but the rest is not base64") from None
    if not decoded:
        raise ValueError("WEBHOOK_SECRET is whsec_ with no key after it")
    return decoded


def legacy_signature(secret: str, body: bytes) -> str:
    """The deprecated X-Portal-Signature header: sha256= and the HMAC-SHA256 of the body
    with the secret as written, in hex. It carries no time, so a receiver cannot refuse
    a replay of it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Signer:
    """The signature headers of each webhook delivery."""

    def __init__(self, secret: str, installation: str, clock: Callable[[], float] = time.time) -> None:
        from standardwebhooks import Webhook  # only once a webhook is sent

        self.secret = secret
        self.webhook = Webhook(key(secret))
        self._ids = installation.encode()
        self.clock = clock

    def message_id(self, reference: str, body: bytes) -> str:
        """webhook-id: the same for every attempt of one message (a receiver may drop
        repeats by it), and another for another installation's or another database's
        message with the same reference."""
        digest = hmac.new(self._ids, reference.encode() + b"\x1f" + body, hashlib.sha256).hexdigest()
        return f"msg_{reference}.{digest[:20]}"

    def headers(self, reference: str, body: bytes) -> dict[str, str]:
        message_id, at = self.message_id(reference, body), int(self.clock())
        signed = self.webhook.sign(message_id, datetime.fromtimestamp(at, UTC), body.decode())
        return {"webhook-id": message_id, "webhook-timestamp": str(at), "webhook-signature": signed,
                "X-Portal-Signature": legacy_signature(self.secret, body)}
