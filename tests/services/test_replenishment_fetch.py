"""Where a replenishment fetch may go: the inside of the network only when an admin
allows it, never a cloud's metadata service, each hop pinned to the address that was
checked, and the partner's credentials only to the partner's own scheme, host and port.
Against real local HTTP(S) servers; the resolver is a parameter so that a test can give
a name two different answers."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import ImportBatch
from portal.services import pools, replenishment
from portal.services.addresses import parse_networks, refusal
from portal.services.errors import DomainError, InvalidInput
from portal.services.replenishment.fetch import guarded_get
from tests.servers import FileServer, certificate, server_context

LOOPBACK = parse_networks("127.0.0.0/8")
TOKEN = {"Authorization": "Bearer partner-token"}


@pytest.fixture
def files():
    server = FileServer(body=b"code\nFETCHED001\nFETCHED002\n")
    yield server
    server.close()


@pytest.fixture
def tls_files(tmp_path, monkeypatch):
    """A partner's server answering HTTP and HTTPS on one port, its certificate for
    partner.test only (trusted through SSL_CERT_FILE)."""
    cert_file, key_file = certificate(tmp_path, "partner.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    server = FileServer(body=b"code\nSECURE001\n", tls=server_context(cert_file, key_file))
    yield server
    server.close()


class Resolver:
    """A resolver whose answer changes after its first call, as a rebinding name's would."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers, self.calls = list(answers), []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def fetch(url: str, headers: dict | None = None, **options) -> tuple[int, bytes]:  # noqa: ANN003
    with guarded_get(url, dict(headers or {}), 2.0, **options) as response:
        return response.status, b"".join(response.chunks(1024))


def refused(url: str, **options) -> str:  # noqa: ANN003
    with pytest.raises(DomainError) as info:
        fetch(url, **options)
    assert info.value.reason == "fetch_failed"
    return info.value.message


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "::1", "10.0.0.5", "172.16.9.9", "192.168.1.1", "100.64.0.1",
    "fc00::1", "fd12:3456::1",
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "fe80::1%eth0", "0.0.0.0", "::",
    "224.0.0.1", "ff02::1", "255.255.255.255",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::7f00:1",
    "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:a00:1::",  # 6to4 of 127.0.0.1, the metadata, 10.0.0.1
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of the same
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, its client 127.0.0.1
])
def test_inside_and_special_addresses_are_refused(address):
    assert refusal(address) is not None


@pytest.mark.parametrize("address", [
    "93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2002:5db8:d70e::1", "64:ff9b::808:808",
    "::ffff:8.8.8.8"])
def test_public_addresses_are_fetched_from(address):
    assert refusal(address) is None


def test_an_admin_opens_inside_networks_but_never_the_metadata_service():
    allowed = parse_networks("127.0.0.0/8, fd00::/8 10.1.0.0/16")
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "2002:7f00:1::", "fd12::1", "10.1.2.3"):
        assert refusal(address, allowed) is None, address
    assert "REPLENISH_ALLOWED_NETWORKS" in refusal("10.2.0.1", allowed)
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"):
        assert "never" in refusal(address, parse_networks("0.0.0.0/0, ::/0")), address
    assert parse_networks(" 10.0.0.0/8 ,, 192.168.0.1 ") == (ipaddress.ip_network("10.0.0.0/8"),
                                                            ipaddress.ip_network("192.168.0.1/32"))


def test_a_misspelt_allowed_network_stops_the_start(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("REPLENISH_ALLOWED_NETWORKS", "10.0.0.0/8, 10.300.0.0/16")
    with pytest.raises(ValueError, match="'10.300.0.0/16' is not a network"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.sqlite3"})


def test_loopback_is_refused_by_default_and_nothing_is_fetched(app, files):
    pool_id = pools.create_pool("Inside").id
    with pytest.raises(InvalidInput) as literal:  # written as an address: refused on saving
        replenishment.configure(pool_id, url=files.url)
    assert literal.value.details["field"] == "url" and "REPLENISH_ALLOWED_NETWORKS" in literal.value.message
    for address in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
                    "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(InvalidInput):
            replenishment.configure(pool_id, url=address)

    # A name is checked when it is fetched, against what it resolves to then.
    replenishment.configure(pool_id, url=f"http://localhost:{files.port}/export/codes.csv", bearer_token="t")
    (run,) = replenishment.run_now(pool_id)
    assert run.outcome == "failed" and "a loopback address" in run.error
    assert "REPLENISH_ALLOWED_NETWORKS" in run.error and not run.rejected
    assert files.requests == [] and pools.counts(pool_id).total == 0

    app.config["REPLENISH_ALLOWED_NETWORKS"] = "127.0.0.0/8, ::1"
    (run,) = replenishment.run_now(pool_id)
    assert (run.outcome, run.imported) == ("imported", 2)


def test_a_web_page_is_refused_not_shown_as_rejected_lines(app, files):
    app.config["REPLENISH_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    pool_id = pools.create_pool("Page").id
    files.body = b"<html><body>\nSECRET_API_TOKEN=abc123\n</body></html>\n"
    files.content_type = "text/html; charset=utf-8"
    replenishment.configure(pool_id, url=files.url)
    (run,) = replenishment.run_now(pool_id)
    assert run.outcome == "failed" and "a web page (text/html)" in run.error
    assert run.batch_id is None and db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_every_redirect_is_checked(app, files):
    app.config["REPLENISH_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    pool_id = pools.create_pool("Moved").id
    files.body, files.token = b"code\nMOVED0001\nMOVED0002\nMOVED0003\n", "tok"
    replenishment.configure(pool_id, url=files.url, bearer_token="tok")
    for target in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"):
        files.redirect = target
        run = replenishment.run_now(pool_id)[0]
        assert run.outcome == "failed" and "Not fetched" in run.error, run.error
    # A redirect within the partner's own server is followed, with the token.
    files.redirect = f"http://127.0.0.1:{files.port}/moved"
    run = replenishment.run_now(pool_id)[0]
    assert (run.outcome, run.imported) == ("imported", 3)
    assert files.requests[-1]["path"] == "/moved" and files.requests[-1]["Authorization"] == "Bearer tok"


def test_credentials_do_not_follow_a_redirect_to_another_port():
    partner, other = FileServer(), FileServer(body=b"code\nOTHER0001\n")
    try:
        partner.redirect = f"http://127.0.0.1:{other.port}/moved"
        assert fetch(partner.url, TOKEN, allowed=LOOPBACK) == (200, b"code\nOTHER0001\n")
        assert partner.requests[0]["Authorization"] == "Bearer partner-token"
        assert [r["path"] for r in other.requests] == ["/moved"]
        assert "Authorization" not in other.requests[0]
    finally:
        partner.close()
        other.close()


def test_credentials_do_not_follow_https_down_to_http(tls_files):
    port = tls_files.port
    tls_files.redirect = f"http://partner.test:{port}/moved"  # the same host and port, in clear
    resolver = Resolver(["127.0.0.1"])
    status, body = fetch(f"https://partner.test:{port}/export/codes.csv", TOKEN, allowed=LOOPBACK,
                         resolver=resolver)
    assert (status, body) == (200, b"code\nSECURE001\n")
    first, moved = tls_files.requests
    assert first["tls"] and first["Authorization"] == "Bearer partner-token"
    assert not moved["tls"] and "Authorization" not in moved
    assert resolver.calls == ["partner.test", "partner.test"]  # each hop resolved once, and checked


def test_each_hop_connects_to_the_address_it_checked(files):
    # partner.test exists only in this resolver; its second answer is the metadata service.
    resolver = Resolver(["127.0.0.1"], ["169.254.169.254"])
    url = f"http://partner.test:{files.port}/export/codes.csv"
    assert fetch(url, allowed=LOOPBACK, resolver=resolver) == (200, files.body)
    assert resolver.calls == ["partner.test"]
    assert files.requests[0]["Host"] == f"partner.test:{files.port}"
    # Any address of a name that is refused refuses the name, whatever comes first.
    mixed = Resolver(["93.184.215.14", "10.0.0.7"])
    assert "10.0.0.7, a private address" in refused(url, resolver=mixed)
    assert len(files.requests) == 1


def test_tls_checks_the_certificate_against_the_name_not_the_address(tls_files):
    port = tls_files.port
    ok = fetch(f"https://partner.test:{port}/export/codes.csv", allowed=LOOPBACK,
               resolver=Resolver(["127.0.0.1"]))
    assert ok == (200, b"code\nSECURE001\n")
    message = refused(f"https://impostor.test:{port}/export/codes.csv", allowed=LOOPBACK,
                      resolver=Resolver(["127.0.0.1"]))
    assert "certificate was not accepted" in message
    assert len(tls_files.requests) == 1
