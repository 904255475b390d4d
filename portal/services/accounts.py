"""People and systems that use the portal: users, stores and API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import ApiKey, ApiScope, Role, Store, User, utcnow
from . import times
from .errors import Conflict, InvalidInput, NotFound
from .tx import write_transaction

MIN_PASSWORD = 10
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_STORE_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
KEY_PREFIX = "vpk_"


def store_timezone(name: str | None) -> str | None:
    """A store's time zone as given: an IANA name, or None (empty) for the portal's zone."""
    name = (name or "").strip()
    if not name:
        return None
    if not times.is_zone(name):
        raise InvalidInput(f"“{name[:80]}” is not a time zone; use an IANA name such as "
                           "Europe/Warsaw or America/New_York.", field="timezone",
                           reason="unknown_timezone")
    return name


def create_store(code: str, name: str, timezone: str | None = None) -> Store:
    """A store (till location) that cashiers belong to and redemptions record; its tills
    show times in `timezone` (None: the portal's zone)."""
    code, name = (code or "").strip(), (name or "").strip()
    if not _STORE_CODE.fullmatch(code):
        raise InvalidInput("A store code is 1–32 of A–Z, 0–9, “-”, “_”, “.”.", field="code")
    if not name:
        raise InvalidInput("A store needs a name.", field="name")
    timezone = store_timezone(timezone)
    try:
        with write_transaction() as session:
            store = Store(code=code, name=name[:200], timezone=timezone)
            session.add(store)
    except IntegrityError as exc:
        raise Conflict(f"A store with code “{code}” already exists.", field="code") from exc
    return store


def set_store_timezone(store_id: int, timezone: str | None) -> Store:
    """Change the zone a store's tills show times in (None or empty: the portal's zone)."""
    timezone = store_timezone(timezone)
    with write_transaction() as session:
        store = session.get(Store, store_id)
        if store is None:
            raise NotFound(f"There is no store {store_id}.", reason="unknown_store")
        store.timezone = timezone
    return store


def find_store(code: str) -> Store:
    store = db.session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise NotFound(f"There is no store “{code}”.", reason="unknown_store")
    return store


def create_user(email: str, password: str, role: str, store_code: str | None = None) -> User:
    """A user who signs in with email and password; cashiers belong to a store."""
    email = (email or "").strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidInput(f"“{email}” is not an email address.", field="email")
    if role not in set(Role):
        raise InvalidInput(f"Role must be one of: {', '.join(Role)}.", field="role")
    _check_password_length(password)
    store_id = find_store(store_code).id if store_code else None
    if role == Role.CASHIER and store_id is None:
        raise InvalidInput("A cashier belongs to a store: give its code.", field="store")
    # Hashed before the transaction: a strong hash takes a while, with no lock held.
    hashed = _hash(password)
    try:
        with write_transaction() as session:
            user = User(email=email, password_hash=hashed, role=role, store_id=store_id)
            session.add(user)
    except IntegrityError as exc:
        raise Conflict(f"A user with email {email} already exists.", field="email") from exc
    return user


def _check_password_length(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD} characters.",
                           field="password")


def _hash(password: str) -> str:
    return generate_password_hash(password, current_app.config["PASSWORD_HASH_METHOD"])


def find_user(email: str) -> User:
    """The user with this email (any case), or NotFound."""
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        raise NotFound(f"There is no user with email {email}.", reason="unknown_user")
    return user


def set_password(user_id: int, password: str) -> User:
    """Give the user a new password; every session they had ends."""
    _check_password_length(password)
    hashed = _hash(password)
    with write_transaction() as session:
        user = session.get(User, user_id, populate_existing=True)
        if user is None:
            raise NotFound(f"There is no user {user_id}.", reason="unknown_user")
        user.password_hash = hashed
        _raise_session_version(session, user_id)
    return user


def end_sessions(user_id: int) -> None:
    """End every session of the user, on every device (sign-out does this)."""
    with write_transaction() as session:
        _raise_session_version(session, user_id)


def _raise_session_version(session, user_id: int) -> None:  # noqa: ANN001
    # In SQL, so two changes at once each raise it; a session holding any older number
    # is refused (signed_in_user below).
    session.execute(update(User).where(User.id == user_id)
                    .values(session_version=User.session_version + 1))


def signed_in_user(user_id: int, session_version: int) -> User | None:
    """The active user a session names, or None once the user ended that session's version
    (signed out, was disabled, got a new password)."""
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.session_version != session_version:
        return None
    return user


def check_password(email: str, password: str) -> User | None:
    """The active user with this email and password, or None."""
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def has_admin() -> bool:
    return db.session.scalar(select(User.id).where(User.role == Role.ADMIN.value).limit(1)) is not None


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once; only its hash is stored


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(name: str, scope: str) -> NewKey:
    """A new API key; the secret is returned once and only its hash is kept."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("An API key needs a name.", field="name")
    if scope not in set(ApiScope):
        raise InvalidInput(f"Scope must be one of: {', '.join(ApiScope)}.", field="scope")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_transaction() as session:
        key = ApiKey(name=name[:200], scope=scope, key_hash=hash_key(secret), prefix=secret[:12])
        session.add(key)
    return NewKey(key, secret)


# Only live keys: the revoked ones never reach the session. Built once (every API call asks).
_LIVE_KEY = select(ApiKey).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))


def find_api_key(secret: str) -> ApiKey | None:
    """The live key with this secret, or None."""
    if not secret:
        return None
    return db.session.scalar(_LIVE_KEY, {"key_hash": hash_key(secret)})


def revoke_api_key(key_id: int) -> ApiKey:
    with write_transaction() as session:
        key = session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"There is no API key {key_id}.", reason="unknown_api_key")
        key.revoked_at = key.revoked_at or utcnow()
    return key


def set_active(user_id: int, active: bool | None) -> User:
    """Enable or disable a user; None flips the current state. Either way every session
    they had ends, so enabling them again does not bring an old one back."""
    with write_transaction() as session:
        user = session.get(User, user_id, populate_existing=True)
        if user is None:
            raise NotFound(f"There is no user {user_id}.", reason="unknown_user")
        user.active = (not user.active) if active is None else active
        _raise_session_version(session, user_id)
    return user


def set_user_timezone(user_id: int, timezone: str | None) -> User:
    """The zone the user's pages show times in (empty: the portal's, PORTAL_TIMEZONE)."""
    zone = store_timezone(timezone)  # the same rule as a store's zone
    with write_transaction() as session:
        user = session.get(User, user_id, populate_existing=True)
        if user is None:
            raise NotFound(f"There is no user {user_id}.", reason="unknown_user")
        user.timezone = zone
    return user


def admin_emails() -> list[str]:
    """Whom a marketer asks to set up what only an admin can: the active admins."""
    return list(db.session.scalars(select(User.email).where(
        User.role == Role.ADMIN.value, User.active).order_by(User.email)))
