"""The network edge: which addresses presswire may connect to (SSRF guard) and how long a response may take.

Feed and article URLs come from the internet, so a feed can point presswire at `http://127.0.0.1:6379/`,
`http://10.0.0.5/admin` or the cloud metadata service `http://169.254.169.254/`. `AddressPolicy` refuses
every address that is not globally routable (loopback, private, link-local, shared, multicast, reserved,
unspecified, documentation ranges, and IPv6 forms that embed one of those) plus the known metadata
endpoints, unless a network in `[http] allow_networks` contains it.

Where the check happens: when a connection is opened (`GuardedConnection.connect`, the only way
ingest.fetch connects). The host is resolved once, every address is checked, and the socket is opened to
the checked IP itself, so DNS rebinding (a second lookup answering 127.0.0.1 between check and connect)
cannot happen: there is no second lookup. TLS still verifies the certificate against the host name (it is
the server_hostname of the handshake). Every redirect hop is a new request and goes through the same check.
We chose this over rewriting URLs to IPs because it needs no Host/SNI juggling.

The lookup itself has a deadline too (the connect timeout, or less when the response's deadline comes first):
getaddrinfo has none of its own, so it runs in a daemon thread that is left behind when it is given up.

The same connection enforces a per-response deadline (`deadline(seconds)`): every socket read and write
waits at most until the deadline, so a server that drips headers or body one byte at a time is cut at
total_timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import io
import ipaddress
import select
import socket
import ssl
import threading
import time
from concurrent import futures
from typing import Iterable, Iterator

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
MAX_LOOKUPS = 32  # DNS lookups in progress at once in this process, the stalled ones given up on included
_LOOKUPS = threading.BoundedSemaphore(MAX_LOOKUPS)

# The deadline of the response being read in this thread (monotonic seconds), set by `deadline()`.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("presswire_deadline", default=None)


class AddressRefused(Exception):
    """A host resolved only to addresses the policy refuses (or did not resolve)."""


class ResolverUnavailable(OSError):
    """The resolver could not answer for now (EAI_AGAIN): a transient failure, unlike a name that does not exist."""


class AddressPolicy:
    """Which IP addresses may be connected to: global unicast ones, plus `allow_networks`."""

    def __init__(self, allow_networks: Iterable[str] = ()):
        self.allowed: tuple[IPNetwork, ...] = tuple(_network(n) for n in allow_networks)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` is refused, or None when it may be connected to.

        A metadata address inside IPv6 (`::ffff:169.254.169.254` reaches 169.254.169.254 on a dual-stack
        socket) is one too: an allowed IPv6 network that holds it ("::/0") does not allow it."""
        if ip in METADATA_ADDRESSES or _embedded_ipv4(ip) in METADATA_ADDRESSES:
            exact = any(net.num_addresses == 1 and ip in net for net in self.allowed)
            return None if exact else f"{ip} is a cloud metadata address (allow it only as a single address)"
        if any(ip in net for net in self.allowed):
            return None
        kind = address_kind(ip)
        return f"{ip} is not a public address ({kind})" if kind else None


def address_kind(ip: IPAddress) -> str | None:
    """The kind of non-public address `ip` is ("loopback", "private", ...), or None for a public one.

    An IPv6 address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64) must be public on both counts.
    IPv6 site-local addresses (fec0::/10: deprecated, yet still an internal network's on some) are refused,
    though ipaddress counts them as global (only IPv6 addresses have `is_site_local`)."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        kind = address_kind(embedded)
        if kind:
            return f"{kind} IPv4 inside IPv6"
        if ip in _NAT64:  # an IPv6-only host's DNS64 answers public IPv4 sites this way
            return None
    for kind in ("loopback", "link_local", "site_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}", False):
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


def resolve_allowed(host: str, port: int, policy: AddressPolicy, timeout: float | None = None) -> list[str]:
    """Resolve `host` once (within `timeout` seconds, see `lookup`) and return the addresses the policy
    allows; AddressRefused when there are none."""
    try:
        infos = lookup(host, port, timeout)
    except (socket.gaierror, UnicodeError) as exc:
        if getattr(exc, "errno", None) == socket.EAI_AGAIN:
            raise ResolverUnavailable(f"cannot resolve host {host!r} for now: {exc}") from exc
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


def lookup(host: str, port: int, timeout: float | None) -> list[tuple]:
    """socket.getaddrinfo(host, port) for a TCP connection, given up after `timeout` seconds (None: no limit)
    with a TimeoutError that names the host.

    getaddrinfo has no timeout: a resolver that never answers held a poll (or a backfill thread) for as
    long as the system resolver liked (5 s x attempts x name servers, or far longer). So a name is looked
    up in a daemon thread of its own, which is left to end by itself when it is given up on. At most
    MAX_LOOKUPS run at once, so lookups stalled at a silent resolver cannot pile up threads: past that, a
    lookup waits for one of them to end, within its own timeout. An IP address needs no resolver (nor a
    thread, ~0.1 ms of CPU)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    started = time.monotonic()
    if not _LOOKUPS.acquire(timeout=timeout):
        raise TimeoutError(f"DNS lookup for {host} took over {timeout:.3g}s "
                           f"(all {MAX_LOOKUPS} lookup threads were waiting for the resolver)")
    answer: futures.Future[list[tuple]] = futures.Future()
    threading.Thread(target=_lookup_into, args=(answer, host, port), name=f"presswire-dns {host}", daemon=True).start()
    left = None if timeout is None else timeout - (time.monotonic() - started)
    if not futures.wait([answer], left).done:
        raise TimeoutError(f"DNS lookup for {host} took over {timeout:.3g}s")
    return answer.result()


def _lookup_into(answer: futures.Future, host: str, port: int) -> None:
    try:
        answer.set_result(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except BaseException as exc:  # gaierror, UnicodeError for a label idna refuses: the caller's to judge
        answer.set_exception(exc)
    finally:
        _LOOKUPS.release()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket read inside this block (in this thread) ends by `seconds` from now."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float:
    """Seconds left before the current deadline (infinity when there is none)."""
    until = _DEADLINE.get()
    return float("inf") if until is None else until - time.monotonic()


def _read_timeout(timeout: float | None) -> float | None:
    """The read timeout, shortened to what is left before the current deadline."""
    until = _DEADLINE.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise TimeoutError("the response's total time limit was reached")
    return left if timeout is None else min(timeout, left)


def open_socket(host: str, port: int, policy: AddressPolicy, timeout: float) -> socket.socket:
    """A TCP connection to `host`, opened to an address the policy allows (the host is resolved once, here);
    AddressRefused when there is none, the last connection error when none of them answers."""
    last_error: OSError | None = None
    for address in resolve_allowed(host, port, policy, _read_timeout(timeout)):
        try:
            sock = socket.create_connection((address, port), _read_timeout(timeout))  # an IP: no lookup
        except OSError as exc:
            last_error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    assert last_error is not None
    raise last_error


class _Response(http.client.HTTPResponse):
    """http.client's response, past any informational answer: it skips "100 Continue" only, and would end
    at a "103 Early Hints" that a CDN sends before the real response."""

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()
            if not 102 <= status < 200:  # 100 is skipped by http.client itself; 101 is an upgrade we never ask for
                return version, status, reason
            http.client.parse_headers(self.fp)  # the informational answer's own headers


class GuardedConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection (http or https) opened by `open_socket`: only to allowed addresses, and
    every read and write of it bounded by read_timeout and the current deadline."""

    response_class = _Response

    def __init__(self, scheme: str, host: str, port: int, policy: AddressPolicy, *, connect_timeout: float,
                 read_timeout: float, ssl_context: ssl.SSLContext | None = None):
        super().__init__(host, port, timeout=connect_timeout)
        self.default_port = 443 if scheme == "https" else 80  # the Host header names other ports only
        self._policy, self._read_timeout, self._tls = policy, read_timeout, ssl_context if scheme == "https" else None

    def connect(self) -> None:
        sock = open_socket(self.host, self.port, self._policy, self.timeout)
        try:
            if self._tls is not None:  # the handshake verifies the certificate against the host name
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(sock, self._read_timeout)

    def idle_and_open(self) -> bool:
        """Whether a kept-alive connection can carry another request: open, and nothing to read (a server
        that closed it, or sent what no request asked for, makes it readable)."""
        sock = self.sock.raw if isinstance(self.sock, _DeadlineSocket) else None
        if sock is None or sock.fileno() < 0:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return False
        poller = select.poll()  # not select(): it cannot watch descriptors above 1023
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)


class _DeadlineSocket:
    """What http.client uses of a socket (sendall, makefile, close), each wait bounded by the deadline.
    As with a socket's own makefile, closing it while a response still reads from it closes it only when
    that reader is closed too (http.client hands a response that ends the connection its socket this way)."""

    def __init__(self, sock: socket.socket, timeout: float):
        self.raw, self._timeout = sock, timeout
        self._readers = 0
        self._closed = False

    def sendall(self, data: bytes) -> None:
        self.raw.settimeout(_read_timeout(self._timeout))
        self.raw.sendall(data)

    def makefile(self, mode: str = "rb", buffering: int = -1) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(_DeadlineReader(self, self._timeout), 64 * 1024)

    def close(self) -> None:
        self._closed = True
        if self._readers == 0:
            self.raw.close()

    def _reader_closed(self) -> None:
        self._readers -= 1
        if self._closed and self._readers == 0:
            self.raw.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, owner: _DeadlineSocket, timeout: float):
        self._owner, self._sock, self._timeout = owner, owner.raw, timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(_read_timeout(self._timeout))
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._owner._reader_closed()
        super().close()
