"""Failed sign-ins are counted per (account, address), so a stranger cannot lock the owner
out, and per account from anywhere, so guesses spread over many addresses still stop."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True, "WTF_CSRF_ENABLED": False, "RATE_LIMIT_SIGN_IN": "3/minute",
            "RATE_LIMIT_SIGN_IN_ACCOUNT": "8/hour", "RATE_LIMIT_SIGN_IN_ADDRESS": "100/minute"}


def sign_in_from(client, address: str, email: str, password: str = "correct horse battery"):  # noqa: ANN001
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_a_guesser_does_not_lock_the_owner_out(app, users):
    guesser = app.test_client()
    for _ in range(3):
        assert sign_in_from(guesser, "203.0.113.9", users["marketer"], "wrong").status_code == 401
    blocked = sign_in_from(guesser, "203.0.113.9", users["marketer"])
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["Retry-After"]) > 0
    # The owner, at their own address, signs in with their password.
    assert sign_in_from(app.test_client(), "198.51.100.7", users["marketer"]).status_code == 302
    # The guesser's address may still try other accounts (up to the per-address limit).
    assert sign_in_from(guesser, "203.0.113.9", users["admin"]).status_code == 302


def test_guesses_from_many_addresses_still_hit_the_account_limit(app, users):
    client = app.test_client()
    for n in range(8):  # each address stays under its own limit of three
        assert sign_in_from(client, f"203.0.113.{n}", users["marketer"], "wrong").status_code == 401
    assert sign_in_from(client, "198.51.100.7", users["marketer"]).status_code == 429
    assert sign_in_from(client, "198.51.100.7", users["admin"]).status_code == 302


def test_email_case_and_spaces_do_not_reset_the_count(app, users):
    client = app.test_client()
    for variant in ("Marketer@Example.com", " marketer@example.com", "MARKETER@EXAMPLE.COM"):
        assert sign_in_from(client, "203.0.113.9", variant, "wrong").status_code == 401
    assert sign_in_from(client, "203.0.113.9", users["marketer"]).status_code == 429
