"""Politeness toward the hosts we fetch from, in front of the fetcher (ingest.fetch) and behind the same `get`.

    PoliteFetcher.get(url, headers, accept=..., page=True)
        at most `per_host` requests at once to one host (feeds and pages alike), so a worker polling many
        sources of one site never opens a crowd of connections to it;
        article pages (page=True) start at least `delay` seconds apart per host (or the robots.txt
        Crawl-delay, when that is longer, up to MAX_CRAWL_DELAY), and are fetched only where the host's
        robots.txt allows our user agent; feeds are subscribed to by the user, so robots.txt does not
        apply to them.

robots.txt (RFC 9309) is fetched through the same fetcher (same limits, SSRF guard, redirects) once per
host and `robots_cache` seconds: 4xx means no rules (everything allowed); 5xx or an unreachable host
means "assume everything is disallowed" for now, as the RFC asks, which ends in a transient failure: the
page is tried again on a later poll. A disallowed page is a permanent failure: the item keeps the feed's
content and says why.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlsplit

from ingest.errors import FetchError, PermanentFetchError, TransientFetchError
from ingest.model import Response

MAX_CRAWL_DELAY = 30.0  # a robots.txt asking for more is honoured only up to this
ROBOTS_RETRY = 600.0  # seconds before a robots.txt that failed (5xx, unreachable) is asked for again


@dataclass
class _Robots:
    parser: urllib.robotparser.RobotFileParser | None  # None: the host could not tell (disallow for now)
    fetched: float  # time.monotonic() of the fetch
    reason: str = ""


class PoliteFetcher:
    """A fetcher (anything with `get(url, headers, accept=)`) made polite; safe to share between threads."""

    def __init__(self, fetcher, per_host: int, delay: float, *, robots: bool = False,
                 robots_cache: float = 86400.0, user_agent: str = "presswire",
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self._fetcher, self._per_host, self._delay = fetcher, max(1, per_host), delay
        self._robots, self._robots_cache, self._agent = robots, robots_cache, user_agent
        self._sleep, self._clock = sleep, clock
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}
        self._rules: dict[str, _Robots] = {}
        self._rules_locks: dict[str, threading.Lock] = {}

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, accept: str = "*/*",
            page: bool = True) -> Response:
        host = _host_key(url)
        delay = self._delay
        if page and self._robots and host:
            delay = max(delay, self._check_robots(url, host))
        with self._slot(host):
            if page:
                self._sleep(self._wait(host, delay))
            return self._fetcher.get(url, headers, accept=accept, page=page)

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._slots.setdefault(host, threading.BoundedSemaphore(self._per_host))

    def _wait(self, host: str, delay: float) -> float:
        """Reserve the host's next start time; returns how long to wait for it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + delay
            return start - now

    # --- robots.txt -------------------------------------------------------------------------------

    def _check_robots(self, url: str, host: str) -> float:
        """Raise unless robots.txt lets us fetch `url`; returns the host's Crawl-delay (capped), or 0."""
        robots = self._robots_for(url, host)
        if robots.parser is None:
            raise TransientFetchError(url, f"robots.txt of {host} unavailable ({robots.reason}); "
                                           "treated as disallowing everything for now (RFC 9309)")
        if not robots.parser.can_fetch(self._agent, url):
            raise PermanentFetchError(url, f"disallowed by {host}/robots.txt for user agent {self._agent}")
        crawl_delay = robots.parser.crawl_delay(self._agent)
        return min(float(crawl_delay), MAX_CRAWL_DELAY) if crawl_delay else 0.0

    def _robots_for(self, url: str, host: str) -> _Robots:
        with self._lock:
            lock = self._rules_locks.setdefault(host, threading.Lock())
        with lock:  # one fetch of a host's robots.txt, however many threads want it
            cached = self._rules.get(host)
            if cached is None or self._expired(cached):
                cached = self._rules[host] = self._fetch_robots(url)
            return cached

    def _expired(self, robots: _Robots) -> bool:
        ttl = self._robots_cache if robots.parser is not None else min(ROBOTS_RETRY, self._robots_cache)
        return self._clock() - robots.fetched >= ttl

    def _fetch_robots(self, url: str) -> _Robots:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        now = self._clock()
        try:
            response = self._fetcher.get(robots_url, accept="text/plain, */*;q=0.5", page=False)
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return _Robots(_parsed(""), now)  # no robots.txt: no rules
            return _Robots(None, now, exc.reason)
        return _Robots(_parsed(response.content.decode("utf-8", errors="replace")), now)


def _parsed(text: str) -> urllib.robotparser.RobotFileParser:
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(text.splitlines())
    return parser


def _host_key(url: str) -> str:
    """host:port, the unit of politeness; "" for a URL that has none (the fetcher refuses it with a reason)."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname.lower()}:{parts.port or ''}" if parts.hostname else ""
    except ValueError:  # an invalid IPv6 literal or port
        return ""
