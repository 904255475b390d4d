"""Browser tests: Debian's Chromium driven by pytest-playwright against a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest
from axe_playwright_python.sync_playwright import Axe
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from tests.conftest import CHEAP_PASSWORD_HASH

CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> None:
    """Install Debian's Chromium when it is missing (never a browser Playwright downloads)."""
    if os.path.exists(CHROMIUM) or shutil.which("apt-get") is None or os.geteuid() != 0:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    ensure_chromium()
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--disable-gpu", "--disable-quic", "--disable-sync", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update"]}


@pytest.fixture
def csp_violations() -> list[str]:
    """What the browser refused under the portal's Content-Security-Policy in this test."""
    return []


@pytest.fixture
def new_context(new_context, csp_violations):
    """Every browser context of a test (and so the `page` fixture) reports what the
    Content-Security-Policy refused, and the test fails if anything was: an inline script
    or style, an eval (an hx-on attribute), a frame."""

    def make(**kwargs):
        context = new_context(**kwargs)
        context.on("console", lambda message: csp_violations.append(message.text)
                   if "Content Security Policy" in message.text else None)
        return context

    yield make
    assert csp_violations == [], csp_violations


@pytest.fixture
def live_config() -> dict:
    """Extra settings for the live portal; a test module overrides this to change them."""
    return {"QUEUE_STORAGE": "memory"}


@pytest.fixture
def live(tmp_path, live_config, monkeypatch):
    """The portal on a free port, CSRF on, on its own SQLite file and instance folder;
    yields (url, app)."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "SECRET_KEY": "browser-tests", "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": True,
        "PUBLIC_BASE_URL": "http://127.0.0.1", "PASSWORD_HASH_METHOD": CHEAP_PASSWORD_HASH,
        **live_config,
    })
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    yield url, app
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def axe() -> Axe:
    return Axe()


def assert_accessible(axe: Axe, page, impacts=("serious", "critical")) -> None:  # noqa: ANN001
    """No axe-core violation of these impacts (None: of any impact) on the page as it is now."""
    results = axe.run(page)
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
           for v in results.response["violations"] if impacts is None or v["impact"] in impacts]
    assert bad == [], bad


VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 900}}
