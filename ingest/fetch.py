"""Every HTTP request presswire makes: HTTP/1.1 over kept-alive connections, limits on every request,
retries for transient failures.

`Fetcher.get(url)` returns a `Response` whose body was read within the limits, or raises a
`TransientFetchError` (worth retrying) / `PermanentFetchError`. Redirects are followed here, one hop at a
time, so every hop is counted and checked.

The client is the standard library's http.client on connections that only ingest.netguard opens (the SSRF
guard and the deadline), kept alive per origin in a small pool. It replaced httpx: what we need of a client
is small (GET; no cookies, proxies or auth; raw bodies, which ingest.decoding inflates in bounded steps;
redirects followed here), and httpx's layers (httpx, httpcore, h11 and their locks) cost the fetching
process CPU it shares with extraction. `Fetcher.get` of a local page: 0.35 -> 0.19 ms of CPU; a 2,000-page
backfill: 244 -> 264 items/s and 6.98 -> 6.67 ms of CPU per item, all processes (medians of 5 runs, old
and new interleaved, by a throwaway driver); and no trio import (~0.25 s) where selenium installed it.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import ipaddress
import re
import ssl
import threading
import time
from datetime import datetime, timezone
from typing import Iterator, Mapping
from urllib.parse import quote, urljoin, urlsplit

import tenacity

from ingest import decoding, netguard
from ingest.errors import FetchError, PermanentFetchError, TransientFetchError
from ingest.model import Response
from ingest.settings import HttpSettings

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_REDIRECT_STATUS = {301, 302, 303, 307, 308}
_PERMANENT_STATUS = {301, 308}
MAX_RETRY_AFTER = 120.0  # seconds we are willing to wait inside one poll; longer waits end the attempt


class Fetcher:
    """One HTTP client for the whole process; safe to share between threads."""

    def __init__(self, http: HttpSettings, ssl_context: ssl.SSLContext | None = None):
        """`ssl_context` replaces the default one (certifi's CA bundle, certificates and host names
        verified); for tests only."""
        self.http = http
        self._pool = _Pool(netguard.AddressPolicy(http.allow_networks), http, ssl_context)
        self._headers = {"User-Agent": http.full_user_agent, "Accept-Encoding": "gzip, deflate"}
        self._local = threading.local()  # a Retrying per thread (tenacity does not promise to share one)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, accept: str = "*/*",
            page: bool = True, max_bytes: int | None = None) -> Response:
        """GET with retries for transient failures (exponential backoff with jitter, Retry-After honoured).

        `page` says whether this is an article page; the politeness layer (ingest.polite) applies robots.txt
        and per-host delays to pages only. The fetcher itself treats every request alike. `max_bytes`
        replaces [http] max_bytes for this request (sitemaps may be 50 MB)."""
        limit = self.http.max_bytes if max_bytes is None else max_bytes
        return self._retrying()(self._get_once, url, {"Accept": accept, **(headers or {})}, limit)

    def _retrying(self) -> tenacity.Retrying:
        """This thread's Retrying, built once (not per call): exponential backoff with jitter, Retry-After
        honoured, for transient failures only."""
        retrying = getattr(self._local, "retrying", None)
        if retrying is None:
            backoff = self.http.retry_backoff
            retrying = self._local.retrying = tenacity.Retrying(
                stop=tenacity.stop_any(tenacity.stop_after_attempt(self.http.retries + 1), _retry_after_too_long),
                wait=_wait_retry_after(tenacity.wait_exponential(multiplier=backoff, max=60)
                                       + tenacity.wait_random(0, backoff)),
                retry=tenacity.retry_if_exception_type(TransientFetchError),
                reraise=True,
            )
        return retrying

    def _get_once(self, url: str, headers: dict[str, str], limit: int) -> Response:
        started = time.monotonic()
        current = url
        moved: str | None = None  # where the permanent redirects (301/308) at the start of the chain lead
        permanent = True
        for _hop in range(self.http.max_redirects + 1):
            _check_url(current)
            status, resp_headers, body = self._request(current, headers, started, limit)
            if status in _REDIRECT_STATUS and "location" in resp_headers:
                current = urljoin(current, resp_headers["location"])
                permanent = permanent and status in _PERMANENT_STATUS
                moved = current if permanent else moved
                continue
            elapsed = int((time.monotonic() - started) * 1000)
            _raise_for_status(current, status, resp_headers)
            return Response(url=url, final_url=current, status=status, content=body,
                            headers=resp_headers, elapsed_ms=elapsed, permanent_redirect=moved)
        raise PermanentFetchError(url, f"more than {self.http.max_redirects} redirects")

    def _request(self, url: str, headers: dict[str, str], started: float, limit: int
                 ) -> tuple[int, dict[str, str], bytes]:
        """One request (no redirects followed): (status, headers with lower-case names, decoded body)."""
        origin, target = _origin_and_target(url)
        left = self.http.total_timeout - (time.monotonic() - started)
        try:
            with netguard.deadline(left):
                return self._exchange(url, origin, target, {**self._headers, **headers}, started, limit)
        except FetchError:
            raise
        except netguard.AddressRefused as exc:
            raise PermanentFetchError(url, str(exc)) from exc
        except decoding.TruncatedEncoding as exc:  # as transient as a body cut short of its Content-Length
            raise TransientFetchError(url, str(exc)) from exc
        except (decoding.UnsupportedEncoding, decoding.CorruptEncoding) as exc:
            raise PermanentFetchError(url, str(exc)) from exc
        except TimeoutError as exc:  # socket.timeout, and the deadline's own
            if time.monotonic() - started >= self.http.total_timeout:
                raise TransientFetchError(url, f"response took longer than total_timeout "
                                               f"{self.http.total_timeout:g}s") from exc
            raise TransientFetchError(url, f"timed out ({exc or type(exc).__name__})") from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, TLS failures, broken responses
            raise TransientFetchError(url, f"connection failed: {exc or type(exc).__name__}") from exc
        except ValueError as exc:  # http.client refuses a header value with a line break (a hostile ETag)
            raise PermanentFetchError(url, f"invalid request: {exc}") from exc

    def _exchange(self, url: str, origin: _Origin, target: str, headers: dict[str, str], started: float,
                  limit: int) -> tuple[int, dict[str, str], bytes]:
        """Send the request on a kept-alive connection of the origin (once more on a new one when the server
        had closed the kept one), read the answer, and give the connection back when it can be used again."""
        with self._pool.slot():
            for reused in self._pool.attempts(origin):
                conn = reused or self._pool.connect(origin)
                try:
                    conn.request("GET", target, headers=headers)
                    resp = conn.getresponse()
                except (ConnectionError, http.client.BadStatusLine):  # RemoteDisconnected is both
                    conn.close()
                    if reused:  # closed by the server while it was idle: the request never got there
                        continue
                    raise
                except BaseException:
                    conn.close()
                    raise
                try:
                    resp_headers = _headers(resp)
                    if resp.status >= 300:  # redirects, 304 and errors: the body is not needed
                        _check_location(url, resp_headers)
                        body = b""
                    else:
                        body = self._read_body(url, resp, resp_headers, started, limit)
                except BaseException:
                    conn.close()
                    raise
                self._pool.release(origin, conn, resp)
                return resp.status, resp_headers, body
        raise AssertionError("unreachable: the last attempt is on a new connection")

    def _read_body(self, url: str, resp: http.client.HTTPResponse, headers: Mapping[str, str], started: float,
                   limit: int) -> bytes:
        """Read the decoded body, cutting it at `limit` (max_bytes) and at the total time limit.

        The raw bytes are decoded here (ingest.decoding), so that one compressed network chunk is inflated
        in bounded steps and a compression bomb is cut as soon as it passes the limit."""
        declared = resp.length  # Content-Length as http.client read it: None when chunked, absent or no number
        if declared is None and not resp.chunked and "content-length" in headers:  # no framing (RFC 9112 6.3)
            raise PermanentFetchError(url, f"invalid Content-Length {headers['content-length'][:40]!r}")
        if declared is not None and "content-encoding" not in headers and declared > limit:
            raise PermanentFetchError(url, f"response too large: Content-Length {declared} > max_bytes {limit}")
        chunks: list[bytes] = []
        size = 0
        for chunk in decoding.decoded(_raw_chunks(resp), headers.get("content-encoding")):
            size += len(chunk)
            if size > limit:
                raise PermanentFetchError(url, f"response too large: more than max_bytes {limit} bytes")
            if time.monotonic() - started > self.http.total_timeout:
                raise TransientFetchError(url, f"response took longer than total_timeout {self.http.total_timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)


_Origin = tuple[str, str, int]  # scheme, host (ASCII; an IPv6 address without brackets), port
_READ_SIZE = 64 * 1024
MAX_CONNECTIONS = 32  # requests in progress at once, per Fetcher (the others wait, up to total_timeout)
MAX_IDLE = 16  # kept-alive connections, per Fetcher
IDLE_EXPIRY = 5.0  # seconds a kept-alive connection is reused within (servers close idle ones: often after 5-15 s)


class _Pool:
    """Kept-alive connections per origin, and the limit on connections in use; safe to share between threads."""

    def __init__(self, policy: netguard.AddressPolicy, http: HttpSettings, tls: ssl.SSLContext | None):
        self._policy, self._http, self._tls = policy, http, tls
        self._idle: dict[_Origin, list[tuple[float, netguard.GuardedConnection]]] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=max(0.0, min(netguard.time_left(), self._http.total_timeout))):
            raise TimeoutError(f"all {MAX_CONNECTIONS} connections stayed busy")
        try:
            yield
        finally:
            self._slots.release()

    def attempts(self, origin: _Origin) -> Iterator[netguard.GuardedConnection | None]:
        """A kept-alive connection to try first, if there is one, then None: open a new one."""
        kept = self._take(origin)
        if kept is not None:
            yield kept
        yield None

    def connect(self, origin: _Origin) -> netguard.GuardedConnection:
        scheme, host, port = origin
        if scheme == "https" and self._tls is None:
            with self._lock:  # built at the first HTTPS connection: reading the CA bundle takes ~20 ms
                self._tls = self._tls or _default_tls()
        return netguard.GuardedConnection(scheme, host, port, self._policy, connect_timeout=self._http.connect_timeout,
                                          read_timeout=self._http.read_timeout, ssl_context=self._tls)

    def _take(self, origin: _Origin) -> netguard.GuardedConnection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                kept = self._idle.get(origin)
                if not kept:
                    return None
                since, conn = kept.pop()
                if not kept:
                    del self._idle[origin]
            if now - since < IDLE_EXPIRY and conn.idle_and_open():
                return conn
            conn.close()

    def release(self, origin: _Origin, conn: netguard.GuardedConnection, resp: http.client.HTTPResponse) -> None:
        """Keep the connection for the next request to the origin when its response was read to the end and
        neither side asked to close it; else close it."""
        if not resp.isclosed() and resp.length == 0:
            resp.read()  # a response with no body (304, 204, "Content-Length: 0") is complete: mark it so
        if resp.will_close or not resp.isclosed():
            conn.close()
            return
        now = time.monotonic()
        with self._lock:
            self._idle.setdefault(origin, []).append((now, conn))
            dropped = self._evict(now)
        for old in dropped:
            old.close()

    def _evict(self, now: float) -> list[netguard.GuardedConnection]:
        """Take out (under the lock) the kept connections of every origin that are too old to be reused, and
        the oldest ones past MAX_IDLE. Otherwise a connection to a host that is not asked again (a host that
        went away, a retired source) stayed open for ever, and once MAX_IDLE of them were kept, each new
        origin's connection was the one closed, so no other host got a kept-alive connection."""
        kept = sorted(((since, origin, conn) for origin, conns in self._idle.items() for since, conn in conns),
                      key=lambda k: k[0])  # oldest first: the expired ones lead
        cut = max(sum(1 for since, _origin, _conn in kept if now - since >= IDLE_EXPIRY), len(kept) - MAX_IDLE)
        if cut <= 0:
            return []
        self._idle = {}
        for since, origin, conn in kept[cut:]:
            self._idle.setdefault(origin, []).append((since, conn))
        return [conn for _since, _origin, conn in kept[:cut]]

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for kept in idle.values():
            for _since, conn in kept:
                conn.close()


def _raw_chunks(resp: http.client.HTTPResponse) -> Iterator[bytes]:
    """The body as it arrives (still content-encoded; chunked transfer coding undone by http.client).

    A connection closed before the Content-Length is in ends http.client's read1 quietly, as if the body
    were whole: that is a ConnectionError here (a cut chunked body is http.client's own IncompleteRead)."""
    received = 0
    while chunk := resp.read1(_READ_SIZE):
        received += len(chunk)
        yield chunk
    if resp.length:
        raise ConnectionError(f"connection closed after {received} of the {received + resp.length} bytes "
                              "of its Content-Length")


def _headers(resp: http.client.HTTPResponse) -> dict[str, str]:
    """Lower-case names; a header sent more than once is joined with ", " (RFC 9110 5.3)."""
    out: dict[str, str] = {}
    for name, value in resp.getheaders():
        name = name.lower()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _default_tls() -> ssl.SSLContext:
    import certifi
    return ssl.create_default_context(cafile=certifi.where())


_IPV4_SHAPED = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_PATH_SAFE = "/:@!$&'()*+,;=%~-._"  # RFC 3986 pchar and "/", and "%" for escapes already there
_QUERY_SAFE = _PATH_SAFE + "?"


def _origin_and_target(url: str) -> tuple[_Origin, str]:
    """The origin to connect to and the request target ("/path?query", percent-encoded as needed);
    PermanentFetchError "invalid URL" for what cannot be sent as it is."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for "abc" or 99999
        host = _ascii_host(parts.hostname or "", "[" in parts.netloc)
    except (ValueError, UnicodeError) as exc:
        raise PermanentFetchError(url, f"invalid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return (scheme, host, port if port is not None else (443 if scheme == "https" else 80)), target


def _ascii_host(host: str, bracketed: bool) -> str:
    """The host as it is sent and resolved: an IP address as such, a name in ASCII (IDNA 2008);
    ValueError for one that is not valid."""
    if bracketed:
        return str(ipaddress.IPv6Address(host))
    if _IPV4_SHAPED.fullmatch(host):  # four numbers: a dotted quad, or nothing ("0177.0.0.1" is not one)
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            raise ValueError(f"Invalid IPv4 address: {host!r}") from exc
    import idna
    try:
        name = idna.encode(host, uts46=True).decode("ascii") if not host.isascii() else host
        for label in name.split("."):
            if label.startswith("xn--"):
                idna.decode(label)  # a malformed A-label is refused, as resolvers would
    except idna.IDNAError as exc:
        raise ValueError(str(exc)) from exc
    if not all(_HOST_LABEL.fullmatch(label) for label in name.rstrip(".").split(".")):
        raise ValueError(f"not a host name: {host!r}")
    return name


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # "Invalid IPv6 URL", invalid characters in the host
        raise PermanentFetchError(url, f"invalid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise PermanentFetchError(url, "not an http(s) URL")


def _check_location(url: str, headers: Mapping[str, str]) -> None:
    """A redirect's Location must be a URL that urljoin can read."""
    if "location" in headers:
        try:
            urljoin(url, headers["location"])
        except ValueError as exc:
            raise PermanentFetchError(url, f"redirect to an invalid URL: {exc}") from exc


def _raise_for_status(url: str, status: int, headers: Mapping[str, str]) -> None:
    if 200 <= status < 300 or status == 304:
        return
    if status in _TRANSIENT_STATUS:
        raise TransientFetchError(url, f"HTTP {status}", status=status, retry_after=retry_after(headers))
    raise PermanentFetchError(url, f"HTTP {status}", status=status)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():  # not "¹" (byte 0xB9 read as Latin-1): a digit that float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _retry_after_too_long(retry_state: tenacity.RetryCallState) -> bool:
    """Stop retrying when the server asked for a longer wait than one poll takes (Retry-After over
    MAX_RETRY_AFTER): asking again after our own short backoff is what it asked us not to do. The poll
    fails, and the schedule takes the Retry-After as the floor of the next one."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    asked = getattr(exc, "retry_after", None)
    return asked is not None and asked > MAX_RETRY_AFTER


def _wait_retry_after(fallback: tenacity.wait.wait_base) -> tenacity.wait.wait_base:
    """Wait what the server asked for in Retry-After (when reasonable: a longer wait stops the retries, see
    _retry_after_too_long), else the fallback backoff."""

    class _Wait(tenacity.wait.wait_base):
        def __call__(self, retry_state: tenacity.RetryCallState) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            asked = getattr(exc, "retry_after", None)
            if asked is not None and asked <= MAX_RETRY_AFTER:
                return asked
            return fallback(retry_state)

    return _Wait()
