"""Guessing codes is slowed down on every surface that says whether a code exists: the
till's check and redeem, stage 5's check and the API count against one allowance per
caller and one per client address."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Redemption
from portal.services import accounts, assignment
from tests.helpers import customer, pool_with_codes

HX = {"HX-Request": "true"}


@pytest.fixture
def app_config() -> dict:
    return {"RATELIMIT_ENABLED": True, "WTF_CSRF_ENABLED": False, "RATE_LIMIT_SIGN_IN": "100/minute",
            "RATE_LIMIT_TILL_UNKNOWN": "4/minute", "RATE_LIMIT_UNKNOWN_CODE": "6/minute",
            "RATE_LIMIT_REDEMPTION": "100/minute"}


@pytest.fixture
def held(app) -> tuple[int, str]:
    """A pool and one code a customer holds (redeemable)."""
    pool_id = pool_with_codes("Spring", n=5)
    return pool_id, assignment.assign_code(pool_id, customer("C1")).code


def redeem(client, code: str):
    return client.post("/till/redeem", data={"code": code, "nonce": secrets.token_urlsafe(8)},
                       headers=HX)


def redemptions() -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(Redemption))


def test_redeeming_guesses_at_the_till_is_limited_before_a_guess_can_succeed(as_role, held):
    _, code = held
    till = as_role("cashier")
    for i in range(4):  # a fresh nonce each time, as a script would send
        answer = redeem(till, f"GUESS-{i:04d}")
        assert answer.status_code == 409 and "UNKNOWN CODE" in answer.text
    lucky = redeem(till, code)
    assert lucky.status_code == 429
    assert "PLEASE WAIT" in lucky.text and int(lucky.headers["Retry-After"]) > 0
    assert redemptions() == 0  # the right guess was not redeemed


def test_the_stage_five_check_is_limited(as_role, held):
    pool_id, code = held
    marketer = as_role("marketer")
    url = f"/pools/{pool_id}/redemption/check"
    for i in range(4):
        assert "UNKNOWN CODE" in marketer.post(url, data={"code": f"GUESS-{i}"}, headers=HX).text
    slowed = marketer.post(url, data={"code": code}, headers=HX)
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 0
    assert "PLEASE WAIT" in slowed.text and "VALID" not in slowed.text
    assert 'id="check-box"' in slowed.text  # the check's own fragment, not an error page
    page = marketer.post(url, data={"code": code})  # without JavaScript: the whole stage
    assert page.status_code == 429 and "PLEASE WAIT" in page.text and "5. Redemption" in page.text


def test_check_redeem_and_stage_five_share_one_allowance(as_role, held):
    """An admin works the till and stage 5: their unknown codes count together."""
    pool_id, code = held
    admin = as_role("admin")
    assert "UNKNOWN CODE" in admin.post("/till/check", data={"code": "GUESS-1"}, headers=HX).text
    assert redeem(admin, "GUESS-2").status_code == 409
    check = f"/pools/{pool_id}/redemption/check"
    assert "UNKNOWN CODE" in admin.post(check, data={"code": "GUESS-3"}, headers=HX).text
    assert "VALID" in admin.post("/till/check", data={"code": code}, headers=HX).text  # 3 of 4
    assert "UNKNOWN CODE" in admin.post(check, data={"code": "GUESS-4"}, headers=HX).text
    assert admin.post("/till/check", data={"code": code}, headers=HX).status_code == 429


def test_known_codes_cost_nothing_after_a_few_mistypes(as_role, held):
    _, code = held
    till = as_role("cashier")
    for i in range(3):
        assert "UNKNOWN CODE" in till.post("/till/check", data={"code": f"TYPO-{i}"}, headers=HX).text
    for _ in range(20):
        assert "VALID" in till.post("/till/check", data={"code": code}, headers=HX).text
    assert "REDEEMED" in redeem(till, code).text


def test_one_address_is_limited_across_cashiers_and_api_keys(app, as_role, held):
    """Tills and API clients behind one address share the address's allowance (6 here)."""
    _, code = held
    accounts.create_user("till2@example.com", "correct horse battery", "cashier", "S1")
    first, second = as_role("cashier"), app.test_client()
    assert second.post("/login", data={"email": "till2@example.com",
                                       "password": "correct horse battery"}).status_code == 302
    for client in (first, second):
        for i in range(2):
            assert "UNKNOWN CODE" in client.post("/till/check", data={"code": f"G-{i}"},
                                                 headers=HX).text
    key = {"Authorization": f"Bearer {accounts.create_api_key('web shop', 'pos').secret}"}
    for i in range(2):
        assert first.post("/api/v1/redemptions/validate", json={"code": f"API-{i}"},
                          headers=key).json["reason"] == "unknown_code"
    # Each cashier and the key are under their own limits, but the address has used its six.
    assert second.post("/till/check", data={"code": code}, headers=HX).status_code == 429
    refused = first.post("/api/v1/redemptions/validate", json={"code": code}, headers=key)
    assert refused.status_code == 429 and refused.json["error"] == "rate_limited"
    elsewhere = first.post("/api/v1/redemptions/validate", json={"code": code}, headers=key,
                           environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 200 and elsewhere.json["valid"] is True
