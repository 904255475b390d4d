"""/healthz, /readyz and /metrics as a load balancer and Prometheus see them: with the
database and the queue up, and with them stopped (an app pointed at a closed port). The
metrics are read with prometheus_client's own parser."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from portal import create_app, queue
from portal.extensions import db
from portal.services import accounts, assignment, pools
from portal.services.customers import CustomerData
from tests.api.test_gunicorn import free_port, gunicorn
from tests.conftest import CHEAP_PASSWORD_HASH
from tests.helpers import pool_with_codes, run_queue
from tests.test_worker import Worker, wait_for

TOKEN = "scrape-me"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(response) -> dict[tuple[str, frozenset], float]:  # noqa: ANN001
    """{(sample name, its labels): value} of a Prometheus text answer."""
    assert response.status_code == 200, getattr(response, "data", None)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def stopped_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **config):  # noqa: ANN003
    """An app whose database is a PostgreSQL URL on a port nothing listens on."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    return create_app({"TESTING": True, "SECRET_KEY": "test", "METRICS_TOKEN": TOKEN,
                       "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
                       "QUEUE_STORAGE": "memory", **config})


def assert_json_without_details(response, port_text: str) -> dict:  # noqa: ANN001
    """A JSON answer that names no host, port or traceback (those go to the log)."""
    assert response.is_json, response.data
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and port_text not in text and "psycopg" not in text.lower()
    return response.get_json()


def test_with_the_database_stopped_health_says_alive_and_readiness_names_the_database(
        tmp_path, monkeypatch):
    app = stopped_app(tmp_path, monkeypatch)
    port = app.config["SQLALCHEMY_DATABASE_URI"].rsplit(":", 1)[1].split("/")[0]
    client = app.test_client()
    queue.record_heartbeat()  # the worker is fine; only the database is down

    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.get_json() == {"status": "ok"}

    ready = client.get("/readyz")
    assert ready.status_code == 503
    answer = assert_json_without_details(ready, port)
    assert answer["status"] == "not_ready" and answer["failing"] == ["database"]
    assert answer["checks"]["database"] == {"ok": False, "message": "The database did not answer."}
    assert answer["checks"]["queue"]["ok"] and answer["checks"]["worker"]["ok"]
    without = client.get("/readyz?exclude=database")
    assert without.status_code == 200 and set(without.get_json()["checks"]) == {"queue", "worker"}

    # /metrics still answers: what the processes counted, and that the database is down.
    found = samples(client.get("/metrics", headers=AUTH))
    assert value(found, "portal_database_up") == 0 and value(found, "portal_queue_up") == 1
    assert value(found, "portal_http_requests_total", endpoint="main.readyz", method="GET",
                 status="503") >= 1
    assert not any(name.startswith(("portal_pool_codes", "portal_jobs", "portal_deliveries"))
                   for name, _ in found)


def test_with_the_queue_stopped_readiness_names_the_queue_and_the_worker(tmp_path, monkeypatch):
    closed = free_port()
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "METRICS_TOKEN": TOKEN,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
                      "QUEUE_STORAGE": "redis", "REDIS_URL": f"redis://127.0.0.1:{closed}/0"})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    answer = assert_json_without_details(ready, str(closed))
    assert answer["failing"] == ["queue", "worker"]
    assert answer["checks"]["database"] == {"ok": True}
    assert "did not answer" in answer["checks"]["worker"]["message"]
    found = samples(client.get("/metrics", headers=AUTH))
    assert value(found, "portal_queue_up") == 0 and value(found, "portal_database_up") == 1


def test_readiness_wants_a_recent_worker_heartbeat(client):
    ready = client.get("/readyz")
    assert ready.status_code == 503
    answer = ready.get_json()
    assert answer["failing"] == ["worker"]
    assert answer["checks"]["worker"]["message"].startswith("No worker has sent a heartbeat")
    assert answer["checks"]["database"] == {"ok": True} and answer["checks"]["queue"] == {"ok": True}
    assert client.get("/readyz?exclude=worker").status_code == 200

    queue.record_heartbeat(at=time.time() - queue.HEARTBEAT_FRESH - 5)
    stale = client.get("/readyz")
    assert stale.status_code == 503 and stale.get_json()["failing"] == ["worker"]
    assert stale.get_json()["checks"]["worker"]["age_seconds"] > queue.HEARTBEAT_FRESH

    queue.record_heartbeat()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    answer = ready.get_json()
    assert answer["status"] == "ready" and answer["failing"] == []
    worker = answer["checks"]["worker"]
    assert worker["ok"] and worker["worker"].endswith(f":{os.getpid()}")

    unknown = client.get("/readyz?exclude=wroker")
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_request"


def test_metrics_exist_only_with_a_token_and_answer_only_to_it(app, client):
    app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics", headers=AUTH).status_code == 404
    app.config["METRICS_TOKEN"] = TOKEN
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert refused.get_json()["error"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_a_running_portal_worker_makes_the_portal_ready(tmp_path, monkeypatch):
    """A real `portal worker` sharing the instance folder's queue file sends heartbeats."""
    database = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "shared",
           "DATABASE_URL": database, "QUEUE_STORAGE": "sqlite"}
    env.pop("REDIS_URL", None)
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", env["PORTAL_INSTANCE_PATH"])
    app = create_app({"SECRET_KEY": "shared", "SQLALCHEMY_DATABASE_URI": database, "QUEUE_STORAGE": "sqlite"})
    with app.app_context():
        db.create_all()
        client = app.test_client()
        assert client.get("/readyz").get_json()["failing"] == ["worker"]
        log = tmp_path / "worker.log"
        worker = Worker(env, log)
        try:
            wait_for(lambda: client.get("/readyz").status_code == 200, "a heartbeat", log, seconds=60)
            answer = client.get("/readyz").get_json()
            assert answer["checks"]["worker"]["worker"].endswith(f":{worker.process.pid}")
        finally:
            worker.stop()
        db.engine.dispose()


@pytest.fixture
def app_config(receiver):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "METRICS_TOKEN": TOKEN, "WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": "hook-secret"}


def test_metrics_count_requests_redemptions_codes_jobs_and_deliveries(app, client, receiver):
    before = samples(client.get("/metrics", headers=AUTH))
    pool_id = pool_with_codes("Spring", 10)
    pool_with_codes("Paused", 3, status="paused")
    held = [assignment.assign_code(pool_id, CustomerData(customer_id=f"C{i}")).code for i in range(3)]
    key = accounts.create_api_key("till", "pos").secret
    api = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/redemptions", json={"code": held[0]}, headers=api).status_code == 201
    assert client.post("/api/v1/redemptions", json={"code": held[0]}, headers=api).status_code == 409
    assert client.post("/api/v1/redemptions/validate", json={"code": "NO-SUCH-CODE"},
                       headers=api).status_code == 200
    job, _ = queue.start_send(pool_id, "webhook")
    run_queue()
    queue.start_send(pool_id, "webhook")  # a second send waits for a worker

    found = samples(client.get("/metrics", headers=AUTH))

    def grew(name: str, **labels: str) -> float:
        return value(found, name, **labels) - value(before, name, **labels)

    assert grew("portal_redemptions_total") == 1
    assert grew("portal_redemption_refusals_total", action="redeem", reason="already_redeemed") == 1
    assert grew("portal_redemption_refusals_total", action="validate", reason="unknown_code") == 1
    assert grew("portal_http_requests_total", endpoint="api.redeem", method="POST", status="201") == 1
    assert grew("portal_http_requests_total", endpoint="api.redeem", method="POST", status="409") == 1
    assert grew("portal_http_request_duration_seconds_count", endpoint="api.redeem", method="POST") == 2
    spring = {"pool_id": str(pool_id), "pool": "Spring"}
    assert {status: value(found, "portal_pool_codes", status=status, **spring)
            for status in ("available", "assigned", "redeemed", "canceled")} == {
        "available": 7, "assigned": 2, "redeemed": 1, "canceled": 0}
    assert not any(dict(labels).get("pool") == "Paused" for _, labels in found)  # active pools only
    assert value(found, "portal_jobs", kind="send", state="queued") == 1
    assert len(receiver.requests) == 2  # the unredeemed holders
    assert value(found, "portal_deliveries", channel="webhook", state="sent") == 2
    assert value(found, "portal_deliveries", channel="webhook", state="skipped") == 1
    assert value(found, "portal_database_up") == 1


def test_several_gunicorn_workers_add_up_their_counts_in_one_scrape(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, whichever worker answers a scrape counts the
    requests that every worker answered."""
    database = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": "shared",
                      "PASSWORD_HASH_METHOD": CHEAP_PASSWORD_HASH})
    with app.app_context():
        db.create_all()
        pools.create_pool("Empty")
        db.engine.dispose()
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "QUEUE_STORAGE")}
    env.update(DATABASE_URL=database, SECRET_KEY="shared", RATELIMIT_ENABLED="false",
               PORTAL_INSTANCE_PATH=str(tmp_path / "instance"), METRICS_TOKEN=TOKEN,
               PROMETHEUS_MULTIPROC_DIR=str(shared))
    # A previous run's counts, which gunicorn's start (gunicorn.conf.py) must clear.
    subprocess.run([sys.executable, "-c", "from portal import metrics; metrics.REQUESTS.labels("
                    "endpoint='auth.login', method='GET', status='200').inc(1000)"],
                   env=env, check=True)
    assert list(shared.glob("counter_*.db"))
    with gunicorn(env, 2, tmp_path / "gunicorn.log") as base:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: requests.get(f"{base}/login", timeout=30).status_code,
                                     range(40)))
        assert statuses == [200] * 40
        scrapes = [samples(requests.get(f"{base}/metrics", headers=AUTH, timeout=30)) for _ in range(4)]
    for found in scrapes:
        assert value(found, "portal_http_requests_total", endpoint="auth.login", method="GET",
                     status="200") == 40
        assert value(found, "portal_database_up") == 1
