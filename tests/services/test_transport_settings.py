"""Email and SMS set up on the channel page: the transports use what is saved, the
environment's settings win over it, and secrets are stored sealed."""

from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import TransportSetting
from portal.services import channel_check, transports
from portal.services import transport_settings as setup
from portal.services.errors import InvalidInput

SAVED_EMAIL = {"SMTP_HOST": "127.0.0.1", "SMTP_SECURITY": "none", "SMTP_USERNAME": "",
               "MAIL_FROM": "Shop <shop@example.com>"}


def test_saved_email_is_what_the_transports_use_without_the_environment(app, smtp):
    assert transports.refusal(current_app.config, "email") is not None  # nothing set up yet
    setup.save("email", {**SAVED_EMAIL, "SMTP_PORT": smtp.port})
    assert transports.refusal(current_app.config, "email") is None
    email = next(c for c in transports.describe(current_app.config) if c["channel"] == "email")
    assert email["configured"] and email["source"] == "channel page"
    assert channel_check.send_test(current_app.config, "email", "me@example.com") == "me@example.com"
    assert [m["To"] for m in smtp.messages] == ["me@example.com"]
    assert "shop@example.com" in smtp.messages[0]["From"]


def test_the_environment_wins_over_what_is_saved(app, smtp):
    app.config.update(smtp.config())
    setup.save("email", {**SAVED_EMAIL, "SMTP_HOST": "saved.invalid", "SMTP_PORT": 1})
    email = next(c for c in transports.describe(current_app.config) if c["channel"] == "email")
    assert email["source"] == "environment"
    mailer = transports.Mailer(current_app.config)
    try:
        mailer.send(transports.Email("you@example.com", "Hi", "Hello", "<p>Hello</p>"))
    finally:
        mailer.close()
    assert [m["To"] for m in smtp.messages] == ["you@example.com"]


def test_the_sms_token_is_stored_sealed_and_sent_as_typed(app, receiver):
    setup.save("sms", {"SMS_URL": receiver.url}, "tok-123-secret")
    stored = db.session.scalar(select(TransportSetting.secret).where(TransportSetting.transport == "sms"))
    assert stored and "tok-123-secret" not in stored
    channel_check.send_test(current_app.config, "sms", "+48608123456")
    assert receiver.requests[0].headers["Authorization"] == "Bearer tok-123-secret"
    # Saved again without a token: the stored one stays; asked to, it goes.
    setup.save("sms", {"SMS_URL": receiver.url})
    assert setup.saved_secret("sms") == "tok-123-secret"
    setup.save("sms", {"SMS_URL": receiver.url}, forget_secret=True)
    assert setup.saved_secret("sms") is None


@pytest.mark.parametrize("values, field", [
    ({**SAVED_EMAIL, "SMTP_PORT": 0}, "port"),
    ({**SAVED_EMAIL, "SMTP_PORT": 25, "SMTP_HOST": "two words"}, "host"),
    ({**SAVED_EMAIL, "SMTP_PORT": 25, "MAIL_FROM": "nobody"}, "mail_from"),
    ({**SAVED_EMAIL, "SMTP_PORT": 25, "SMTP_SECURITY": "ssl3"}, "security"),
])
def test_a_wrong_setting_is_refused_naming_it_and_nothing_is_saved(app, values, field):
    with pytest.raises(InvalidInput) as refused:
        setup.save("email", values)
    assert refused.value.details["field"] == field
    assert db.session.get(TransportSetting, "email") is None


def test_a_test_on_settings_only_typed_saves_nothing(app, smtp):
    trial = setup.trial(current_app.config, "email", {**SAVED_EMAIL, "SMTP_PORT": smtp.port}, None)
    channel_check.send_test(trial, "email", "me@example.com")
    assert len(smtp.messages) == 1
    assert db.session.get(TransportSetting, "email") is None
    assert transports.refusal(current_app.config, "email") is not None
