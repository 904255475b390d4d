"""Rules that several surfaces show have one home, so every surface agrees: a code's
effective expiry, the words for a refusal, and the transports a send can use."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal import queue
from portal.extensions import db
from portal.models import CodeEvent, Transport
from portal.services import accounts, assignment, imports, pools, redemption
from portal.services.links import voucher_url
from tests.helpers import customer, run_queue, upload

HX = {"HX-Request": "true"}
POOL_ENDS = datetime(2030, 6, 30, 23, 59, 59, tzinfo=UTC)
OWN_END = datetime(2029, 3, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def app_config(smtp):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config()}


@pytest.fixture
def api_key(app) -> str:
    return accounts.create_api_key("integration key", "integration").secret


def _bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _surfaces(client, as_role, api_key, pool_id: int, customer_id: str, smtp) -> dict[str, str]:
    """The expiry date each surface shows for the customer's code, as YYYY-MM-DD."""
    seen = {}
    given = client.post(f"/api/v1/pools/{pool_id}/assignments", json={"customer_id": customer_id,
                                                                  "email": "same@example.com",
                                                                  "email_consent": True},
                        headers=_bearer(api_key)).json
    seen["api assignment"] = given["expires_at"][:10]
    vouchers = client.get(f"/api/v1/customers/{customer_id}/vouchers", headers=_bearer(api_key)).json
    seen["api vouchers"] = vouchers["vouchers"][0]["expires_at"][:10]
    seen["api validate"] = client.post("/api/v1/redemptions/validate", json={"code": given["code"]},
                                       headers=_bearer(api_key)).json["voucher"]["expires_at"][:10]
    day = r"(\d\d \w\w\w \d\d\d\d)"
    till = as_role("cashier").post("/till/check", data={"code": given["code"]}, headers=HX).text
    seen["till"] = _iso(re.search("Valid until " + day, till).group(1))
    code_id = db.session.scalar(select(CodeEvent.code_id).where(CodeEvent.kind == "assigned"))
    page = client.get(voucher_url(code_id).removeprefix("http://portal.test")).text
    seen["voucher page"] = _iso(re.search(r"<dt>Valid until</dt><dd>" + day, page).group(1))
    marketer = as_role("marketer")
    export = marketer.get(f"/pools/{pool_id}/export.csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    seen["export"] = next(iter(rows[0][k] for k in rows[0] if "expir" in k.lower()))[:10]
    job, _ = queue.start_send(pool_id, "email")
    run_queue()
    text = smtp.messages[-1].get_body(("plain",)).get_content()
    seen["email"] = _iso(re.search("Valid until: " + day, text).group(1))
    return seen


def _iso(shown: str) -> str:
    return datetime.strptime(shown, "%d %b %Y").strftime("%Y-%m-%d")


@pytest.mark.parametrize("own_expiry, expected", [(None, "2030-06-30"), (OWN_END, "2029-03-31")])
def test_every_surface_shows_the_same_expiry_for_a_code(app, client, as_role, api_key, smtp,
                                                        own_expiry, expected):
    """The pool ends in 2030; the code has no end of its own, or an earlier one."""
    pool_id = pools.create_pool("Ends later", benefit="A gift", valid_until=POOL_ENDS).id
    line = "GIFT-0001" + (f",{own_expiry:%Y-%m-%d}" if own_expiry else "")
    imports.import_codes(pool_id, upload(("code,expires_at\n" if own_expiry else "") + line + "\n"))
    from portal.services import channels

    channels.save(pool_id, "export", enabled=True)
    seen = _surfaces(client, as_role, api_key, pool_id, "SAME-1", smtp)
    assert seen == {surface: expected for surface in seen}, seen


@pytest.mark.parametrize("reason, make", [
    ("canceled", lambda: redemption.cancel("WORD-0001", "lost card")),
    ("already_redeemed", lambda: (assignment.assign_code(1, customer("R1")),
                                  redemption.redeem("WORD-0001"))),
    ("not_assigned", lambda: None),
])
def test_the_till_and_stage_five_word_a_refusal_alike(app, as_role, api_key, client, reason, make):
    """Stage 5 shows exactly the till's verdict; the API's message is the same sentence."""
    pool_id = pools.create_pool("Words", benefit="Words").id
    assert pool_id == 1
    imports.import_codes(pool_id, upload("WORD-0001\n"))
    make()
    wording = redemption.REFUSALS[reason]
    till = as_role("cashier").post("/till/check", data={"code": "WORD-0001"}, headers=HX).text
    stage5 = as_role("marketer").post(f"/pools/{pool_id}/redemption/check", data={"code": "WORD-0001"},
                                      headers=HX).text
    verdict = re.compile(r'<section class="verdict.*?</section>', re.S)
    assert verdict.search(till).group(0) == verdict.search(stage5).group(0)
    assert wording.word in till
    answer = client.post("/api/v1/redemptions/validate", json={"code": "WORD-0001"},
                         headers=_bearer(api_key)).json
    assert answer["reason"] == reason
    if reason != "already_redeemed":  # the till says when and where instead
        assert wording.message in till


def test_the_voucher_page_words_a_canceled_code_from_the_same_map(app, client):
    pool_id = pools.create_pool("Voided", benefit="Voided").id
    imports.import_codes(pool_id, upload("VOID-0001\n"))
    given = assignment.assign_code(pool_id, customer("V1"))
    redemption.cancel("VOID-0001", "fraud")
    page = client.get(voucher_url(given.code_id).removeprefix("http://portal.test"))
    assert redemption.REFUSALS["canceled"].customer in page.text


def test_every_transport_can_be_chosen_on_every_surface(app, as_role, runner):
    """The send buttons' route, the CLI's choices and the API schema list the same set."""
    names = sorted(t.value for t in Transport)
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == "pools.start_send"}
    assert routes and all(name in rule for rule in routes for name in names)
    help_text = runner.invoke(args=["send", "--help"]).output
    assert all(name in help_text for name in names)
    spec = app.test_client().get("/api/v1/openapi.json").json
    start = spec["components"]["schemas"]["SendStart"]["properties"]["channel"]
    assert sorted(start["enum"]) == names
