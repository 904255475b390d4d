"""Behind a reverse proxy, TRUSTED_PROXIES says how many X-Forwarded-* hops to believe;
without it, a client cannot pick its own address to dodge the per-address limit."""

from __future__ import annotations

import pytest
from flask import request

from portal.services import accounts
from tests.api.conftest import Api
from tests.helpers import customer, pool_with_codes

PROXY = {"REMOTE_ADDR": "10.0.0.1"}


def config(trusted: int) -> dict:
    return {"RATELIMIT_ENABLED": True, "RATE_LIMIT_UNKNOWN_CODE": "3/minute",
            "TRUSTED_PROXIES": trusted}


def _seen(app):
    """A page that shows what the app takes the client's address and scheme to be."""
    app.add_url_rule("/_seen", "seen", lambda: f"{request.remote_addr} {request.scheme}")


def guess(api: Api, code: str, forwarded_for: str):
    return api.post("/redemptions/validate", {"code": code}, environ_base=PROXY,
                    headers={"X-Forwarded-For": forwarded_for})


@pytest.fixture
def known_code(app) -> str:
    from portal.services import assignment

    return assignment.assign_code(pool_with_codes(n=2), customer("C1")).code


class TestNoTrustedProxy:
    @pytest.fixture
    def app_config(self) -> dict:
        return config(0)

    def test_forwarded_headers_are_ignored(self, app, client):
        _seen(app)
        seen = client.get("/_seen", environ_base=PROXY,
                          headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
        assert seen.text == "10.0.0.1 http"

    def test_a_forged_address_does_not_dodge_the_address_limit(self, client, known_code):
        """Two keys (so neither key's own limit applies) each claiming fresh addresses."""
        keys = [Api(client, accounts.create_api_key(f"k{i}", "pos").secret) for i in range(2)]
        for i in range(3):
            assert guess(keys[i % 2], f"GUESS-{i}", f"198.51.100.{i}").status_code == 200
        assert guess(keys[1], known_code, "198.51.100.77").status_code == 429


class TestOneTrustedProxy:
    @pytest.fixture
    def app_config(self) -> dict:
        return config(1)

    def test_the_proxy_says_who_the_client_is(self, app, client):
        _seen(app)
        seen = client.get("/_seen", environ_base=PROXY,
                          headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9",
                                   "X-Forwarded-Proto": "https"})
        assert seen.text == "203.0.113.9 https"  # the hop the proxy added, not the client's own

    def test_clients_behind_the_proxy_have_their_own_address_limit(self, client, known_code):
        keys = [Api(client, accounts.create_api_key(f"k{i}", "pos").secret) for i in range(2)]
        for i in range(3):
            assert guess(keys[0], f"GUESS-{i}", "203.0.113.9").status_code == 200
        assert guess(keys[0], known_code, "203.0.113.9").status_code == 429
        # Another client behind the same proxy is not held back by the guesser.
        other = guess(keys[1], known_code, "198.51.100.4")
        assert other.status_code == 200 and other.json["valid"] is True


def test_trusted_proxies_must_be_a_whole_number(monkeypatch, tmp_path):
    from portal import create_app

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TRUSTED_PROXIES", "one")
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}"})
