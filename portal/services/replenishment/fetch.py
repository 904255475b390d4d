"""A GET the portal makes on a marketer's word. Each hop's host is resolved once, every
address it resolves to is checked (addresses.refusal), and the connection goes to the
checked address, so a second DNS answer cannot send it elsewhere; TLS still checks the
certificate against the name. Redirects are followed by hand, each hop checked the same
way, and the credentials go only where scheme, host and port are all the original's."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urljoin, urlsplit

from ..addresses import Network, refusal
from ..errors import DomainError
from ..urls import without_credentials

if TYPE_CHECKING:
    import urllib3

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}

# host, port -> the addresses to try, in order.
Resolver = Callable[[str, int], Sequence[str]]


def resolve(host: str, port: int) -> list[str]:
    """The system resolver's addresses for the host, each once, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _failed(message: str) -> DomainError:
    return DomainError(message, reason="fetch_failed")


@dataclass
class Response:
    """A streamed answer: read `chunks()`, then close it (or use it in a with block)."""

    status: int
    headers: Mapping[str, str]
    shown: str  # the address without credentials, for messages
    _raw: urllib3.HTTPResponse
    _pool: urllib3.HTTPConnectionPool

    def chunks(self, size: int) -> Iterator[bytes]:
        """The body in pieces; DomainError(fetch_failed) when the download breaks off."""
        import urllib3

        try:
            yield from self._raw.stream(size)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _failed(f"The download from {self.shown} broke off: {type(exc).__name__}.") from exc

    def close(self) -> None:
        self._raw.release_conn()
        self._pool.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    return parts.scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS[parts.scheme]


def _checked(url: str) -> SplitResult:
    """The URL's parts, or fetch_failed for anything but http(s) with a host and a port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise _failed(f"{without_credentials(url)} is not an http(s) address.")
    if not parts.netloc.isascii():  # an international name travels in its IDNA form
        try:
            name = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise _failed(f"{without_credentials(url)} has a host name that cannot be looked up.") from None
        parts = parts._replace(netloc=name + (f":{parts.port}" if parts.port else ""))
    return parts


def _addresses(host: str, port: int, allowed: Sequence[Network], resolver: Resolver) -> Sequence[str]:
    """The host's addresses, resolved once; fetch_failed when any of them is refused, so
    a name cannot slip an inside address among public ones."""
    try:
        found = resolver(host, port)
    except OSError:
        found = []
    if not found:
        raise _failed(f"Not fetched: the name {host} does not resolve.")
    for address in found:
        why = refusal(address, allowed)
        if why:
            raise _failed(f"Not fetched: {host} is {address.split('%')[0]}, {why}.")
    return found


def _open(parts: SplitResult, address: str, headers: dict, timeout: float, method: str = "GET",
          body: bytes | None = None) -> Response:
    """GET (or POST the body) from one checked address, with the name in the Host header,
    the TLS server name and the certificate check."""
    import urllib3

    wait = urllib3.Timeout(connect=timeout, read=timeout)
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address, parts.port or 443, timeout=wait, retries=False, maxsize=1,
            cert_reqs="CERT_REQUIRED", server_hostname=parts.hostname)
    else:
        pool = urllib3.HTTPConnectionPool(address, parts.port or 80, timeout=wait, retries=False,
                                          maxsize=1)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]  # as written: brackets and port kept, no user
    try:
        raw = pool.urlopen(method, target, body=body, headers={**headers, "Host": host}, redirect=False,
                           retries=False, preload_content=False, assert_same_host=False)
    except BaseException:
        pool.close()
        raise
    return Response(raw.status, raw.headers, without_credentials(parts.geturl()) or "", raw, pool)


def _get(parts: SplitResult, addresses: Sequence[str], headers: dict, timeout: float, method: str = "GET",
         body: bytes | None = None) -> Response:
    """Each checked address in turn until one takes the connection."""
    import urllib3

    shown = without_credentials(parts.geturl())
    last: Exception | None = None
    for address in addresses:
        try:
            return _open(parts, address, headers, timeout, method, body)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            last = exc  # this address does not answer: the next one may
        except urllib3.exceptions.SSLError as exc:
            raise _failed(f"Could not fetch {shown}: its TLS certificate was not accepted ({exc}).") from exc
        except (urllib3.exceptions.HTTPError, OSError, UnicodeError) as exc:
            raise _failed(f"Could not fetch {shown}: {type(exc).__name__}.") from exc
    raise _failed(f"Could not fetch {shown}: {type(last).__name__}.") from last


def guarded_get(url: str, headers: dict[str, Any], timeout: float, *, allowed: Sequence[Network] = (),
                resolver: Resolver = resolve) -> Response:
    """GET the URL, following up to MAX_REDIRECTS redirects, every hop checked and pinned;
    the Authorization header goes only to the original scheme, host and port. The
    answer is streamed: the caller reads and closes it. Raises DomainError(fetch_failed)."""
    origin = _origin(_checked(url))
    for _ in range(MAX_REDIRECTS + 1):
        parts = _checked(url)
        if _origin(parts) != origin:
            # Once off the partner's server, never again: a redirect back is no proof.
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        hostname = parts.hostname or ""
        addresses = _addresses(hostname, _origin(parts)[2], allowed, resolver)
        response = _get(parts, addresses, headers, timeout)
        location = response.headers.get("Location")
        if response.status not in REDIRECTS or not location:
            return response
        response.close()
        url = urljoin(url, location)
    raise _failed(f"{without_credentials(url)} redirects too often.")


def guarded_post(url: str, body: bytes, headers: dict[str, Any], timeout: float, *,
                 allowed: Sequence[Network] = (), resolver: Resolver = resolve) -> Response:
    """POST the body to the URL with the same checks and pinning as guarded_get; a
    redirect is not followed (the caller sees its status). The caller closes the answer.
    Raises DomainError(fetch_failed)."""
    parts = _checked(url)
    addresses = _addresses(parts.hostname or "", _origin(parts)[2], allowed, resolver)
    return _get(parts, addresses, headers, timeout, "POST", body)
