"""Campaign sends through a real SMTP server and a real HTTP receiver: the right
messages to the right customers, each once, with failures retried and recorded."""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal import create_app, emails, queue
from portal.extensions import db
from portal.models import Code, Customer, Delivery, Job, Pool, utcnow
from portal.services import assignment, channels, generation, jobs, pools, sending
from portal.services.customers import CustomerData
from portal.services.errors import InvalidInput
from portal.services.links import voucher_url
from portal.services.tx import write_transaction
from tests.helpers import run_queue


@pytest.fixture
def app_config(smtp, receiver):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config(), "SMS_URL": receiver.url, "SMS_TOKEN": "sms-token",
            "WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": "hook-secret",
            "DELIVERY_ATTEMPTS": 2, "DELIVERY_RETRY_SECONDS": 0.0}


def people(n: int, start: int = 0) -> list[CustomerData]:
    """Mixed consent: every third has no email consent, every fifth no email at all."""
    out = []
    for i in range(start, start + n):
        out.append(CustomerData(
            customer_id=f"C{i:05d}", first_name=f"Name{i}",
            email=None if i % 5 == 4 else f"c{i}@example.com",
            phone=f"+4860000{i:04d}", email_consent=i % 3 != 2, sms_consent=i % 2 == 0))
    return out


def campaign(codes: int, customers: list[CustomerData]) -> int:
    pool_id = pools.create_pool("Spring", benefit="10% off").id
    if codes:
        generation.generate_codes(pool_id, codes)
    assignment.assign_many(pool_id, list(enumerate(customers, start=2)), now=False)
    return pool_id


def send(pool_id: int, channel: str, **options) -> sending.Progress:  # noqa: ANN003
    job, _ = queue.start_send(pool_id, channel, **options)
    run_queue()
    return sending.progress(job.id)


def test_email_campaign_reaches_exactly_the_consenting_customers(app, smtp):
    crowd = people(60)
    pool_id = campaign(100, crowd)
    report = send(pool_id, "email")

    expected = {c.email for c in crowd if c.email_consent and c.email}
    assert report.job.state == "done"
    assert report.sent == len(expected)
    assert report.skipped_by_reason == {
        "no_consent": sum(1 for c in crowd if not c.email_consent),
        "no_address": sum(1 for c in crowd if c.email_consent and not c.email)}
    messages = smtp.messages
    assert sorted(m["To"] for m in messages) == sorted(expected)
    assert len({m["Message-ID"] for m in messages}) == len(messages)
    held = {c.email: c for c in db.session.scalars(select(Customer))}
    for message in messages:
        customer = held[message["To"]]
        code = db.session.scalars(select(Code).where(Code.customer_id == customer.id)).one()
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert code.code in text and code.code in html
        assert voucher_url(code.id) in text and f'href="{voucher_url(code.id)}"' in html
        assert f"Hello {customer.first_name}" in text
    # Only the customers who were sent a message were given a code.
    assert pools.counts(pool_id).assigned == len(expected)


def test_sending_again_sends_nobody_twice_and_reaches_newcomers(app, smtp):
    crowd = people(10)
    pool_id = campaign(50, crowd)
    first = send(pool_id, "email")
    assignment.assign_many(pool_id, list(enumerate(people(3, start=100), start=2)), now=False)
    second = send(pool_id, "email")

    newcomers = [c for c in people(3, start=100) if c.email_consent and c.email]
    assert second.sent == len(newcomers)
    assert len(smtp.messages) == first.sent + second.sent
    assert len({m["To"] for m in smtp.messages}) == len(smtp.messages)
    # One delivery row per customer and channel, whatever happened.
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 13


def test_a_send_already_under_way_is_not_started_twice(app, smtp):
    pool_id = campaign(10, people(4))
    job, created = queue.start_send(pool_id, "email")
    again, created_again = queue.start_send(pool_id, "email")
    assert created and not created_again and again.id == job.id
    run_queue()
    assert len(smtp.messages) == sending.progress(job.id).sent


def test_customers_without_a_code_get_one_until_the_pool_runs_out(app, smtp):
    crowd = [CustomerData(customer_id=f"X{i}", email=f"x{i}@example.com", email_consent=True)
             for i in range(8)]
    pool_id = campaign(5, crowd)
    report = send(pool_id, "email")
    assert report.sent == 5
    assert report.skipped_by_reason == {"pool_exhausted": 3}

    generation.generate_codes(pool_id, 10)
    again = send(pool_id, "email")
    assert again.sent == 3 and again.job.total == 3
    assert sorted(m["To"] for m in smtp.messages) == sorted(c.email for c in crowd)


def test_codes_held_before_the_send_are_the_ones_sent(app, smtp):
    pool_id = campaign(10, [])
    given = assignment.assign_code(pool_id, CustomerData(customer_id="H1", email="h1@example.com",
                                                         email_consent=True))
    send(pool_id, "email")
    (message,) = smtp.messages
    assert given.code in message.get_body(("plain",)).get_content()
    assert pools.counts(pool_id).assigned == 1


def test_a_failing_smtp_server_gives_failed_deliveries_that_a_retry_sends(app, smtp):
    crowd = [CustomerData(customer_id=f"F{i}", email=f"f{i}@example.com", email_consent=True)
             for i in range(4)]
    pool_id = campaign(10, crowd)
    smtp.stop()
    report = send(pool_id, "email")
    assert report.job.state == "done"
    assert report.failed == 4 and report.sent == 0
    assert report.failed_by_reason == {"error": 4}
    assert "cannot reach the SMTP server" in report.errors[0][0]
    rows = db.session.scalars(select(Delivery)).all()
    assert {row.attempts for row in rows} == {2}  # the transient error was tried again

    smtp.start()
    retry = send(pool_id, "email")
    assert retry.sent == 4
    # The first send's report stays as it ended, though the retry took its sending.
    first = sending.progress(report.job.id)
    assert (first.failed, first.sent, first.percent) == (4, 0, 100)
    assert "cannot reach the SMTP server" in first.errors[0][0]
    assert sorted(m["To"] for m in smtp.messages) == sorted(c.email for c in crowd)
    # The same codes: a failed send keeps the customer's code for the next attempt.
    assert pools.counts(pool_id).assigned == 4


def test_a_refused_recipient_fails_without_retries(app, smtp):
    pool_id = campaign(10, [CustomerData(customer_id="R1", email="r1@example.com", email_consent=True)])
    smtp.handler.refuse = "550 5.1.1 no such mailbox"
    report = send(pool_id, "email")
    assert report.failed == 1
    assert db.session.scalars(select(Delivery)).one().attempts == 1
    assert "550" in report.errors[0][0]


def test_sms_goes_to_the_provider_with_the_token(app, receiver):
    crowd = people(10)
    pool_id = campaign(20, crowd)
    channels.save(pool_id, "sms", enabled=True, body="{{ benefit }}: {{ code }} {{ voucher_url }}")
    report = send(pool_id, "sms")

    expected = {c.phone for c in crowd if c.sms_consent}
    assert report.sent == len(expected)
    posts = receiver.received()
    assert sorted(p.json()["to"] for p in posts) == sorted(expected)
    for post in posts:
        assert post.headers["Authorization"] == "Bearer sms-token"
        customer = db.session.scalars(select(Customer).where(Customer.phone == post.json()["to"])).one()
        code = db.session.scalars(select(Code).where(Code.customer_id == customer.id)).one()
        assert post.json()["text"] == f"10% off: {code.code} {voucher_url(code.id)}"


def test_webhook_is_signed_and_retried_after_a_server_error(app, receiver):
    pool_id = campaign(5, [CustomerData(customer_id="W1", email="w1@example.com")])
    receiver.statuses = [503]
    report = send(pool_id, "webhook")
    assert report.sent == 1
    (post,) = receiver.received()
    expected = "sha256=" + hmac.new(b"hook-secret", post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Portal-Signature"] == expected
    body = post.json()
    assert body["event"] == "voucher.issued" and body["customer"]["customer_id"] == "W1"
    assert body["code"] == db.session.scalars(select(Code.code).where(Code.customer_id.is_not(None))).one()
    assert db.session.scalars(select(Delivery)).one().attempts == 2


def test_webhook_refusal_is_not_retried(app, receiver):
    pool_id = campaign(5, [CustomerData(customer_id="W2")])
    receiver.statuses = [400]
    report = send(pool_id, "webhook")
    assert report.failed == 1 and receiver.received() == []


def test_a_dead_worker_leaves_its_message_interrupted_and_the_rest_is_sent(app, smtp):
    crowd = [CustomerData(customer_id=f"D{i}", email=f"d{i}@example.com", email_consent=True)
             for i in range(5)]
    pool_id = campaign(10, crowd)
    job, _ = sending.start_send(pool_id, "email")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # What a worker killed while handing over the first message leaves behind.
    with write_transaction() as session:
        first = session.scalars(select(Delivery).order_by(Delivery.id)).first()
        first.state, first.attempts = "sending", 1
        row = session.get(Job, job.id)
        row.state, row.worker = "running", f"{socket.gethostname()}:{gone.pid}"
        row.heartbeat_at = utcnow()
    assert queue.recover_jobs() == [job.id]
    run_queue()
    report = sending.progress(job.id)
    assert report.sent == 4 and report.failed_by_reason == {"interrupted": 1}
    assert len(smtp.messages) == 4

    # Sending again leaves it alone; the marketer may choose to send it again.
    assert send(pool_id, "email").sent == 0
    assert send(pool_id, "email", resend_interrupted=True).sent == 1
    assert sorted(m["To"] for m in smtp.messages) == sorted(c.email for c in crowd)


def test_a_live_worker_keeps_its_job(app, smtp):
    pool_id = campaign(10, [CustomerData(customer_id="L1", email="l1@example.com", email_consent=True)])
    job, _ = sending.start_send(pool_id, "email")
    with write_transaction() as session:
        row = session.get(Job, job.id)
        row.state, row.worker, row.heartbeat_at = "running", jobs.worker_name(), utcnow()
    assert queue.recover_jobs() == []


def test_test_send_uses_a_sample_code_and_consumes_nothing(app, smtp, receiver):
    pool_id = campaign(5, [])
    queue.send_test(pool_id, "email", "me@shop.example")
    queue.send_test(pool_id, "sms", "+48 600 000 000")
    (message,) = smtp.messages
    assert message["To"] == "me@shop.example" and message["Subject"].startswith("[Test]")
    assert "SAMPLE-CODE-1234" in message.get_body(("plain",)).get_content()
    assert "SAMPLE-CODE-1234" in receiver.received()[0].json()["text"]
    assert pools.counts(pool_id).available == 5
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
    with pytest.raises(InvalidInput):
        queue.send_test(pool_id, "email", "not an address")


def test_an_unconfigured_channel_is_refused(app):
    app.config["SMS_URL"] = ""
    pool_id = campaign(5, [])
    with pytest.raises(InvalidInput) as refused:
        sending.start_send(pool_id, "sms")
    assert refused.value.reason == "channel_not_configured"
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_default_messages_carry_benefit_code_link_and_expiry(app, smtp):
    pool_id = campaign(3, [CustomerData(customer_id="M1", email="m1@example.com", email_consent=True)])
    pools.update_pool(pool_id, valid_until=utcnow().replace(year=2031, month=1, day=31))
    send(pool_id, "email")
    text = smtp.messages[0].get_body(("plain",)).get_content()
    assert "10% off" in text and "31 Jan 2031" in text
    assert re.search(r"Your code: \S+", text) and "http://portal.test/v/" in text


def test_two_processors_of_one_job_send_each_message_once(app, smtp):
    """A duplicated queue message runs the same job twice at once: nobody gets two
    messages, and the job ends done only when all are handled."""
    import threading

    crowd = [CustomerData(customer_id=f"P{i:03d}", email=f"p{i}@example.com", email_consent=True)
             for i in range(150)]
    pool_id = campaign(200, crowd)
    job, _ = sending.start_send(pool_id, "email")
    smtp.handler.delay = 0.002
    errors = []

    def run(name: str) -> None:
        with app.app_context():
            try:
                sending.process_send(job.id, emails.voucher_html, worker=name)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = sending.progress(job.id)
    assert report.job.state == "done" and report.sent == 150
    assert sorted(m["To"] for m in smtp.messages) == sorted(c.email for c in crowd)


def test_two_channels_sending_at_once_give_each_customer_one_code(app, smtp, receiver):
    """Email and webhook sends of one campaign at the same time: every customer gets the
    same single code on both channels."""
    import threading
    from collections import Counter

    crowd = [CustomerData(customer_id=f"B{i:03d}", email=f"b{i}@example.com", email_consent=True)
             for i in range(120)]
    pool_id = campaign(300, crowd)
    jobs = [sending.start_send(pool_id, channel)[0] for channel in ("email", "webhook")]
    errors = []

    def run(job_id: int) -> None:
        with app.app_context():
            try:
                sending.process_send(job_id, emails.voucher_html, worker=f"w{job_id}")
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(job.id,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    held = Counter(db.session.scalars(select(Code.customer_id).where(Code.customer_id.is_not(None))))
    assert len(held) == 120 and set(held.values()) == {1}
    by_email = {m["To"]: m.get_body(("plain",)).get_content() for m in smtp.messages}
    for post in receiver.received():
        body = post.json()
        assert body["code"] in by_email[body["customer"]["email"]]


def test_campaign_email_headers_are_what_receiving_servers_score(app, smtp):
    app.config["MAIL_REPLY_TO"] = "Customer care <care@shop.example>"
    pool_id = campaign(10, [CustomerData(customer_id=f"H{i}", email=f"h{i}@example.com",
                                         email_consent=True) for i in range(3)])
    db.session.get(Pool, pool_id).name = "Zimowa wyprzedaż \"2026\""
    db.session.commit()
    send(pool_id, "email")

    ids = set()
    for message in smtp.messages:
        assert message.defects == [] and all(not h.defects for h in message.values()
                                             if hasattr(h, "defects"))
        message_id = message["Message-ID"]
        assert re.fullmatch(r"<delivery-\d+\.[0-9a-f]{20}@shop\.example>", message_id), message_id
        ids.add(message_id)
        assert message["Date"].endswith("+0000")
        assert message["Date"].datetime.utcoffset().total_seconds() == 0
        assert message["List-Id"] == f'Zimowa wyprzedaż \'2026\' <pool-{pool_id}.shop.example>'
        assert message["Reply-To"].addresses[0].addr_spec == "care@shop.example"
    assert len(ids) == 3

    # The same delivery in another installation (another secret) gets another id.
    from portal.services.transports import Mailer
    here = Mailer(app.config).message_id("delivery-1", "2026-01-01T00:00:00+00:00")
    assert here == Mailer(app.config).message_id("delivery-1", "2026-01-01T00:00:00+00:00")
    assert here != Mailer({**app.config, "SECRET_KEY": "another"}).message_id(
        "delivery-1", "2026-01-01T00:00:00+00:00")
    assert here != Mailer(app.config).message_id("delivery-1", "2026-01-02T00:00:00+00:00")


ADDRESSES = ["plain@example.com", "o'brien+spring.sale@mail.example.co.uk", "a_b-c=d{e}|f~g@x-y.example",
             "Shop <shop@example.com>", "\"quoted name\"@example.com", "shop@example.com (Shop)",
             " spaced@example.com", "zażółć@example.pl", "no-at-sign", "<bracketed@example.com>"]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_envelope_writes_an_address_as_smtplib_would(address):
    """An address the portal writes into MAIL FROM / RCPT TO itself (a bare one) is
    written as smtplib's own quoting writes it; any other goes through smtplib."""
    import smtplib
    from email.utils import parseaddr

    from portal.services import message_bytes

    if message_bytes.bare(address):
        assert parseaddr(address) == ("", address)
        assert smtplib.quoteaddr(address) == f"<{address}>"
    assert message_bytes.bare(address) == (address in ADDRESSES[:3])


def test_the_envelope_carries_the_plain_addresses(app, smtp):
    people = [CustomerData(customer_id="E1", email="o'brien+spring@example.com", email_consent=True),
              CustomerData(customer_id="E2", email="Plain@Example.com", email_consent=True)]
    send(campaign(5, people), "email")
    assert sorted(smtp.handler.envelopes) == [
        ("vouchers@shop.example", ["Plain@example.com"]),
        ("vouchers@shop.example", ["o'brien+spring@example.com"])]


PLAIN_SUBJECTS = ["Your voucher: 10% off", "A " + "long " * 30 + "subject"]


@pytest.mark.parametrize("subject", [*PLAIN_SUBJECTS, "Zimowa wyprzedaż", "Literally =?utf-8?q?x?=",
                                     "Tab\there", " Lead", "Open https://shop.example/v/" + "x" * 1200])
def test_a_subject_reads_back_as_written(subject):
    """Plain ASCII goes as it is; anything else in encoded words: either way a reader
    (email.policy.default) reads the marketer's subject back."""
    from email import message_from_bytes, policy

    from portal.services import message_bytes

    written = message_bytes.unstructured(subject)
    raw = message_bytes.build([("Subject", written)], "text", "<p>html</p>")
    message = message_from_bytes(raw, policy=policy.default)
    assert message.defects == [] and message["Subject"] == subject
    assert (written == subject) == (subject in PLAIN_SUBJECTS)
    subject_lines = raw.split(b"\r\nMIME-Version:")[0].split(b"\r\n")
    assert max(len(line) for line in subject_lines) <= 78, subject_lines


BODIES = [None,  # the default message
          "{{ first_name }}\n\n{{ voucher_url }}\n\nYour code {{ code }} ({{ code }}), {{ benefit }}.",
          "Hi {{ first_name }},\nall yours: {{ wallet_url }}\n\n  {{ expires_at }}  \n\n"
          "See {{ voucher_url }} now",
          "No placeholders at all."]
FOOTERS = [None, "{{ first_name }}", "", "Leave: {{ unsubscribe_url }}\nBye {{ first_name }}"]
NAMES = ["Maria", "O'Brien & <Co> \"quoted\"", "Zoë", "", " Maria ", "Two\n\nlines"]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("footer", FOOTERS)
def test_an_emails_html_is_the_template_drawn_for_that_customer(app, body, footer):
    """The send draws the HTML once with markers and fills each customer in: the result
    is what drawing the template for that customer gives, whatever the values hold."""
    from portal.services import brand
    from portal.services.links import customer_url_maker, voucher_url_maker
    from portal.services.sending.compose import Composer, Prepared

    pool_id = pools.create_pool("Drawn <once>", benefit="10% & more").id
    defaults = channels.settings(pool_id)["email"]
    channels.save(pool_id, "email", enabled=True, subject="Hi",
                  body=defaults.body if body is None else body,
                  footer=defaults.footer if footer is None else footer)
    pool = db.session.get(Pool, pool_id)
    composer = Composer(pool, voucher_url_maker(), customer_url_maker(), emails.voucher_html,
                        channels.settings(pool_id), brand.current())
    setting = composer.settings["email"]
    for n, name in enumerate(NAMES):
        customer = Customer(id=1000 + n, external_id=f"D{n}", first_name=name, email=f"d{n}@example.com")
        values = composer.values(Prepared(n, 1, customer, f"CODE<{n}>&", 77 + n, None))
        text, end = channels.render(setting.body, values), channels.render(setting.footer, values)
        assert composer.html_part(text, end, values) == emails.voucher_html(text, end, values, pool,
                                                                          composer.brand), name
    assert composer._drawn is not None  # the plain names took the drawing



@pytest.mark.parametrize("at", [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                                datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
                                datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))])
def test_a_statement_run_through_the_driver_binds_as_sqlalchemy_does(app, at):
    """What a send records through the driver is stored exactly as SQLAlchemy's own
    execution stores it (on SQLite, the text of its DATETIME type, whole seconds too)."""
    from sqlalchemy import Column, Integer, MetaData, Table, insert

    from portal.models import UTCDateTime
    from portal.services.tx import DriverStatement

    table = Table("driver_check", MetaData(), Column("n", Integer), Column("at", UTCDateTime()),
                  prefixes=["TEMPORARY"])
    connection = db.session.connection()
    table.create(connection)
    statement = insert(table)
    connection.execute(statement, {"n": 1, "at": at})
    DriverStatement(statement, connection.dialect).execute(
        connection.connection.driver_connection.cursor(), {"n": 2, "at": at})
    stored = connection.exec_driver_sql("SELECT n, at FROM driver_check ORDER BY n").all()
    assert stored[0][1] == stored[1][1], stored
    db.session.rollback()


def test_each_connection_of_a_send_holds_one_database_connection_at_a_time(app, smtp, database_url):
    """With as many pooled database connections as the send has SMTP connections, and
    no more, the send finishes: none of its connections holds two at once."""
    crowd = [CustomerData(customer_id=f"P{i:03d}", email=f"p{i}@example.com", email_consent=True)
             for i in range(250)]  # more than two batches of prepared rows
    pool_id = campaign(300, crowd)
    db.session.commit()
    url, options = database_url
    small = create_app({**app.config, "SMTP_CONNECTIONS": 3, "SQLALCHEMY_ENGINE_OPTIONS": {
        **options, "pool_size": 3, "max_overflow": 0, "pool_timeout": 5}})
    with small.app_context():
        job, _ = sending.start_send(pool_id, "email")
        db.session.remove()  # the send's own connections are all the pool has
        while sending.process_send(job.id, emails.voucher_html) is not None:
            pass
        report = sending.progress(job.id)
        db.session.remove()
        db.engine.dispose()
    assert (report.job.state, report.sent, report.failed) == ("done", 250, 0)
    assert len(smtp.messages) == 250
