"""Consent as the receiving side and the law expect it: one-click unsubscribe (RFC 8058)
as a mailbox provider performs it, STOP forwarded by an SMS provider, and a record of
every change that a later list cannot silently undo."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from portal import queue
from portal.extensions import db
from portal.models import ConsentChange, ConsentSource, Customer
from portal.services import assignment, channels, consent, generation, pools, sending
from portal.services.customers import CustomerData
from tests.helpers import run_queue


@pytest.fixture
def app_config(smtp, receiver):
    # CSRF on: the one-click POST must work without a session or a token.
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": True, "QUEUE_STORAGE": "memory",
            **smtp.config(), "UNSUBSCRIBE_MAILTO": "unsubscribe@shop.example",
            "SMS_URL": receiver.url, "SMS_TOKEN": "t", "SMS_INBOUND_TOKEN": "inbound-secret",
            "DELIVERY_RETRY_SECONDS": 0.0}


def campaign(*people: CustomerData) -> int:
    pool_id = pools.create_pool("Spring").id
    generation.generate_codes(pool_id, 20)
    assignment.assign_many(pool_id, list(enumerate(people, start=2)), now=False)
    return pool_id


def send(pool_id: int, channel: str) -> sending.Progress:
    job, _ = queue.start_send(pool_id, channel)
    run_queue()
    return sending.progress(job.id)


def customer(external_id: str) -> Customer:
    db.session.expire_all()
    return db.session.scalars(select(Customer).where(Customer.external_id == external_id)).one()


def changes(external_id: str) -> list[tuple]:
    rows = reversed(consent.history(customer(external_id).id))
    return [(c.channel, c.before, c.consent, c.source) for c in rows]


def test_one_click_unsubscribe_as_a_mailbox_provider_does_it(app, smtp):
    pool_id = campaign(CustomerData("U1", email="u1@example.com", email_consent=True),
                       CustomerData("U2", email="u2@example.com", email_consent=True))
    assert send(pool_id, "email").sent == 2
    links = {}
    for message in smtp.messages:
        assert message.defects == []
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = re.fullmatch(r"<([^>]+)>, <([^>]+)>", message["List-Unsubscribe"]).groups()
        assert https.startswith("http://portal.test/u/")
        assert mailto.startswith("mailto:unsubscribe@shop.example?subject=unsubscribe%20")
        # The default footer shows the same link, in both parts.
        assert https in message.get_body(("plain",)).get_content()
        assert f'<a href="{https}"' in message.get_body(("html",)).get_content()
        links[message["To"]] = https
    path = links["u1@example.com"].removeprefix("http://portal.test")

    # A link scanner's GET changes nothing; the page asks.
    page = app.test_client().get(path)
    assert page.status_code == 200 and b"Unsubscribe" in page.data
    assert customer("U1").email_consent is True

    # The provider's POST: no cookies, no CSRF token, the RFC 8058 body. Twice is harmless.
    for _ in range(2):
        done = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and b"You are unsubscribed" in done.data
    assert customer("U1").email_consent is False and customer("U1").email_withdrawn_at is not None
    assert changes("U1") == [("email", None, True, "list"), ("email", True, False, "unsubscribe")]
    assert customer("U2").email_consent is True

    # A tampered or foreign token is a plain 404 and changes nothing.
    token = path.rsplit("/", 1)[1]
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 22, "short"):
        assert app.test_client().post(f"/u/{bad}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert customer("U2").email_consent is True

    # Every later send skips them, "send again" included.
    assignment.assign_many(pool_id, [(2, CustomerData("U3", email="u3@example.com", email_consent=True))],
                           now=False)
    again = send(pool_id, "email")
    assert again.sent == 1
    assert [m["To"] for m in smtp.messages[2:]] == ["u3@example.com"]


def test_a_later_list_that_says_yes_does_not_resubscribe_silently(app):
    pool_id = campaign(CustomerData("W1", email="w1@example.com", email_consent=True),
                       CustomerData("W2", email="w2@example.com", email_consent=False))
    consent.withdraw([customer("W1").id], "email", ConsentSource.UNSUBSCRIBE, "one-click")

    result = assignment.assign_file(pool_id, io.BytesIO(
        b"customer_id,email,email_consent\nW1,w1@example.com,yes\nW2,w2@example.com,yes\n"))
    assert result.assigned == 2
    assert [(w.line, w.customer_id, w.channels) for w in result.withdrawn] == [(2, "W1", ["email"])]
    assert customer("W1").email_consent is False
    assert customer("W2").email_consent is True  # never withdrew: the list's yes counts
    assert changes("W2") == [("email", False, True, "list")]

    # The marketer's explicit choice does subscribe them again, recorded as such.
    assert consent.give([customer("W1").id], "email", ConsentSource.ADMIN, "user 1") == 1
    assert customer("W1").email_consent is True and customer("W1").email_withdrawn_at is None
    assert changes("W1")[-1] == ("email", False, True, "admin")


def test_stop_from_the_sms_provider_withdraws_sms_consent(app, client, receiver):
    pool_id = campaign(CustomerData("S1", phone="+48608123456", sms_consent=True, email_consent=True,
                                    email="s1@example.com"),
                       CustomerData("S2", phone="+48608123457", sms_consent=True))
    hook = "/hooks/sms/inbound"
    auth = {"Authorization": "Bearer inbound-secret"}
    refused = client.post(hook, json={"from": "+48608123456", "text": "STOP"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(hook, json={"from": "+48608123456", "text": "STOP"},
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    hello = client.post(hook, json={"from": "+48608123456", "text": "Hello, stopping by"}, headers=auth)
    assert hello.status_code == 200 and hello.json == {"stop": False, "withdrawn": 0}
    assert customer("S1").sms_consent is True

    stop = client.post(hook, json={"from": "+48 608 123 456", "text": " stop "}, headers=auth)
    assert stop.status_code == 200 and stop.json == {"stop": True, "withdrawn": 1}
    assert (customer("S1").sms_consent, customer("S1").email_consent) == (False, True)
    assert changes("S1")[-1] == ("sms", True, False, "sms_stop")
    again = client.post(hook, json={"from": "+48608123456", "text": "STOP"}, headers=auth)
    assert again.json == {"stop": True, "withdrawn": 0}

    # Another provider's names, in a form body, with the + dropped.
    app.config["SMS_INBOUND_FIELDS"] = {"from": "msisdn", "text": "message"}
    other = client.post(hook, data={"msisdn": "48608123457", "message": "Unsubscribe"}, headers=auth)
    assert other.json == {"stop": True, "withdrawn": 1}
    bad = client.post(hook, data={"msisdn": "12", "message": "STOP"}, headers=auth)
    assert bad.status_code == 400 and bad.json["error"] == "invalid_phone"

    assert send(pool_id, "sms").skipped_by_reason == {"no_consent": 2}
    assert receiver.received() == []


def test_without_an_inbound_token_the_hook_does_not_exist(app, client):
    app.config["SMS_INBOUND_TOKEN"] = ""
    response = client.post("/hooks/sms/inbound", json={"from": "+48608123456", "text": "STOP"},
                           headers={"Authorization": "Bearer "})
    assert response.status_code == 404


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop.", "STOPALL", "unsubscribe", "CANCEL", "end",
                                  "quit", "stop please"])
def test_stop_words(text):
    assert consent.is_stop(text)


@pytest.mark.parametrize("text", ["", "stopping", "don't stop", "yes", "STOP?x"])
def test_not_stop_words(text):
    assert not consent.is_stop(text)


def test_a_footer_with_a_broken_placeholder_is_refused_on_save(app):
    pool_id = pools.create_pool("Spring").id
    with pytest.raises(Exception, match="broken placeholder"):
        channels.save(pool_id, "email", enabled=True, footer="Bye {{ unsubscribe }}")
    assert db.session.scalars(select(ConsentChange)).all() == []


def test_the_api_shows_consent_with_its_history_and_takes_an_explicit_choice(app, client):
    from portal.services import accounts
    from tests.api.conftest import Api

    api = Api(client, accounts.create_api_key("crm", "integration").secret)
    pool_id = campaign(CustomerData("A1", email="a1@example.com", email_consent=True))
    consent.withdraw([customer("A1").id], "email", ConsentSource.UNSUBSCRIBE, "one-click")

    # An assignment that says yes does not undo it, and says so.
    given = api.post(f"/pools/{pool_id}/assignments", {"customer_id": "A1", "email_consent": True})
    assert given.status_code == 201 and given.json["kept_withdrawn"] == ["email"]
    bulk = api.post(f"/pools/{pool_id}/assignments/bulk",
                    {"customers": [{"customer_id": "A2"}, {"customer_id": "A1", "email_consent": True}]})
    assert bulk.json["withdrawn"] == [{"index": 1, "customer_id": "A1", "channels": ["email"]}]

    shown = api.get("/customers/A1")
    assert shown.status_code == 200
    email = next(s for s in shown.json["consent"] if s["channel"] == "email")
    assert email["consent"] is False and email["withdrawn_at"]
    assert [(c["source"], c["before"], c["consent"]) for c in shown.json["consent_history"]] == [
        ("unsubscribe", True, False), ("list", None, True)]
    assert api.get("/customers/nobody").json["error"] == "unknown_customer"

    again = api.post("/customers/A1/consent", {"channel": "email", "consent": True})
    assert again.status_code == 200
    email = next(s for s in again.json["consent"] if s["channel"] == "email")
    assert email == {"channel": "email", "consent": True, "withdrawn_at": None}
    assert again.json["consent_history"][0]["source"] == "api"
    assert api.post("/customers/A1/consent", {"channel": "page", "consent": True}).status_code == 400


def test_the_upload_report_names_who_stayed_unsubscribed_and_the_marketer_chooses(app, as_role):
    app.config["WTF_CSRF_ENABLED"] = False
    pool_id = campaign(CustomerData("M1", email="m1@example.com", email_consent=True))
    consent.withdraw([customer("M1").id], "email", ConsentSource.UNSUBSCRIBE, "one-click")
    client = as_role("marketer")
    page = client.post(f"/pools/{pool_id}/customers/upload", data={
        "file": (io.BytesIO(b"customer_id,email_consent\nM1,yes\nM2,yes\n"), "list.csv"), "when": "now"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "1 customer stayed unsubscribed" in text and "M1" in text
    assert 'name="customer" value="M1 email"' in text
    form = {"customer": "M1 email"}
    refused = client.post(f"/pools/{pool_id}/customers/resubscribe", data=form)
    assert refused.status_code == 422 and customer("M1").email_consent is False
    done = client.post(f"/pools/{pool_id}/customers/resubscribe", data={**form, "confirm": "y"})
    assert done.status_code == 200 and "1 subscribed again" in done.get_data(as_text=True)
    assert customer("M1").email_consent is True
    assert changes("M1")[-1] == ("email", False, True, "admin")
