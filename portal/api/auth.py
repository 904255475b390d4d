"""Bearer API keys, and what each scope may call."""

from __future__ import annotations

import hashlib

from flask import g, request

from ..services import accounts
from ..services.actor import Actor
from .errors import ApiError

SCOPES = {"integration": {"integration"}, "pos": {"integration", "pos"}}


def bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


# RFC 6750's challenge: a bare one when no bearer token came, and one that says why
# when the token that came is wrong or may not do this.
CHALLENGE = 'Bearer realm="api"'
WRONG_KEY = f'{CHALLENGE}, error="invalid_token"'
WRONG_SCOPE = f'{CHALLENGE}, error="insufficient_scope"'


def authenticate(needed: str) -> None:
    """Set g.api_key and g.actor, or raise 401 (no or wrong key) or 403 (wrong scope),
    each with its `WWW-Authenticate` challenge."""
    secret = bearer()
    key = accounts.find_api_key(secret)
    if key is None:
        raise ApiError(401, "unauthorized", "Send a valid API key as `Authorization: Bearer <key>`.",
                       headers={"WWW-Authenticate": WRONG_KEY if secret else CHALLENGE})
    if key.scope not in SCOPES[needed]:
        raise ApiError(403, "forbidden", f"This key's scope ({key.scope}) cannot call this.",
                       headers={"WWW-Authenticate": WRONG_SCOPE})
    g.api_key = key
    g.actor = Actor(api_key_id=key.id)


def key_identity() -> str:
    """The rate limiter's per-key bucket: a hash of the presented key (valid or not)."""
    secret = bearer()
    return "key:" + (hashlib.sha256(secret.encode()).hexdigest()[:24] if secret else "none")
