"""Phones and emails as receiving systems take them: phones in E.164 (many SMS providers
refuse anything else), read with DEFAULT_PHONE_REGION when written without a country
code; email syntax checked without DNS. A wrong one fails its own line, nothing else."""

from __future__ import annotations

import io

import phonenumbers
import pytest
from email_validator import validate_email
from sqlalchemy import select

from portal import create_app, queue
from portal.extensions import db
from portal.models import Customer
from portal.services import accounts, assignment, channels, generation, pools, sending
from tests.api.conftest import Api
from tests.helpers import run_queue

LIST = """customer_id,email,phone,sms_consent
P1,ana@EXAMPLE.com,0048 608 123 456,yes
P2,bo@example.com,(608) 123-457,yes
P3,cy@example.com,+48 608 123 458,yes
P4,di@example.com,+48 123,yes
P5,ed@,+48608123459,yes
P6,fay@exa mple.com,,yes
P7,gus@example..com,,yes
P8,,12,yes
"""


@pytest.fixture
def app_config(receiver):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "DEFAULT_PHONE_REGION": "PL", "SMS_URL": receiver.url, "SMS_TOKEN": "t",
            "DELIVERY_RETRY_SECONDS": 0.0}


def upload(text: str) -> tuple[int, assignment.BulkResult]:
    pool_id = pools.create_pool("Spring").id
    generation.generate_codes(pool_id, 20)
    return pool_id, assignment.assign_file(pool_id, io.BytesIO(text.encode()))


def test_a_list_stores_phones_in_e164_and_names_each_wrong_line(app, receiver):
    pool_id, result = upload(LIST)
    assert result.assigned == 3
    failed = {(f.line, f.customer_id, f.reason) for f in result.failed}
    assert failed == {(5, "P4", "invalid_phone"), (6, "P5", "invalid_email"),
                      (7, "P6", "invalid_email"), (8, "P7", "invalid_email"),
                      (9, "P8", "invalid_phone")}
    stored = dict(db.session.execute(select(Customer.external_id, Customer.phone)).all())
    assert stored == {"P1": "+48608123456", "P2": "+48608123457", "P3": "+48608123458"}
    for phone in stored.values():  # the receiving side's own parser agrees
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone
    email = db.session.scalar(select(Customer.email).where(Customer.external_id == "P1"))
    assert email == "ana@example.com" == validate_email(email, check_deliverability=False).normalized

    # And that is what the SMS provider receives.
    channels.save(pool_id, "sms", enabled=True, body="{{ code }}")
    job, _ = queue.start_send(pool_id, "sms")
    run_queue()
    assert sending.progress(job.id).sent == 3
    assert sorted(p.json()["to"] for p in receiver.received()) == sorted(stored.values())


def test_without_a_region_a_number_needs_its_country_code(app):
    app.config["DEFAULT_PHONE_REGION"] = ""
    _, result = upload("customer_id,phone\nL1,608 123 456\nL2,+48608123456\n")
    assert result.assigned == 1
    (failure,) = result.failed
    assert (failure.line, failure.reason) == (2, "invalid_phone")
    assert "country code" in failure.message and "DEFAULT_PHONE_REGION" in failure.message


def test_the_api_refuses_a_wrong_phone_or_email_and_stores_a_good_one_in_e164(app, client):
    api = Api(client, accounts.create_api_key("crm", "integration").secret)
    pool_id = pools.create_pool("Spring").id
    generation.generate_codes(pool_id, 5)
    for body, field in (({"customer_id": "A1", "phone": "+48 123"}, "phone"),
                        ({"customer_id": "A1", "email": "ana@example..com"}, "email")):
        response = api.post(f"/pools/{pool_id}/assignments", body)
        # 422, not 400: the value fits the document's pattern, and only the number
        # plan (or the address syntax) says it is wrong.
        assert response.status_code == 422, response.json
        assert response.json["error"] == f"invalid_{field}"
        assert [f["field"] for f in response.json["fields"]] == [field]
    assert db.session.scalars(select(Customer)).all() == []
    response = api.post(f"/pools/{pool_id}/assignments", {"customer_id": "A1", "phone": "608-123-456"})
    assert response.status_code == 201, response.json
    assert db.session.scalar(select(Customer.phone)) == "+48608123456"


def test_an_unknown_default_phone_region_stops_the_start(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DEFAULT_PHONE_REGION", "Poland")
    with pytest.raises(ValueError, match="DEFAULT_PHONE_REGION"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}"})


ADDRESSES = [
    "maria@example.com", "Maria.Lopez+vouchers@Example.COM", "o'neil@shop.ie", "a!#$%&'*+/=?^_`{|}~-@x.io",
    "user@münchen.de", "user@XN--MNCHEN-3YA.DE", "ünïcode@example.com", '"quoted local"@example.com',
    "a..b@example.com", ".a@example.com", "a.@example.com", "a@localhost", "a@shop.test", "a@x.123",
    "a@-x.com", "a@x-.com", "a@" + "x" * 64 + ".com", "x" * 64 + "@example.com", "x" * 65 + "@example.com",
    "a@[1.2.3.4]", "a@example..com", "a@.example.com", "a@example.com.", "a@EXAMPLE.com",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_email_is_checked_and_written_as_email_validator_does(address):
    """Plain addresses take a shorter path than email-validator's own: the answer must
    be the library's, for good addresses and wrong ones alike."""
    from email_validator import EmailNotValidError

    from portal.services.customers import normal_email
    from portal.services.errors import InvalidInput

    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        ours = normal_email(address)
    except InvalidInput as exc:
        assert exc.reason == "invalid_email"
        ours = None
    assert ours == expected
