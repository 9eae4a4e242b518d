"""Keep fetches off the server's own network: refuse non-public addresses at connect time.

The check runs where the socket is opened, on the address actually connected to, so a redirect
to an internal host or a DNS answer that changes between a check and the connection (rebinding)
cannot slip through: every hop of a fetch connects through here.
"""

from __future__ import annotations

import ipaddress
import socket
import typing

import httpcore
import httpx

# Cloud metadata services that sit on addresses some networks route publicly (the link-local
# 169.254.169.254 and the unique-local fd00:ec2::254 are refused as non-public anyway).
_METADATA = {ipaddress.ip_address("100.100.100.200")}


class BlockedAddress(Exception):
    """A fetch would connect to an address that is not allowed; the message says which."""


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local…)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is false for loopback, RFC 1918, link-local, CGNAT, unique-local, documentation
    # and reserved ranges; multicast is "global" for some ranges but never a web server.
    return ip.is_global and not ip.is_multicast and ip not in _METADATA


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, IPv4 and IPv6, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to public addresses unless allowed."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve ``host`` once, check the addresses and connect to exactly those."""
        addresses = resolve(host, port)
        if not self.allow_private:
            blocked = [a for a in addresses if not is_public(a)]
            if blocked:
                # Every address must be public: connecting to "the public one" of a mixed
                # answer would let a DNS owner choose which one a retry gets.
                raise BlockedAddress(
                    f"{host} resolves to the non-public address {blocked[0]} (refused; set "
                    "[sources] allow_private_networks = true for an intranet)"
                )
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over ``GuardedBackend``; no proxies from the environment."""

    def __init__(self, allow_private: bool) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to pass a network backend; the pool it made is
        # replaced by the same one over the guarded backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow_private),
        )
