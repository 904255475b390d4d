"""Who uses the portal: stores, the shop's brand, users and API keys."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..vocabulary import (
    ApiScope,
    Role,
)
from .base import UTCDateTime, utcnow, values_of


class Store(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # An IANA zone name (Europe/Warsaw) for the times its tills show; None: PORTAL_TIMEZONE.
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Brand(db.Model):
    """The shop's look on voucher pages and in emails: one row, set on the admin page."""

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_name: Mapped[str] = mapped_column(String(100), default="")
    accent_colour: Mapped[str] = mapped_column(String(7), default="")  # "#1f4fa8" or ""
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)  # PNG or JPEG only
    logo_type: Mapped[str | None] = mapped_column(String(16))  # image/png, image/jpeg
    logo_etag: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("store.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised to end every session of the user (sign-out, disabling, a new password):
    # a session holds the number it started with and stops working once it is stale.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # An IANA zone name the portal's pages show this person's times in; None: PORTAL_TIMEZONE.
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    store: Mapped[Store | None] = relationship()

    __table_args__ = (CheckConstraint(f"role IN ({values_of(Role)})", name="role"),)

    @property
    def is_active(self) -> bool:  # Flask-Login: a disabled user cannot sign in
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session (and a remember cookie): the id and the
        session version, so raising the version ends both (see portal/sessions.py)."""
        return f"{self.id}:{self.session_version}"


class ApiKey(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(16))
    # sha256 of the key: keys are long random strings, so a fast hash is enough.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint(f"scope IN ({values_of(ApiScope)})", name="scope"),)
