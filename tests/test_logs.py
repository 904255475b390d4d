"""Every 500 is logged with its traceback and a request id, and the answer carries the
same id: in the test client, under `portal serve` (whose in-process migrations once
switched the portal's loggers off) and under gunicorn."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.api.test_gunicorn import free_port
from tests.faulty_app import API_FAULT, PAGE_FAULT

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_config() -> dict:
    # Pages answer their 500 instead of handing the exception to the test client.
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "PROPAGATE_EXCEPTIONS": False}


def add_faults(app) -> None:  # noqa: ANN001
    app.add_url_rule("/api/v1/test-fault", "api_fault", lambda: 1 / 0)
    app.add_url_rule("/test-fault", "page_fault", lambda: 1 / 0)


def test_a_500_is_logged_with_the_id_its_answer_shows(app, client, caplog):
    add_faults(app)
    with caplog.at_level(logging.ERROR):
        api = client.get("/api/v1/test-fault")
        page = client.get("/test-fault")
    assert api.status_code == 500 and page.status_code == 500
    api_id, page_id = api.headers["X-Request-ID"], page.headers["X-Request-ID"]
    assert api_id != page_id
    assert api.json["error"] == "internal_error" and api.json["request_id"] == api_id
    assert api_id in api.json["message"]
    assert page.mimetype == "text/html" and page_id in page.text
    logged = {record.getMessage(): record for record in caplog.records}
    for path, rid in (("/api/v1/test-fault", api_id), ("/test-fault", page_id)):
        record = logged[f"unexpected error on GET {path} [request {rid}]"]
        assert record.exc_info[0] is ZeroDivisionError


def test_every_api_error_carries_the_request_id(client):
    refused = client.get("/api/v1/pools")
    assert refused.status_code == 401
    assert refused.json["request_id"] == refused.headers["X-Request-ID"]
    assert len(refused.json["request_id"]) == 32


@pytest.mark.parametrize(("sent", "kept"), [
    ("edge-7f3a9c21", True),
    ("short", False),
    ("x" * 65, False),
    ("id with spaces\u2028", False),
])
def test_an_incoming_request_id_is_kept_only_when_it_is_plainly_one(client, sent, kept):
    answer = client.get("/healthz", headers={"X-Request-ID": sent})
    assert (answer.headers["X-Request-ID"] == sent) is kept


def serve(command: list[str], tmp_path: Path) -> tuple[subprocess.Popen, str, Path]:
    """Start a server process on a free port; (process, base URL, its stderr file)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
           "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "logs",
           "RATELIMIT_ENABLED": "false"}
    log = tmp_path / "stderr.log"
    with log.open("wb") as sink:
        server = subprocess.Popen([arg.replace("{port}", str(port)) for arg in command], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                return server, base, log
        except requests.RequestException:  # not listening yet
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.2)


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "tests.faulty_app", "serve", "--no-worker", "--port", "{port}"],
    [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", "127.0.0.1:{port}",
     "tests.faulty_app:faulty_app()"],
], ids=["portal serve", "gunicorn"])
def test_a_server_logs_each_500_with_the_request_id_it_answers(command, tmp_path):
    server, base, log = serve(command, tmp_path)
    try:
        api = requests.get(f"{base}/api/v1/test-fault", timeout=30)
        page = requests.get(f"{base}/test-fault", timeout=30)
        quoted = requests.get(f"{base}/api/v1/test-fault", headers={"X-Request-ID": "till-42-a1b2c3"},
                              timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=60)
    text = log.read_text()
    assert api.status_code == page.status_code == quoted.status_code == 500
    assert api.json()["request_id"] == api.headers["X-Request-ID"]
    assert quoted.json()["request_id"] == quoted.headers["X-Request-ID"] == "till-42-a1b2c3"
    assert page.headers["X-Request-ID"] in page.text
    for rid, fault in ((api.headers["X-Request-ID"], API_FAULT), (page.headers["X-Request-ID"], PAGE_FAULT),
                       ("till-42-a1b2c3", API_FAULT)):
        logged = text[text.index(f"[request {rid}]"):]
        assert "Traceback (most recent call last)" in logged
        assert f"RuntimeError: {fault}" in logged
