"""Secrets the portal must read back (a partner's token and password, a webhook endpoint's
signing secret, the SMTP password and SMS token saved on the channel page), sealed with a
key derived from SECRET_KEY."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


def _fernet() -> Fernet:
    # cryptography is imported here, not at the top: the app starts without it.
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    # The label is the one the first sealed secrets (replenishment's) were made with: kept,
    # so everything sealed before still opens.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"voucher-portal replenishment secrets").derive(
        current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str | None) -> str | None:
    """The value encrypted for storage; None for an empty one."""
    return _fernet().encrypt(value.encode()).decode() if value else None


def unseal(value: str | None) -> str | None:
    """The stored value in the clear; None when there is none or it cannot be read."""
    if not value:
        return None
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken:
        return None  # SECRET_KEY changed: the marketer enters the secret again
