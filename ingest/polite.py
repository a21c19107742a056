"""Politeness toward the hosts we fetch from, in front of the fetcher (ingest.fetch) and behind the same `get`.

    PoliteFetcher.get(url, headers, accept=..., page=True)
        at most `per_host` requests at once to one host (feeds and pages alike), so a worker polling many
        sources of one site never opens a crowd of connections to it;
        article pages (page=True) start at least `delay` seconds apart per host (or the robots.txt
        Crawl-delay, when that is longer, up to MAX_CRAWL_DELAY), and are fetched only where the host's
        robots.txt allows our user agent; feeds are subscribed to by the user, so robots.txt does not
        apply to them;
        a host that answered 429 or 503 with Retry-After (a 429 without one: COOL_DOWN_429) is left alone
        for that long (up to `max_cool_down`), by every thread: a request to it meanwhile waits when the
        time left is short (up to fetch.MAX_RETRY_AFTER, what a request waits for its own retries), else
        fails at once, a transient failure naming the host and the time left (its retry_after, so a
        poll's schedule takes it as the floor of its next poll). Without this, the source that was told
        to back off did, but every other source and article page on the host asked it again at once.

The cool-downs are kept per process: workers sharing a database each learn a host's Retry-After for
themselves. They start when a request gives up (ingest.fetch waits out a short Retry-After itself, in its
retries, holding the host's place, so at most `per_host` requests reach the host meanwhile), and follow the
host that answered: a redirect's target, not the host first asked.

robots.txt (RFC 9309) is fetched through the same fetcher (same limits, SSRF guard, redirects) once per
origin (scheme, host, port) and `robots_cache` seconds: 4xx means no rules (everything allowed); 5xx or
an unreachable host means "assume everything is disallowed" for now, as the RFC asks, which ends in a
transient failure: the page is tried again on a later poll. A disallowed page is a permanent failure: the
item keeps the feed's content and says why. So is a page on a host the fetcher itself refuses (the SSRF
guard refuses its address, or its name does not exist): the page would be refused the same way.

The rules are read by protego (Scrapy's robots.txt parser) as RFC 9309 has it: the group named by our
product token ("presswire" of the user agent "presswire/0.1"; case-insensitive; several such groups are
merged), else the `*` group; in it the longest matching Allow/Disallow path wins, Allow on a tie; `*`
matches any run of characters and a final `$` the end of the URL; a UTF-8 byte order mark is skipped.
(urllib.robotparser, used before, took the first matching rule and knew no wildcards.) One leniency of
protego's: with no group of our own, a group named by a prefix of our token ("press") is taken as ours.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping
from urllib.parse import urlsplit

from protego import Protego

from ingest.errors import FetchError, PermanentFetchError, TransientFetchError
from ingest.fetch import MAX_RETRY_AFTER
from ingest.model import Response
from ingest.netguard import AddressRefused

MAX_CRAWL_DELAY = 30.0  # a robots.txt asking for more is honoured only up to this
ROBOTS_RETRY = 600.0  # seconds before a robots.txt that failed (5xx, unreachable) is asked for again
SWEEP_EVERY = 600.0  # seconds between two sweeps of what is kept per host (expired robots.txt, past start times)
COOL_DOWN_429 = 60.0  # seconds a host that answered 429 without Retry-After is left alone


@dataclass
class _Robots:
    parser: Protego | None  # None: the host could not tell (disallow for now)
    fetched: float  # time.monotonic() of the fetch
    reason: str = ""
    refused: bool = False  # the fetcher refused the host itself (SSRF guard, no such name): so it does its pages


@dataclass
class _Slot:
    semaphore: threading.BoundedSemaphore
    users: int = 0  # threads holding or waiting for it: the slot is dropped when the last one leaves


class PoliteFetcher:
    """A fetcher (anything with `get(url, headers, accept=)`) made polite; safe to share between threads."""

    def __init__(self, fetcher, per_host: int, delay: float, *, robots: bool = False,
                 robots_cache: float = 86400.0, user_agent: str = "presswire", robots_fetcher=None,
                 max_cool_down: float = 604800.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        """`robots_fetcher` reads robots.txt (default: `fetcher`); the service's times those requests apart
        from feeds and pages (ingest.metrics). `max_cool_down` caps a host's Retry-After (the CLI passes
        [poll] max_backoff, which caps it as a source's floor), so a hostile one cannot silence a host for ever."""
        self._fetcher, self._per_host, self._delay = fetcher, max(1, per_host), delay
        self._max_cool_down = max_cool_down
        self._robots_fetcher = robots_fetcher or fetcher
        self._robots, self._robots_cache = robots, robots_cache
        self._token = _product_token(user_agent)
        self._sleep, self._clock = sleep, clock
        self._lock = threading.Lock()
        # What is kept per host, for the hosts in use or seen lately only: a service reads pages (and
        # read-more links) on ever more hosts, and kept every host's parsed robots.txt for good (tens of kB
        # each), long after it expired. Slots go with their last user, the rest at the sweep (_sweep).
        self._slots: dict[str, _Slot] = {}
        self._next_start: dict[str, float] = {}
        self._cool_until: dict[str, tuple[float, str]] = {}  # host -> (when it may be asked again, why)
        self._rules: dict[str, _Robots] = {}  # by robots.txt URL
        self._rules_locks: dict[str, threading.Lock] = {}
        self._next_sweep = clock() + SWEEP_EVERY

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, accept: str = "*/*",
            page: bool = True, max_bytes: int | None = None) -> Response:
        host = _host_key(url)
        self._cooled(url, host)  # before robots.txt, which is asked of the same host
        delay = self._delay
        if page and self._robots and host:
            delay = max(delay, self._check_robots(url))
        with self._slot(host):
            self._cooled(url, host)  # the host may have answered 429 while we waited our turn
            if page and (wait := self._wait(host, delay)) > 0:  # time.sleep(0) is a syscall, and it hands the
                self._sleep(wait)  # GIL to another thread: a backfill with no host delay paid both on every page
            try:
                return self._fetcher.get(url, headers, accept=accept, page=page, max_bytes=max_bytes)
            except TransientFetchError as exc:
                self._cool_down(exc)
                raise

    @contextlib.contextmanager
    def _slot(self, host: str) -> Iterator[None]:
        """One of the host's `per_host` places, held while inside."""
        with self._lock:
            self._sweep()
            slot = self._slots.get(host)
            if slot is None:
                slot = self._slots[host] = _Slot(threading.BoundedSemaphore(self._per_host))
            slot.users += 1
        try:
            with slot.semaphore:
                yield
        finally:
            with self._lock:
                slot.users -= 1
                if not slot.users:
                    del self._slots[host]

    def _sweep(self) -> None:
        """Every SWEEP_EVERY seconds (under the lock), forget the robots.txt that expired and the hosts' start
        times and cool-downs that passed: either would be fetched or computed anew. (A thread that took a
        robots.txt's lock just before may then fetch it once more than needed, alongside one that takes the new
        lock.)"""
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY
        for url in [url for url, robots in self._rules.items() if self._expired(robots)]:
            del self._rules[url]
        for url in [url for url, lock in self._rules_locks.items() if url not in self._rules and not lock.locked()]:
            del self._rules_locks[url]
        for host in [host for host, start in self._next_start.items() if start <= now]:
            del self._next_start[host]
        for host in [host for host, (until, _why) in self._cool_until.items() if until <= now]:
            del self._cool_until[host]

    def _wait(self, host: str, delay: float) -> float:
        """Reserve the host's next start time; returns how long to wait for it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + delay
            return start - now

    # --- Retry-After -------------------------------------------------------------------------------

    def _cool_down(self, exc: TransientFetchError) -> None:
        """Leave alone the host that answered `exc` with 429, or 503 and Retry-After, for as long as it asked."""
        asked = COOL_DOWN_429 if exc.status == 429 and exc.retry_after is None else exc.retry_after
        host = _host_key(exc.url)  # the host that answered: a redirect's target, maybe
        if exc.status not in (429, 503) or not asked or not host:
            return
        why = f"{exc.reason} with Retry-After {exc.retry_after:.0f}s" if exc.retry_after else exc.reason
        with self._lock:
            until = self._clock() + min(asked, self._max_cool_down)
            if until > self._cool_until.get(host, (0.0, ""))[0]:
                self._cool_until[host] = (until, why)

    def _cooled(self, url: str, host: str) -> None:
        """Wait until the host may be asked again; raise TransientFetchError instead when that is longer than
        a request waits for its own retries (fetch.MAX_RETRY_AFTER)."""
        with self._lock:
            until, why = self._cool_until.get(host, (0.0, ""))
            left = until - self._clock()
        if left > MAX_RETRY_AFTER:
            raise TransientFetchError(url, f"host {host} is left alone for {left:.0f}s more: it answered {why}",
                                      retry_after=left)
        if left > 0:
            self._sleep(left)

    # --- robots.txt -------------------------------------------------------------------------------

    def _check_robots(self, url: str) -> float:
        """Raise unless robots.txt lets us fetch `url`; returns the host's Crawl-delay (capped), or 0."""
        robots_url = _robots_url(url)
        robots = self._robots_for(robots_url)
        if robots.refused:  # not the host's answer but ours, and fetching the page would give the same one
            raise PermanentFetchError(url, robots.reason)
        if robots.parser is None:
            raise TransientFetchError(url, f"{robots_url} unavailable ({robots.reason}); "
                                           "treated as disallowing everything for now (RFC 9309)")
        if not robots.parser.can_fetch(url, self._token):
            raise PermanentFetchError(url, f"disallowed by {robots_url} for user agent {self._token}")
        crawl_delay = robots.parser.crawl_delay(self._token)
        return min(crawl_delay, MAX_CRAWL_DELAY) if crawl_delay else 0.0

    def _robots_for(self, robots_url: str) -> _Robots:
        with self._lock:
            lock = self._rules_locks.setdefault(robots_url, threading.Lock())
        with lock:  # one fetch of a robots.txt, however many threads want it
            with self._lock:
                cached = self._rules.get(robots_url)
            if cached is None or self._expired(cached):
                cached = self._fetch_robots(robots_url)
                with self._lock:
                    self._rules[robots_url] = cached
            return cached

    def _expired(self, robots: _Robots) -> bool:
        ttl = self._robots_cache if robots.parser is not None else min(ROBOTS_RETRY, self._robots_cache)
        return self._clock() - robots.fetched >= ttl

    def _fetch_robots(self, robots_url: str) -> _Robots:
        now = self._clock()
        try:
            response = self._robots_fetcher.get(robots_url, accept="text/plain, */*;q=0.5", page=False)
        except FetchError as exc:
            if isinstance(exc, TransientFetchError):
                self._cool_down(exc)  # a 429 for robots.txt asks us to leave the host alone, feeds as well
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return _Robots(Protego.parse(""), now)  # no robots.txt: no rules
            # Refused at its own address (not at a redirect's): the page, on that host, is refused as well.
            refused = isinstance(exc.__cause__, AddressRefused) and exc.url == robots_url
            return _Robots(None, now, exc.reason, refused)
        # RFC 9309: UTF-8; "utf-8-sig" drops a byte order mark, which protego would read as part of the
        # first line (and so lose that line, often the first User-agent).
        return _Robots(Protego.parse(response.content.decode("utf-8-sig", errors="replace")), now)


def _product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against (RFC 9309 2.2.1): the user agent's leading letters,
    "_" and "-", lower-cased: "presswire" of "presswire/0.1"."""
    match = re.match(r"[A-Za-z_-]+", user_agent.strip())
    return match.group(0).lower() if match else user_agent.strip().lower()


def _robots_url(url: str) -> str:
    """The robots.txt that governs `url`: same scheme, host and port, no user info."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}/robots.txt"


def _host_key(url: str) -> str:
    """host:port, the unit of politeness; "" for a URL that has none (the fetcher refuses it with a reason)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname.lower()}:{parts.port or ''}" if parts.hostname else ""
    except ValueError:  # an invalid IPv6 literal or port
        return ""
