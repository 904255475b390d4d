"""A GET the portal may make on a marketer's word: refused for addresses inside the
cloud (metadata services), redirects followed by hand and checked at every hop, and
credentials kept to the original host."""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from ..errors import DomainError
from ..urls import without_credentials

if TYPE_CHECKING:
    import requests

# Carrier-grade NAT space, where some clouds keep their metadata service (100.100.100.200).
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_REDIRECTS = (301, 302, 303, 307, 308)


def refused_address(host: str) -> str | None:
    """Why the server must not fetch from this host, or None. Link-local addresses (a
    cloud's metadata service among them), multicast and unspecified ones are refused;
    private and loopback ones are allowed, since partners' systems are often internal."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"the name {host} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if (address.is_link_local or address.is_multicast or address.is_unspecified
                or address.is_reserved or address in _SHARED):
            return f"{host} is {address}, an address the portal does not fetch from"
    return None


def guarded_get(url: str, headers: dict, auth: tuple | None, timeout: float) -> requests.Response:
    """GET with redirects followed by hand (five at most), each hop's host checked, and
    credentials dropped when a redirect leaves the original host. The response is
    streamed: the caller reads and closes it. Raises DomainError(fetch_failed)."""
    import requests  # here, not at the top: the app starts without it

    origin = urlsplit(url).hostname
    for _ in range(6):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DomainError(f"{without_credentials(url)} is not an http(s) address.", reason="fetch_failed")
        refusal = refused_address(parts.hostname)
        if refusal:
            raise DomainError(f"Not fetched: {refusal}.", reason="fetch_failed")
        if parts.hostname != origin:
            headers = {k: v for k, v in headers.items() if k != "Authorization"}
            auth = None
        try:
            response = requests.get(url, headers=headers, auth=auth, timeout=timeout, stream=True,
                                    allow_redirects=False)
        except requests.RequestException as exc:
            raise DomainError(f"Could not fetch {without_credentials(url)}: {type(exc).__name__}.",
                              reason="fetch_failed") from exc
        if response.status_code not in _REDIRECTS or "Location" not in response.headers:
            return response
        response.close()
        url = urljoin(url, response.headers["Location"])
    raise DomainError(f"{without_credentials(url)} redirects too often.", reason="fetch_failed")
