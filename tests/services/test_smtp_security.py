"""Email over STARTTLS and implicit TLS with a sign-in, against a real SMTP server that
requires them (a certificate made for the test, trusted through SSL_CERT_FILE)."""

from __future__ import annotations

import ipaddress
import socket
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from portal.config import from_environment
from portal.extensions import db
from portal.models import Delivery, Job
from portal.services import pools, sending, transports
from portal.services.addresses import is_loopback_host
from portal.services.errors import InvalidInput
from tests.servers import MailHandler, certificate, free_port, server_context

USER, PASSWORD = "mailer", "s3cret"


@pytest.fixture
def tls_context(tmp_path, monkeypatch) -> ssl.SSLContext:
    cert_file, key_file = certificate(tmp_path, "127.0.0.1")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client trusts this certificate
    return server_context(cert_file, key_file)


SIGN_INS: list[bytes] = []  # the passwords the test servers received, in order


def check_password(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    SIGN_INS.append(auth_data.password)
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def serve(hostname: str = "127.0.0.1", **options) -> tuple[Controller, MailHandler, int]:  # noqa: ANN003
    handler, port = MailHandler(), free_port()
    controller = Controller(handler, hostname=hostname, port=port, authenticator=check_password,
                            auth_required=True, **options)
    controller.start()
    return controller, handler, port


def config(port: int, security: str, password: str = PASSWORD, host: str = "127.0.0.1") -> dict:
    return {"SMTP_HOST": host, "SMTP_PORT": port, "SMTP_SECURITY": security,
            "SMTP_USERNAME": USER, "SMTP_PASSWORD": password, "MAIL_FROM": "shop@example.com"}


def own_address() -> str:
    """An address of this machine that is not loopback (the one its default route leaves
    from; connecting a UDP socket sends nothing), or skip: there is nothing to test on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if ipaddress.ip_address(address).is_loopback:
        pytest.skip("this machine has no non-loopback IPv4 address to serve SMTP on")
    return address


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


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_password_is_never_sent_unencrypted_to_another_machine(app):
    # A server on this machine's own network address that accepts AUTH without TLS.
    host = own_address()
    controller, handler, port = serve(hostname=host, auth_require_tls=False)
    SIGN_INS.clear()
    try:
        settings = config(port, "none", host=host)
        with pytest.raises(transports.DeliveryError) as refused:
            transports.Mailer(settings).send(email())
        assert not refused.value.transient
        assert "SMTP_SECURITY" in refused.value.message and "SMTP_ALLOW_PLAIN_AUTH" in refused.value.message
        assert transports.refusal(settings, "email") == refused.value.message
        assert SIGN_INS == [] and handler.messages == []  # the password never left

        allowed = transports.Mailer({**settings, "SMTP_ALLOW_PLAIN_AUTH": True})  # the admin says so
        allowed.send(email())
        allowed.close()
        assert SIGN_INS == [PASSWORD.encode()] and len(handler.messages) == 1
    finally:
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_sign_in_without_tls_to_this_machine_goes_ahead(app):
    controller, handler, port = serve(auth_require_tls=False)
    SIGN_INS.clear()
    try:
        settings = config(port, "none")
        assert transports.refusal(settings, "email") is None
        mailer = transports.Mailer(settings)
        mailer.send(email())
        mailer.close()
        assert SIGN_INS == [PASSWORD.encode()] and len(handler.messages) == 1
    finally:
        controller.stop()


def test_loopback_is_this_machine_as_written():
    for host in ("localhost", "LocalHost.", "127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1"):
        assert is_loopback_host(host), host
    for host in ("192.0.2.2", "mail.example.com", "localhost.example.com", "0.0.0.0", "::", ""):
        assert not is_loopback_host(host), host


def test_a_send_is_refused_before_it_starts_when_the_password_would_go_in_clear(app):
    app.config.update(config(2525, "none", host="mail.example.com"))
    pool_id = pools.create_pool("Clear").id
    with pytest.raises(InvalidInput) as refused:
        sending.start_send(pool_id, "email")
    assert refused.value.reason == "channel_not_configured"
    assert "SMTP_SECURITY" in refused.value.message
    assert db.session.scalars(select(Job)).all() == []
    app.config["SMTP_SECURITY"] = "starttls"
    assert transports.refusal(app.config, "email") is None


@pytest.mark.parametrize(("value", "allowed"), [("", False), ("0", False), ("maybe", False),
                                                ("1", True), ("yes", True), (" TRUE ", True)])
def test_only_a_clear_yes_allows_a_password_in_clear(monkeypatch, tmp_path, value, allowed):
    monkeypatch.setenv("SMTP_ALLOW_PLAIN_AUTH", value)
    assert from_environment(str(tmp_path))["SMTP_ALLOW_PLAIN_AUTH"] is allowed
