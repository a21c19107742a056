"""The only HTTP code: one httpx transport, limits on every request, retries for transient failures.

`Fetcher.get(url)` returns a `Response` whose body was read within the limits, or raises a
`TransientFetchError` (worth retrying) / `PermanentFetchError`. httpx objects never leave this module.
Redirects are followed here, one hop at a time, so every hop is counted and checked.
"""

from __future__ import annotations

import email.utils
import threading
import time
from datetime import datetime, timezone
from typing import Mapping
from urllib.parse import urljoin, urlsplit

import httpx
import tenacity

from ingest import decoding, netguard
from ingest.errors import FetchError, PermanentFetchError, TransientFetchError
from ingest.model import Response
from ingest.settings import HttpSettings

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_REDIRECT_STATUS = {301, 302, 303, 307, 308}
_PERMANENT_STATUS = {301, 308}
_MAX_RETRY_AFTER = 120.0  # seconds we are willing to wait inside one poll; longer waits end the attempt


class Fetcher:
    """One HTTP client for the whole process; safe to share between threads."""

    def __init__(self, http: HttpSettings, transport: httpx.BaseTransport | None = None):
        """`transport` replaces the SSRF-guarded one (netguard.GuardedTransport); for tests only."""
        self.http = http
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        # Requests go to the transport itself, not through an httpx.Client: we follow redirects ourselves,
        # keep no cookies and use no auth or proxies, and the Client's layers for those cost ~0.15 ms of CPU
        # a request (0.53 -> 0.40 ms, 500 pages from a local server, one thread; a tenth of a backfill's fetch).
        self._transport = transport or netguard.GuardedTransport(netguard.AddressPolicy(http.allow_networks), limits)
        self._headers = {"User-Agent": http.full_user_agent, "Accept-Encoding": "gzip, deflate",
                         "Connection": "keep-alive"}
        self._timeout = httpx.Timeout(connect=http.connect_timeout, read=http.read_timeout,
                                      write=http.read_timeout, pool=http.total_timeout).as_dict()
        self._local = threading.local()  # a Retrying per thread (tenacity does not promise to share one)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, accept: str = "*/*",
            page: bool = True) -> Response:
        """GET with retries for transient failures (exponential backoff with jitter, Retry-After honoured).

        `page` says whether this is an article page; the politeness layer (ingest.polite) applies robots.txt
        and per-host delays to pages only. The fetcher itself treats every request alike."""
        return self._retrying()(self._get_once, url, {"Accept": accept, **(headers or {})})

    def _retrying(self) -> tenacity.Retrying:
        """This thread's Retrying, built once (not per call): exponential backoff with jitter, Retry-After
        honoured, for transient failures only."""
        retrying = getattr(self._local, "retrying", None)
        if retrying is None:
            backoff = self.http.retry_backoff
            retrying = self._local.retrying = tenacity.Retrying(
                stop=tenacity.stop_after_attempt(self.http.retries + 1),
                wait=_wait_retry_after(tenacity.wait_exponential(multiplier=backoff, max=60)
                                       + tenacity.wait_random(0, backoff)),
                retry=tenacity.retry_if_exception_type(TransientFetchError),
                reraise=True,
            )
        return retrying

    def _get_once(self, url: str, headers: dict[str, str]) -> Response:
        started = time.monotonic()
        current = url
        moved: str | None = None  # where the permanent redirects (301/308) at the start of the chain lead
        permanent = True
        for _hop in range(self.http.max_redirects + 1):
            _check_url(current)
            status, resp_headers, body = self._request(current, headers, started)
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

    def _request(self, url: str, headers: dict[str, str], started: float) -> tuple[int, dict[str, str], bytes]:
        left = self.http.total_timeout - (time.monotonic() - started)
        try:
            request = httpx.Request("GET", url, headers={**self._headers, **headers},
                                    extensions={"timeout": self._timeout})
            with netguard.deadline(left):
                resp = self._transport.handle_request(request)
                try:
                    resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                    if resp.status_code >= 300:  # redirects, 304 and errors: the body is not needed
                        _check_location(url, resp_headers)
                        return resp.status_code, resp_headers, b""
                    return resp.status_code, resp_headers, self._read_body(url, resp, started)
                finally:
                    resp.close()
        except FetchError:
            raise
        except netguard.AddressRefused as exc:
            raise PermanentFetchError(url, str(exc)) from exc
        except (decoding.UnsupportedEncoding, decoding.CorruptEncoding) as exc:
            raise PermanentFetchError(url, str(exc)) from exc
        except httpx.TimeoutException as exc:
            if time.monotonic() - started >= self.http.total_timeout:
                raise TransientFetchError(url, f"response took longer than total_timeout "
                                               f"{self.http.total_timeout:g}s") from exc
            raise TransientFetchError(url, f"timed out ({type(exc).__name__})") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise TransientFetchError(url, f"connection failed: {exc or type(exc).__name__}") from exc
        except httpx.DecodingError as exc:
            raise PermanentFetchError(url, f"undecodable response body: {exc}") from exc
        except httpx.HTTPError as exc:
            raise PermanentFetchError(url, f"request failed: {exc or type(exc).__name__}") from exc
        except (httpx.InvalidURL, ValueError) as exc:  # a host httpx/idna cannot encode: from a feed, not a bug
            raise PermanentFetchError(url, f"invalid URL: {exc}") from exc

    def _read_body(self, url: str, resp: httpx.Response, started: float) -> bytes:
        """Read the decoded body, cutting it at max_bytes and at the total time limit.

        The raw bytes are decoded here (ingest.decoding), not by httpx, so that one compressed network
        chunk is inflated in bounded steps and a compression bomb is cut as soon as it passes max_bytes."""
        limit = self.http.max_bytes
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and "content-encoding" not in resp.headers and int(declared) > limit:
            raise PermanentFetchError(url, f"response too large: Content-Length {declared} > max_bytes {limit}")
        chunks: list[bytes] = []
        size = 0
        for chunk in decoding.decoded(resp.iter_raw(), resp.headers.get("content-encoding")):
            size += len(chunk)
            if size > limit:
                raise PermanentFetchError(url, f"response too large: more than max_bytes {limit} bytes")
            if time.monotonic() - started > self.http.total_timeout:
                raise TransientFetchError(url, f"response took longer than total_timeout {self.http.total_timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)


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
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _wait_retry_after(fallback: tenacity.wait.wait_base) -> tenacity.wait.wait_base:
    """Wait what the server asked for in Retry-After (when reasonable), else the fallback backoff."""

    class _Wait(tenacity.wait.wait_base):
        def __call__(self, retry_state: tenacity.RetryCallState) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            asked = getattr(exc, "retry_after", None)
            if asked is not None and asked <= _MAX_RETRY_AFTER:
                return asked
            return fallback(retry_state)

    return _Wait()
