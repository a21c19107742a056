"""Operations: Prometheus metrics and a health check while `presswire run` is up.

    /metrics   presswire_polls_total{status}, presswire_items_stored_total, presswire_duplicates_total,
               presswire_promotional_total, presswire_fetch_seconds{kind,outcome} (histogram; kind: feed,
               page, robots),
               presswire_sources_in_backoff (read from the database when scraped; NaN when it cannot tell)
    /healthz   200 {"status": "ok", ...} while the dispatcher ticks; 503 when it has not for 3 periods,
               or while the service is stopping

Each service has its own registry (no module-level state); the server is a small threaded stdlib HTTP
server on [service] metrics_host:metrics_port (loopback by default).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ingest.errors import FetchError
from ingest.model import PollResult, Response
from ingest.settings import ServiceSettings

FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Seconds a client may stay silent on its connection: each connection has a thread, and one whose client
# never sends its request (or vanished without closing: a scraper's host gone, a network cut) kept its
# thread and socket for as long as the service ran.
REQUEST_TIMEOUT = 30.0


class Metrics:
    def __init__(self, backoff_count: Callable[[], int] | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("presswire_polls", "Polls of sources, by outcome", ["status"], registry=r)
        self.stored = Counter("presswire_items_stored", "New items stored", registry=r)
        self.duplicates = Counter("presswire_duplicates", "Feed entries already stored", registry=r)
        self.promotional = Counter("presswire_promotional", "New items labeled promotional", registry=r)
        self.fetch = Histogram("presswire_fetch_seconds", "HTTP fetch time, retries included",
                               ["kind", "outcome"], buckets=FETCH_BUCKETS, registry=r)
        self.backoff = Gauge("presswire_sources_in_backoff", "Active sources whose last polls failed",
                             registry=r)
        if backoff_count is not None:
            self.backoff.set_function(backoff_count)

    def poll(self, result: PollResult) -> None:
        self.polls.labels(result.status).inc()
        self.stored.inc(result.new)
        self.duplicates.inc(result.duplicate)
        self.promotional.inc(result.promotional)

    def fetched(self, kind: str, seconds: float, outcome: str) -> None:
        self.fetch.labels(kind, outcome).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, settings: ServiceSettings, *, health: Callable[[], tuple[bool, dict]], log) -> _Server | None:
        """Start /metrics and /healthz on a thread; None (and a warning) when off or the port is taken."""
        if settings.metrics_port < 0:
            return None
        try:
            httpd = ThreadingHTTPServer((settings.metrics_host, settings.metrics_port), _handler(self, health))
        except OSError as exc:
            log.warning("metrics server not started", host=settings.metrics_host, port=settings.metrics_port,
                        error=str(exc))
            return None
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True)
        thread.start()
        host, port = httpd.server_address[:2]
        return _Server(httpd, f"http://{host}:{port}")


@dataclass
class _Server:
    httpd: ThreadingHTTPServer
    url: str

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(metrics: Metrics, health: Callable[[], tuple[bool, dict]]):
    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT  # on each read and write of the connection (socketserver.StreamRequestHandler)

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.exposition())
            elif path == "/healthz":
                ok, detail = health()
                body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}).encode()
                self._send(200 if ok else 503, "application/json", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    return Handler


class TimedFetcher:
    """A fetcher whose requests are timed into Metrics (feed or page, ok or the failure's kind). `kind`
    names what all its requests are instead: "robots" for ingest.polite's robots.txt requests, which are
    no feeds (a host without robots.txt counted a failed feed fetch)."""

    def __init__(self, fetcher, metrics: Metrics, kind: str | None = None):
        self._fetcher, self._metrics, self._kind = fetcher, metrics, kind

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, accept: str = "*/*",
            page: bool = True, max_bytes: int | None = None) -> Response:
        started = time.monotonic()
        outcome = "ok"
        try:
            return self._fetcher.get(url, headers, accept=accept, page=page, max_bytes=max_bytes)
        except FetchError as exc:
            outcome = type(exc).__name__.removesuffix("FetchError").lower() or "error"
            raise
        finally:
            self._metrics.fetched(self._kind or ("page" if page else "feed"), time.monotonic() - started, outcome)
