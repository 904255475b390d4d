"""Email over STARTTLS and implicit TLS with a sign-in, against a real SMTP server that
requires them (a certificate made for the test, trusted through SSL_CERT_FILE)."""

from __future__ import annotations

import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from portal.extensions import db
from portal.models import Delivery
from portal.services import transports
from tests.servers import MailHandler, certificate, free_port, server_context

USER, PASSWORD = "mailer", "s3cret"


@pytest.fixture
def tls_context(tmp_path, monkeypatch) -> ssl.SSLContext:
    cert_file, key_file = certificate(tmp_path, "127.0.0.1")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client trusts this certificate
    return server_context(cert_file, key_file)


def check_password(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def serve(**options) -> tuple[Controller, MailHandler, int]:  # noqa: ANN003
    handler, port = MailHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=check_password,
                            auth_required=True, **options)
    controller.start()
    return controller, handler, port


def config(port: int, security: str, password: str = PASSWORD) -> dict:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_SECURITY": security,
            "SMTP_USERNAME": USER, "SMTP_PASSWORD": password, "MAIL_FROM": "shop@example.com"}


def email() -> transports.Email:
    return transports.Email("maria@example.com", "Your voucher", "Code: ABC123", "<p>Code: ABC123</p>")


def test_starttls_with_sign_in(app, tls_context):
    controller, handler, port = serve(tls_context=tls_context, require_starttls=True)
    try:
        mailer = transports.Mailer(config(port, "starttls"))
        mailer.send(email())
        mailer.close()
        assert [m["To"] for m in handler.messages] == ["maria@example.com"]

        plain = transports.Mailer(config(port, "none"))  # the server insists on STARTTLS
        with pytest.raises(transports.DeliveryError) as insecure:
            plain.send(email())
        assert not insecure.value.transient
        wrong = transports.Mailer(config(port, "starttls", password="wrong"))
        with pytest.raises(transports.DeliveryError) as refused:
            wrong.send(email())
        assert not refused.value.transient  # a wrong password is not worth retrying
        assert len(handler.messages) == 1
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_sign_in(app, tls_context):
    # The whole connection is TLS, so the server may offer AUTH at once.
    controller, handler, port = serve(ssl_context=tls_context, auth_require_tls=False)
    try:
        mailer = transports.Mailer(config(port, "tls"))
        mailer.send(email())
        mailer.close()
        assert [m["To"] for m in handler.messages] == ["maria@example.com"]
    finally:
        controller.stop()


def test_an_unknown_security_setting_fails_clearly(app):
    with pytest.raises(transports.DeliveryError) as refused:
        transports.Mailer({**config(25, "ssl3")}).send(email())
    assert "SMTP_SECURITY" in refused.value.message and not refused.value.transient
    assert db.session.scalars(select(Delivery)).all() == []
