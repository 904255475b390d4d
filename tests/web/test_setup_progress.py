"""How far a pool's set-up has come: the dashboard, the pool's page and the wizard's
stepper say the same, and a stage is done only when a marketer would say it is."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Customer
from portal.services import assignment, channels, generation, imports, pools, redemption
from tests.conftest import DATA
from tests.helpers import customer, upload

STEP_DONE = re.compile(r'Stage (\d):</span>\s*<span class="step-label">[\w ]+</span>\s*'
                       r'<span class="visually-hidden">\(done\)')


@pytest.fixture
def marketer(as_role):
    return as_role("marketer")


def on_dashboard(client) -> str:
    """The set-up stage the dashboard shows under its only pool's name."""
    page = re.findall(r'<span class="setup">Set-up (complete|stage \d of 5: \w+)</span>',
                      client.get("/pools/").text)
    assert len(page) == 1
    return page[0]


def on_pool_page(client, pool_id: int) -> str:
    found = re.search(r"Set-up: (complete|stage \d of 5(?:: \w+)?)</a>", client.get(f"/pools/{pool_id}").text)
    assert found, "the pool page names its set-up stage"
    return found.group(1)


def ticked(client, pool_id: int, stage: str = "pool") -> set[int]:
    """The stage numbers the wizard's stepper marks done."""
    return {int(n) for n in STEP_DONE.findall(client.get(f"/pools/{pool_id}/{stage}").text)}


def with_codes(pool_id: int) -> None:
    imports.import_codes(pool_id, upload("SPRI-0001\nSPRI-0002\nSPRI-0003\n"))


def with_a_customer(pool_id: int) -> None:
    with_codes(pool_id)
    assignment.assign_code(pool_id, customer("C1", email="c1@example.com", email_consent=True))


def waiting_for_the_send(pool_id: int) -> None:
    with_codes(pool_id)
    assignment.assign_file(pool_id, upload("customer_id\nW1\nW2\n"), now=False)


def with_a_channel(pool_id: int) -> None:
    with_a_customer(pool_id)
    channels.save(pool_id, "email", enabled=True, subject="Hi", body="{{ code }}")


def a_channel_but_nobody(pool_id: int) -> None:
    with_codes(pool_id)
    channels.save(pool_id, "page", enabled=True)


def redeemed(pool_id: int) -> None:
    with_a_channel(pool_id)
    redemption.redeem("SPRI-0001")


@pytest.mark.parametrize("prepare, expected, done", [
    (lambda pool_id: None, "stage 2 of 5: Codes", {1}),
    (with_codes, "stage 3 of 5: Customers", {1, 2}),
    (with_a_customer, "stage 4 of 5: Channels", {1, 2, 3}),
    (waiting_for_the_send, "stage 4 of 5: Channels", {1, 2, 3}),
    (a_channel_but_nobody, "stage 3 of 5: Customers", {1, 2, 4}),
    (with_a_channel, "stage 5 of 5: Redemption", {1, 2, 3, 4}),
    (redeemed, "complete", {1, 2, 3, 4, 5}),
], ids=["new", "codes", "customers", "waiting-for-send", "channel-no-customers", "channel",
        "redeemed"])
def test_dashboard_pool_page_and_stepper_agree(marketer, prepare, expected, done):
    pool_id = pools.create_pool("Spring").id
    prepare(pool_id)
    assert (on_dashboard(marketer), on_pool_page(marketer, pool_id)) == (expected, expected)
    assert ticked(marketer, pool_id) == done


def test_reviewing_the_redemption_rules_completes_stage_5(marketer):
    pool_id = pools.create_pool("Spring").id
    with_a_channel(pool_id)
    assert 5 not in ticked(marketer, pool_id, "redemption")
    saved = marketer.post(f"/pools/{pool_id}/redemption", data={"per_customer_limit": 1})
    assert saved.status_code == 302
    assert ticked(marketer, pool_id, "redemption") == {1, 2, 3, 4, 5}
    assert on_dashboard(marketer) == on_pool_page(marketer, pool_id) == "complete"


def test_a_refused_redemption_form_reviews_nothing(marketer):
    pool_id = pools.create_pool("Spring").id
    refused = marketer.post(f"/pools/{pool_id}/redemption", data={
        "valid_from": "2030-01-02T00:00", "valid_until": "2030-01-01T00:00", "per_customer_limit": 1})
    assert refused.status_code == 422
    assert 5 not in ticked(marketer, pool_id, "redemption")


def test_a_list_for_a_pool_without_codes_is_stopped_and_the_marketer_chooses(marketer):
    """Sent to a pool without codes for codes now: stopped before anything is written,
    with the choice to add the customers for codes later. Added so, nobody holds a code
    and none is left to give them with the send, so stage 3 stays open."""
    pool_id = pools.create_pool("Spring").id
    with open(DATA / "customers.csv", "rb") as fh:
        answer = marketer.post(f"/pools/{pool_id}/customers/upload",
                               data={"file": (fh, "customers.csv"), "when": "now"})
    assert answer.status_code == 409 and "This pool has no codes to give" in answer.text
    assert "Add these customers to the campaign now" in answer.text and "Nothing was written" in answer.text
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 0
    with open(DATA / "customers.csv", "rb") as fh:
        chosen = marketer.post(f"/pools/{pool_id}/customers/upload",
                               data={"file": (fh, "customers.csv"), "when": "now", "choice": "send"})
    assert chosen.status_code == 200 and "added to the campaign" in chosen.text
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 120
    assert pools.counts(pool_id).assigned == 0
    assert 3 not in ticked(marketer, pool_id, "customers")
    assert on_dashboard(marketer) == on_pool_page(marketer, pool_id) == "stage 2 of 5: Codes"


@pytest.mark.parametrize("when", ["now", "send"])
def test_customers_waiting_for_expired_codes_do_not_tick_customers(marketer, when):
    """Codes past their own expiry still count as available, but nobody can be given one."""
    pool_id = pools.create_pool("Spring").id
    imports.import_codes(pool_id, upload("code,expires_at\nOLD-0001,2020-01-01\nOLD-0002,2020-01-01\n"))
    marketer.post(f"/pools/{pool_id}/customers/upload",
                  data={"file": (io.BytesIO(b"customer_id\nL1\nL2\n"), "list.csv"), "when": when})
    assert pools.counts(pool_id).assigned == 0
    assert ticked(marketer, pool_id, "customers") == {1, 2}
    generation.generate_codes(pool_id, 5)  # codes to give them: they get theirs with the send
    assert ticked(marketer, pool_id, "customers") == {1, 2, 3}
    assert on_dashboard(marketer) == on_pool_page(marketer, pool_id) == "stage 4 of 5: Channels"
