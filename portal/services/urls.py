"""Addresses as the portal shows them: without the secrets that can be written into them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def without_credentials(url: str | None, *, query: bool = True) -> str | None:
    """The address without any user:password (nor #fragment) written into it.

    `query=False` drops the query string too, for a provider's address whose query may
    carry its key. An empty or missing address comes back as it is.
    """
    if not url:
        return url
    parts = urlsplit(url)
    # The netloc after the last "@" keeps an IPv6 host's brackets and any port as written
    # (parts.hostname drops the brackets, and parts.port raises for a malformed port).
    host = parts.netloc.rpartition("@")[2].lower()
    return urlunsplit((parts.scheme, host, parts.path, parts.query if query else "", ""))
