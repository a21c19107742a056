"""The network edge: which addresses presswire may connect to (SSRF guard) and how long a response may take.

Feed and article URLs come from the internet, so a feed can point presswire at `http://127.0.0.1:6379/`,
`http://10.0.0.5/admin` or the cloud metadata service `http://169.254.169.254/`. `AddressPolicy` refuses
every address that is not globally routable (loopback, private, link-local, shared, multicast, reserved,
unspecified, documentation ranges, and IPv6 forms that embed one of those) plus the known metadata
endpoints, unless a network in `[http] allow_networks` contains it.

Where the check happens: at connect time, inside the HTTP client (`GuardedBackend`, an httpcore network
backend). The host is resolved once, every address is checked, and the socket is opened to the checked IP
itself, so DNS rebinding (a second lookup answering 127.0.0.1 between check and connect) cannot happen:
there is no second lookup. TLS still verifies the certificate against the host name (httpcore passes the
URL's host as server_hostname). Every redirect hop is a new request and goes through the same check.
We chose this over rewriting URLs to IPs because it needs no Host/SNI juggling and also covers any future
request made through the same client.

The same backend enforces a per-response deadline (`deadline(seconds)`): every socket read waits at most
until the deadline, so a server that drips headers or body one byte at a time is cut at total_timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import socket
import ssl
import time
import typing
from typing import Iterable, Iterator

import httpcore
import httpx

from ingest.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services: refused even inside an allowed network, unless allowed as that single address.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
    "169.254.170.2",  # AWS ECS task metadata
    "169.254.169.123",  # AWS time sync
    "fd00:ec2::254",  # AWS IPv6 metadata
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# The deadline of the response being read in this thread (monotonic seconds), set by `deadline()`.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("presswire_deadline", default=None)


class AddressRefused(Exception):
    """A host resolved only to addresses the policy refuses (or did not resolve)."""


class AddressPolicy:
    """Which IP addresses may be connected to: global unicast ones, plus `allow_networks`."""

    def __init__(self, allow_networks: Iterable[str] = ()):
        self.allowed: tuple[IPNetwork, ...] = tuple(_network(n) for n in allow_networks)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` is refused, or None when it may be connected to."""
        if ip in METADATA_ADDRESSES:
            exact = any(net.num_addresses == 1 and ip in net for net in self.allowed)
            return None if exact else f"{ip} is a cloud metadata address (allow it only as a single address)"
        if any(ip in net for net in self.allowed):
            return None
        kind = address_kind(ip)
        return f"{ip} is not a public address ({kind})" if kind else None


def address_kind(ip: IPAddress) -> str | None:
    """The kind of non-public address `ip` is ("loopback", "private", ...), or None for a public one.

    An IPv6 address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64) must be public on both counts."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        kind = address_kind(embedded)
        if kind:
            return f"{kind} IPv4 inside IPv6"
        if ip in _NAT64:  # an IPv6-only host's DNS64 answers public IPv4 sites this way
            return None
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "non-global"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ConfigError(f"[http] allow_networks: {text!r} is not an IP network like \"10.0.0.0/8\" "
                          f"or \"127.0.0.1/32\" ({exc})") from exc


def resolve_allowed(host: str, port: int, policy: AddressPolicy) -> list[str]:
    """Resolve `host` once and return the addresses the policy allows; AddressRefused when there are none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"cannot resolve host {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    allowed, refusals = [], []
    for address in addresses:
        reason = policy.refusal(ipaddress.ip_address(address.split("%", 1)[0]))
        (refusals if reason else allowed).append(reason or address)
    if not allowed:
        raise AddressRefused(f"refused to connect to {host}: {'; '.join(refusals)} "
                             "(allow it with [http] allow_networks)")
    return allowed


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket read inside this block (in this thread) ends by `seconds` from now."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _read_timeout(timeout: float | None) -> float | None:
    """The read timeout, shortened to what is left before the current deadline."""
    until = _DEADLINE.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the response's total time limit was reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads never wait past the thread's current deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _read_timeout(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """Connects only to addresses the policy allows, to the very IP that was checked."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in resolve_allowed(host, port, self.policy):
            try:
                stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return _DeadlineStream(stream)
        assert last_error is not None
        raise last_error


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool built on GuardedBackend; never uses proxies."""

    def __init__(self, policy: AddressPolicy, limits: httpx.Limits):
        super().__init__(limits=limits, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):  # fail closed if httpx changes
            raise RuntimeError("httpx.HTTPTransport has no _pool: the SSRF guard cannot be installed")
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )
