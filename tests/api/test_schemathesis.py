"""schemathesis against the live OpenAPI document, on SQLite and PostgreSQL, with every
check: no server errors, every status and body as documented (each error's reason
among those its response lists), invalid requests refused, valid ones accepted."""

from __future__ import annotations

import threading
from contextlib import nullcontext

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from portal.services import accounts, assignment, generation, pools
from portal.services.customers import CustomerData
from tests.conftest import postgres_schema

# A request that matches the document may still be refused by a rule it cannot state (two
# fields together, a pool's state, what this server has set up): 409 and 422, each with a
# reason the operation's document lists, which response_schema_conformance checks. 400
# (the request breaks the document) never answers a valid request.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_api(request, tmp_path_factory):
    """A real HTTP server on a free port, with a pool, codes, a customer and a store."""
    path = tmp_path_factory.mktemp("schemathesis") / "portal.sqlite3"
    database = (postgres_schema("st") if request.param == "postgresql"
                else nullcontext((f"sqlite:///{path}", None)))
    with database as (url, schema):
        options = {"connect_args": {"options": f"-c search_path={schema}"}} if schema else {}
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options,
                          "SECRET_KEY": "t", "RATELIMIT_ENABLED": False,
                          "PUBLIC_BASE_URL": "http://portal.test",
                          # A valid request for a million codes is legal, but not what a quick
                          # property test should spend its minutes on.
                          "API_GENERATE_MAX": 500,
                          # Generated pools may point replenishment at any address: fail fast.
                          "REPLENISH_TIMEOUT": 1.0, "QUEUE_STORAGE": "memory"})
        with app.app_context():
            db.create_all()
            pool_id = pools.create_pool("Spring", benefit="10% off").id
            generation.generate_codes(pool_id, 200)
            assignment.assign_code(pool_id, CustomerData(customer_id="C1"))
            accounts.create_store("S1", "Main street")
            key = accounts.create_api_key("schemathesis", "integration").secret
            db.session.remove()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}", key
        server.shutdown()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(live_api):
    base, _key = live_api
    config = SchemathesisConfig.from_dict({"checks": {
        "enabled": True, "positive_data_acceptance": {"expected-statuses": ACCEPTED}}})
    return schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def every_check() -> list:
    load_all_checks()
    return [check for check in CHECKS.get_all() if not isinstance(check, type)]


def test_every_check_runs():
    names = {check.__name__ for check in every_check()}
    assert {"not_a_server_error", "status_code_conformance", "response_schema_conformance",
            "positive_data_acceptance", "negative_data_rejection", "missing_required_header",
            "unsupported_method", "ignored_auth"} <= names


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_api_matches_its_document(case, live_api):
    base, key = live_api
    # A bulk assignment of 10,000 customers is valid, and slow on a busy machine.
    case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {key}"},
                           checks=every_check(), timeout=300)
