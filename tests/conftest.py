"""Fixtures: every service test runs on a real SQLite file and, when configured, on
a real PostgreSQL server (PORTAL_TEST_DATABASE_URL), each test in a fresh database."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from portal import create_app
from portal.config import normalize_database_url
from portal.extensions import db

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "").strip()
PG_REQUIRED = os.environ.get("PORTAL_REQUIRE_POSTGRES", "").strip() not in ("", "0", "false")
DATA = Path(__file__).parent / "data"
# One round of PBKDF2 instead of scrypt: every test creates users and signs them in, and
# the strong hash cost more than the rest of a typical web test. Production keeps scrypt.
CHEAP_PASSWORD_HASH = "pbkdf2:sha256:1"


def pytest_sessionstart(session: pytest.Session) -> None:
    """With PORTAL_REQUIRE_POSTGRES set, a missing PostgreSQL fails the run at once."""
    if not PG_REQUIRED:
        return
    if not PG_URL:
        raise pytest.UsageError("PORTAL_REQUIRE_POSTGRES is set but PORTAL_TEST_DATABASE_URL is not")
    engine = create_engine(normalize_database_url(PG_URL))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        raise pytest.UsageError(f"PostgreSQL is required but unreachable: {exc}") from exc
    finally:
        engine.dispose()


@contextmanager
def postgres_schema(prefix: str = "t"):
    """(url, schema): a fresh PostgreSQL schema, dropped afterwards; fails or skips the
    test when no server is configured, as PORTAL_REQUIRE_POSTGRES says."""
    if not PG_URL:
        if PG_REQUIRED:
            pytest.fail("PostgreSQL is required but PORTAL_TEST_DATABASE_URL is not set")
        pytest.skip("PORTAL_TEST_DATABASE_URL is not set")
    url = normalize_database_url(PG_URL)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, schema
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A URL to an empty database of each kind; PostgreSQL gets its own schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.sqlite3'}", {}
        return
    with postgres_schema() as (url, schema):
        yield url, {"connect_args": {"options": f"-c search_path={schema}"}}


class IsolatedClient(FlaskClient):
    """A test client whose requests each get their own app context, as in production,
    even though the test keeps one pushed for calling services directly (otherwise
    `g`, and the user Flask-Login caches in it, would leak from request to request)."""

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        # Buffered: a streamed body is read while this request's contexts are current.
        kwargs.setdefault("buffered", True)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)
            if _cv_app.get(None) is not None:
                # End the test's own read snapshot so its next query sees this request.
                db.session.rollback()


@pytest.fixture
def app_config() -> dict:
    """Extra settings for the app; a test module overrides this fixture to change them."""
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory"}


@pytest.fixture
def app(database_url, app_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url, engine_options = database_url
    # The instance folder (uploads, the queue file) is the test's own.
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({
        "TESTING": True,
        "QUEUE_STORAGE": "memory",
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {**engine_options, "pool_size": 20, "max_overflow": 5},
        "PUBLIC_BASE_URL": "http://portal.test",
        "PASSWORD_HASH_METHOD": CHEAP_PASSWORD_HASH,
        **app_config,
    })
    app.test_client_class = IsolatedClient
    with app.app_context():
        db.create_all()
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    ctx.pop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def dialect(app) -> str:
    return db.engine.dialect.name


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def sign_in(client, email: str, password: str = "correct horse battery"):
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def users(app) -> dict[str, str]:
    """One user per role (and a store for the cashier); the password is shared."""
    from portal.services import accounts

    accounts.create_store("S1", "Main street")
    emails = {"admin": "admin@example.com", "marketer": "marketer@example.com",
              "cashier": "cashier@example.com"}
    for role, email in emails.items():
        accounts.create_user(email, "correct horse battery", role, "S1" if role == "cashier" else None)
    return emails


@pytest.fixture
def as_role(app, users):
    """as_role("cashier") → a test client signed in with that role."""

    def make(role: str):
        client = app.test_client()
        response = sign_in(client, users[role])
        assert response.status_code == 302, response.data
        return client

    return make


@pytest.fixture
def as_htmx(as_role):
    """as_htmx("cashier") → a client signed in with that role whose every request says
    it comes from htmx (HX-Request: true), so the views answer with their fragments."""

    def make(role: str):
        client = as_role(role)
        client.environ_base["HTTP_HX_REQUEST"] = "true"
        return client

    return make


@pytest.fixture
def htmx(as_htmx):
    """A marketer's client whose requests all come from htmx."""
    return as_htmx("marketer")


@pytest.fixture
def smtp():
    """A real SMTP server on a local port, recording the messages it accepts."""
    from tests.servers import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def receiver():
    """A real HTTP server recording the POSTs it gets (SMS provider, webhooks)."""
    from tests.servers import HttpReceiver

    server = HttpReceiver()
    yield server
    server.close()
