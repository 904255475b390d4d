"""Sign-in, sign-out, roles on every route, and CSRF."""

from __future__ import annotations

import re

import pytest

from portal.services import accounts
from tests.conftest import sign_in


def test_sign_in_lands_each_role_where_it_works(as_role):
    assert as_role("cashier").get("/").headers["Location"].endswith("/till/")
    assert as_role("marketer").get("/").headers["Location"].endswith("/pools/")
    assert as_role("admin").get("/").headers["Location"].endswith("/pools/")


def test_wrong_password_gets_a_clear_message(client, users):
    response = sign_in(client, users["marketer"], "wrong password")
    assert response.status_code == 401
    assert "do not match" in response.text
    assert client.get("/pools/").status_code == 302  # still signed out


def test_disabled_user_cannot_sign_in(client, users, app):
    user = accounts.check_password(users["marketer"], "correct horse battery")
    accounts.set_active(user.id, False)
    assert sign_in(client, users["marketer"]).status_code == 401


def test_next_only_follows_local_paths(client, users):
    response = client.post("/login?next=//evil.example/x",
                           data={"email": users["admin"], "password": "correct horse battery"})
    assert response.headers["Location"] == "/pools/"
    client.post("/logout")
    response = client.post("/login?next=/admin/",
                           data={"email": users["admin"], "password": "correct horse battery"})
    assert response.headers["Location"] == "/admin/"


def test_sign_out(as_role):
    client = as_role("marketer")
    assert client.post("/logout").status_code == 302
    assert client.get("/pools/").status_code == 302


# Which roles may open each page; every route in the URL map must be listed.
PUBLIC = {"auth.login", "auth.logout", "main.index", "main.healthz", "main.favicon", "static",
          # Health for load balancers; /metrics answers only to METRICS_TOKEN (tests/test_health.py).
          "main.readyz", "main.metrics",
          "voucher.show", "voucher.wallet", "voucher.brand_css", "voucher.brand_logo",
          # The customer's signed link, and the SMS provider's bearer token (tests/services/test_consent.py).
          "optout.unsubscribe_page", "optout.unsubscribe", "optout.sms_inbound"}
ROLES = {
    "auth.profile": {"admin", "marketer", "cashier"},  # anyone signed in: their own time zone
    "pools.undo_redemption": {"admin"},
    "pools.": {"admin", "marketer"},
    "cashier.": {"admin", "cashier"},
    "admin.": {"admin"},
}


def _sample_path(rule) -> str:
    """The rule with 1 for each id and the first choice of each any(...)."""
    path = re.sub(r"<any\((\w+)[^>]*>", r"\1", rule.rule)
    return re.sub(r"<(?:\w+:)?\w+>", "1", path)


def test_every_route_checks_its_role(app, as_role, client):
    clients = {role: as_role(role) for role in ("admin", "marketer", "cashier")}
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") or rule.endpoint in PUBLIC:
            continue
        allowed = next((roles for prefix, roles in ROLES.items()
                        if rule.endpoint.startswith(prefix)), None)
        assert allowed is not None, f"{rule.endpoint} is in no role table"
        path = _sample_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            anonymous = client.open(path, method=method)
            assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], (
                rule.endpoint, method)
            for role, role_client in clients.items():
                status = role_client.open(path, method=method).status_code
                if role in allowed:
                    assert status != 403, (rule.endpoint, method, role)
                else:
                    assert status == 403, (rule.endpoint, method, role, status)
            checked += 1
    assert checked >= 10


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True, "WTF_CSRF_ENABLED": False,
            "RATE_LIMIT_SIGN_IN": "3/minute", "RATE_LIMIT_SIGN_IN_ADDRESS": "100/minute"}


def test_repeated_failures_slow_sign_in_down(client, users):
    for _ in range(3):
        assert sign_in(client, users["marketer"], "wrong").status_code == 401
    blocked = sign_in(client, users["marketer"], "correct horse battery")
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    # Another account is not held back by someone guessing this one.
    assert sign_in(client, users["admin"]).status_code == 302
