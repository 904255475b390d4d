"""Which network addresses the portal may connect to: the one home for what counts as
this machine (where an SMTP password may travel unencrypted) and for the addresses a
fetch on a marketer's word must not reach (replenishment).

Only standard-library imports: the configuration checks REPLENISH_ALLOWED_NETWORKS
with this module when the app starts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(net), label) for net, label in pairs)


# Never fetched from, whatever an admin allows: nothing a partner serves lives there, and
# the clouds' metadata services (which hand out credentials) do.
NEVER = _nets(
    ("0.0.0.0/8", "an unspecified address"),
    ("169.254.0.0/16", "a link-local address (where clouds keep their metadata service)"),
    ("100.100.100.200/32", "a cloud's metadata service"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("fd00:ec2::254/128", "a cloud's metadata service"),
    ("fd20:ce::254/128", "a cloud's metadata service"),
    ("fe80::/10", "a link-local address (where clouds keep their metadata service)"),
    ("ff00::/8", "a multicast address"),
)

# Refused unless REPLENISH_ALLOWED_NETWORKS lists them: the inside of a network, where a
# fetched page could be an internal one that a marketer should not read.
INSIDE = _nets(
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("192.0.0.0/24", "a special-purpose address"),
    ("192.0.2.0/24", "a documentation address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("::1/128", "a loopback address"),
    ("::/96", "an IPv4-compatible address"),
    ("64:ff9b:1::/48", "a local NAT64 address"),
    ("100::/64", "a discard address"),
    ("2001:db8::/32", "a documentation address"),
    ("fc00::/7", "a unique local (private) address"),
    ("fec0::/10", "a site-local (private) address"),
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_networks(text: str | None) -> tuple[Network, ...]:
    """REPLENISH_ALLOWED_NETWORKS: networks (CIDR, or single addresses) separated by
    commas or spaces. Raises ValueError naming the entry that is not one."""
    networks = []
    for entry in (text or "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"REPLENISH_ALLOWED_NETWORKS: {entry!r} is not a network such as "
                             "10.20.0.0/16 or fd12:3456::/48") from None
    return tuple(networks)


def _address(value: str | Address) -> Address:
    address = ipaddress.ip_address(value.split("%")[0] if isinstance(value, str) else value)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # a socket to ::ffff:a.b.c.d reaches a.b.c.d itself
    return address


def _embedded(address: Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 tunnel or translation address leads to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour:
        return "a 6to4 address", [address.sixtofour]
    if address.teredo:
        return "a Teredo address", list(address.teredo)
    if address in _NAT64:
        return "a NAT64 address", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return None


def refusal(value: str | Address, allowed: Sequence[Network] = ()) -> str | None:
    """Why the portal must not fetch from this address on a marketer's word (a phrase
    such as "a private address, unless …"), or None when it may."""
    address = _address(value)
    for network, label in NEVER:
        if address in network:
            return f"{label}, which the portal never fetches from"
    if any(address in network for network in allowed if network.version == address.version):
        return None
    for network, label in INSIDE:
        if address in network:
            return f"{label}, which the portal fetches from only when an admin allows its " \
                   "network in REPLENISH_ALLOWED_NETWORKS"
    tunnel = _embedded(address)
    if tunnel is not None:
        kind, inner = tunnel
        for ipv4 in inner:
            why = refusal(ipv4, allowed)
            if why:
                return f"{kind} leading to {ipv4}, {why}"
    return None


def host_address(host: str) -> Address | None:
    """The address a host is written as (an IP literal, brackets and scope allowed), or
    None for a name."""
    try:
        return _address(host.strip().strip("[]"))
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """Whether a configured host is this machine as written — `localhost`, 127.0.0.0/8
    or ::1 — without asking DNS, whose answer could change."""
    if host.strip().rstrip(".").lower() == "localhost":
        return True
    address = host_address(host)
    return address is not None and address.is_loopback
