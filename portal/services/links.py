"""Signed, unguessable links for customers: one per voucher, one per customer.

A token is 16 bytes, base64url (22 characters, short enough for an SMS): the row's id
and a keyed check value, encrypted as one AES block under a key derived from
SECRET_KEY. Without the key a token reveals nothing and cannot be forged or altered;
changing SECRET_KEY retires every link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import current_app

VOUCHER = b"voucher"
CUSTOMER = b"customer"
UNSUBSCRIBE = b"unsubscribe"


def _keys(secret: str, kind: bytes) -> tuple[bytes, bytes]:
    root = hashlib.sha256(secret.encode()).digest()
    cipher_key = hmac.new(root, b"link-cipher:" + kind, hashlib.sha256).digest()[:16]
    check_key = hmac.new(root, b"link-check:" + kind, hashlib.sha256).digest()
    return cipher_key, check_key


def make_token(kind: bytes, row_id: int, secret: str | None = None) -> str:
    """The token for a voucher (code id) or a customer (customer id)."""
    cipher_key, check_key = _keys(secret or current_app.config["SECRET_KEY"], kind)
    packed = struct.pack(">Q", row_id)
    block = packed + hmac.new(check_key, packed, hashlib.sha256).digest()[:8]
    # One block under ECB is a keyed permutation of that block: exactly what we need.
    encryptor = Cipher(algorithms.AES(cipher_key), modes.ECB()).encryptor()  # noqa: S305
    return base64.urlsafe_b64encode(encryptor.update(block) + encryptor.finalize()).decode().rstrip("=")


def _token_maker(kind: bytes, secret: str):  # noqa: ANN202
    """make_token for many ids of one kind: the keys derived once, and one encryptor used
    for every block (ECB encrypts each block alone, so the tokens are make_token's)."""
    cipher_key, check_key = _keys(secret, kind)
    encrypt = Cipher(algorithms.AES(cipher_key), modes.ECB()).encryptor().update  # noqa: S305
    check = hmac.new(check_key, digestmod=hashlib.sha256)
    pack = struct.Struct(">Q").pack

    def make(row_id: int) -> str:
        packed = pack(row_id)
        mac = check.copy()
        mac.update(packed)
        return base64.urlsafe_b64encode(encrypt(packed + mac.digest()[:8])).decode().rstrip("=")

    return make


def read_token(kind: bytes, token: str, secret: str | None = None) -> int | None:
    """The id inside a genuine token of this kind, or None for anything else."""
    if not isinstance(token, str) or len(token) != 22:
        return None
    try:
        block = base64.urlsafe_b64decode(token + "==")
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling: the last character carries 4 spare bits, and a
    # token that differs in them must not work too.
    if len(block) != 16 or base64.urlsafe_b64encode(block).decode().rstrip("=") != token:
        return None
    cipher_key, check_key = _keys(secret or current_app.config["SECRET_KEY"], kind)
    decryptor = Cipher(algorithms.AES(cipher_key), modes.ECB()).decryptor()  # noqa: S305
    plain = decryptor.update(block) + decryptor.finalize()
    packed, check = plain[:8], plain[8:]
    if not hmac.compare_digest(check, hmac.new(check_key, packed, hashlib.sha256).digest()[:8]):
        return None
    return struct.unpack(">Q", packed)[0]


def voucher_url(code_id: int) -> str:
    """The customer's link to one voucher, on the portal's public address."""
    return _public_url("voucher.show", token=make_token(VOUCHER, code_id))


def voucher_url_maker():  # noqa: ANN201
    """A fast voucher_url for many codes (an export): the URL prefix is built once."""
    prefix = _public_url("voucher.show", token="TOKEN")[: -len("TOKEN")]
    token = _token_maker(VOUCHER, current_app.config["SECRET_KEY"])
    return lambda code_id: prefix + token(code_id)


def customer_url(customer_pk: int) -> str:
    """The customer's link to all their vouchers (their wallet)."""
    return _public_url("voucher.wallet", token=make_token(CUSTOMER, customer_pk))


def customer_url_maker():  # noqa: ANN201
    """A fast customer_url for many customers (a send, an export): the prefix is built once."""
    prefix = _public_url("voucher.wallet", token="TOKEN")[: -len("TOKEN")]
    token = _token_maker(CUSTOMER, current_app.config["SECRET_KEY"])
    return lambda customer_pk: prefix + token(customer_pk)


def logo_url(etag: str) -> str:
    """The shop's logo on the portal's public address, for an email."""
    return _public_url("voucher.brand_logo", etag=etag)


def unsubscribe_url_maker():  # noqa: ANN201
    """The customer's one-click unsubscribe link from campaign email, for many customers:
    the URL prefix is built once."""
    prefix = _public_url("optout.unsubscribe", token="TOKEN")[: -len("TOKEN")]
    token = _token_maker(UNSUBSCRIBE, current_app.config["SECRET_KEY"])
    return lambda customer_pk: prefix + token(customer_pk)


def sample_links() -> dict[str, str]:
    """The customer's links as a preview or a test shows them: on the public address, in
    their real shape, with a token ("sample") that opens nothing."""
    return {"voucher_url": _public_url("voucher.show", token="sample"),
            "wallet_url": _public_url("voucher.wallet", token="sample"),
            "unsubscribe_url": _public_url("optout.unsubscribe", token="sample")}


def pool_url(pool_id: int) -> str:
    """The pool's page in the portal, for an alert email."""
    return _public_url("pools.pool_page", pool_id=pool_id)


def _public_url(endpoint: str, **values: str) -> str:
    from flask import url_for

    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)
