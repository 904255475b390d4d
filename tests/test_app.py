"""The app factory: configuration, SQLite's settings, health check."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from portal import create_app
from portal.config import normalize_database_url
from portal.extensions import db


def test_postgres_urls_use_psycopg3():
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x") == "sqlite:///x"


def test_database_url_and_secret_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    monkeypatch.setenv("SECRET_KEY", "from-env")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("other.db")
    assert app.config["SECRET_KEY"] == "from-env"
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("SECRET_KEY")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/portal.sqlite3"
    assert create_app().config["SECRET_KEY"] == app.config["SECRET_KEY"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app):
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_passwords_are_hashed_with_scrypt_unless_configured(monkeypatch, tmp_path, app, users):
    from portal.models import User

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "default"))
    assert create_app().config["PASSWORD_HASH_METHOD"] == "scrypt"
    hashes = db.session.scalars(db.select(User.password_hash)).all()
    assert hashes and all(h.startswith("pbkdf2:sha256:1$") for h in hashes)  # the tests' own


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    front = client.get("/")
    assert front.status_code == 302 and front.headers["Location"].endswith("/login")


def test_starting_the_app_loads_no_http_client_or_cipher_it_does_not_need(tmp_path):
    """`portal --help` imports all that create_app does: requests, urllib3 and Fernet wait
    until a replenishment or a message needs them."""
    script = (
        "import sys\n"
        "from portal import create_app\n"
        f"create_app({{'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/p.sqlite3'}})\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'cryptography.fernet',\n"
        "      'cryptography.hazmat.primitives.kdf.hkdf') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path / "instance")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
