"""CSRF: forms and HTMX requests without the token are refused."""

from __future__ import annotations

import re

import pytest

from tests.conftest import sign_in


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": True}


def token_from(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_sign_in_without_token_is_refused(client, users):
    response = sign_in(client, users["cashier"])
    assert response.status_code == 400


def test_htmx_request_needs_the_header_token(client, users):
    page = client.get("/login")
    client.post("/login", data={"email": users["cashier"], "password": "correct horse battery",
                                "csrf_token": token_from(page.text)})
    till = client.get("/till/")
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', till.text).group(1)
    without = client.post("/till/check", data={"code": "ABC"}, headers={"HX-Request": "true"})
    assert without.status_code == 400
    with_header = client.post("/till/check", data={"code": "ABC"},
                              headers={"HX-Request": "true", "X-CSRFToken": header_token})
    assert with_header.status_code == 200
    assert "UNKNOWN CODE" in with_header.text


def test_api_needs_no_csrf_token(client):
    assert client.post("/api/v1/pools", json={"name": "x"}).status_code == 401
