"""A host that answers 429 (or 503 with Retry-After) is left alone, by every request of the process, for as
long as it asked: through the real PoliteFetcher and Fetcher against 127.0.0.1 servers (two servers are two
hosts: the unit of politeness is host:port), and through `poll` and `backfill`.

Before, only the request (and the source) that was told to wait did: every other article page and source on
the host asked it again at once."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import datetime

import pytest

from conftest import Presswire, log_events, write_config
from fixtures.server import FixtureServer
from ingest.errors import TransientFetchError
from ingest.fetch import MAX_RETRY_AFTER, Fetcher
from ingest.polite import COOL_DOWN_429, PoliteFetcher
from ingest.settings import HttpSettings

HTTP = HttpSettings(retries=0, allow_networks=("127.0.0.1/32",))
PAGE = {"body": "<p>A page.</p>", "headers": {"Content-Type": "text/html"}}


@pytest.fixture
def hosts():
    """Two hosts serving /page, and a PoliteFetcher over the real Fetcher whose clock moves only when a test
    moves it (`.now[0]`) or it sleeps: its sleeps (but those of no time) are recorded (`.sleeps`), not slept."""
    with ExitStack() as stack, Fetcher(HTTP) as fetcher:
        servers = [stack.enter_context(FixtureServer(None)) for _ in range(2)]
        for server in servers:
            server.route("/page", **PAGE)
        now, sleeps = [1000.0], []

        def sleep(seconds: float) -> None:
            if seconds:
                sleeps.append(seconds)
                now[0] += seconds

        polite = PoliteFetcher(fetcher, per_host=2, delay=0, max_cool_down=86400, sleep=sleep, clock=lambda: now[0])
        polite.now, polite.sleeps = now, sleeps
        yield polite, *servers


def refused(polite: PoliteFetcher, url: str, status: int, headers: dict[str, str], server: FixtureServer) -> None:
    """Have the server's /busy answer `status` with `headers`, and fetch `url` (it, or a redirect to it): a
    transient failure."""
    server.route("/busy", status=status, body="slow down", headers=headers)
    with pytest.raises(TransientFetchError):
        polite.get(url)


def test_a_long_retry_after_fails_the_host_fast_until_it_ends_and_other_hosts_go_on(hosts):
    polite, busy, other = hosts
    refused(polite, busy.url("/busy"), 429, {"Retry-After": "3600"}, busy)
    for page in (True, False):  # article pages and feeds alike
        with pytest.raises(TransientFetchError) as fast:
            polite.get(busy.url("/page"), page=page)
        host = busy.base.removeprefix("http://")
        assert fast.value.reason == (f"host {host} is left alone for 3600s more: "
                                     "it answered HTTP 429 with Retry-After 3600s")
        assert fast.value.retry_after == 3600  # the schedule's floor for the source whose poll this ends
    assert busy.hits_for("/page") == []  # not asked
    assert polite.get(other.url("/page")).status == 200  # another host is not affected
    polite.now[0] += 3600 - MAX_RETRY_AFTER + 1  # a short time left is waited, not failed
    assert polite.get(busy.url("/page")).status == 200
    assert polite.sleeps == [MAX_RETRY_AFTER - 1]
    polite.now[0] += 3600
    polite.get(busy.url("/page"))  # the cool-down is over: no wait
    assert polite.sleeps == [MAX_RETRY_AFTER - 1] and len(busy.hits_for("/page")) == 2


@pytest.mark.parametrize("status, headers, wait", [
    (429, {"Retry-After": "30"}, 30.0),
    (429, {}, COOL_DOWN_429),  # a 429 without Retry-After: a default backoff
    (503, {"Retry-After": "30"}, 30.0),
    (503, {}, None),  # a plain 503 is a transient failure like a 500: the fetcher's retries cover it
    (500, {"Retry-After": "30"}, None),
])
def test_a_short_retry_after_is_waited_by_the_next_request_to_the_host(hosts, status, headers, wait):
    polite, busy, other = hosts
    refused(polite, busy.url("/busy"), status, headers, busy)
    polite.get(other.url("/page"))
    assert polite.sleeps == []
    assert polite.get(busy.url("/page")).status == 200
    assert polite.sleeps == ([wait] if wait else [])


def test_a_hostile_retry_after_is_capped(hosts):
    polite, busy, _other = hosts
    refused(polite, busy.url("/busy"), 429, {"Retry-After": str(365 * 86400)}, busy)
    with pytest.raises(TransientFetchError) as fast:
        polite.get(busy.url("/page"))
    assert fast.value.retry_after == 86400  # max_cool_down ([poll] max_backoff in the CLI)
    polite.now[0] += 86400
    assert polite.get(busy.url("/page")).status == 200 and polite.sleeps == []


def test_the_host_that_answered_is_left_alone_not_the_one_that_redirected_to_it(hosts):
    polite, first, busy = hosts
    first.route("/moved", status=302, headers={"Location": busy.url("/busy")})
    refused(polite, first.url("/moved"), 429, {"Retry-After": "3600"}, busy)
    assert polite.get(first.url("/page")).status == 200
    with pytest.raises(TransientFetchError, match="left alone"):
        polite.get(busy.url("/page"))


def test_a_429_for_robots_txt_leaves_the_host_alone_for_feeds_too(hosts):
    polite, busy, _other = hosts
    busy.route("/robots.txt", status=429, body="slow down", headers={"Retry-After": "3600"})
    robots = PoliteFetcher(polite._fetcher, per_host=2, delay=0, robots=True, clock=lambda: 1000.0)
    with pytest.raises(TransientFetchError, match="unavailable"):
        robots.get(busy.url("/page"))
    with pytest.raises(TransientFetchError, match="left alone"):
        robots.get(busy.url("/feed.xml"), page=False)
    assert busy.hits_for("/page") == busy.hits_for("/feed.xml") == []


# --- through the commands --------------------------------------------------------------------------

def test_a_poll_told_to_back_off_by_a_host_leaves_its_other_feeds_alone(tmp_path, sqlite_url, empty_server):
    """Two feeds of one host, polled at once (per_host = 1: one request at a time to the host, so which feed
    comes first is the only race): the first asked gets 429 and an hour's Retry-After; the other is not
    asked, fails, and is planned an hour away, as the first is."""
    srv = empty_server
    feeds = ["/a.xml", "/b.xml"]
    for feed in feeds:
        srv.route(feed, status=429, body="slow down", headers={"Retry-After": "3600"})
    config = write_config(tmp_path / "c.toml", sqlite_url, [(srv.url(f), f) for f in feeds],
                          extra="[poll]\nconcurrency = 2\n")
    config.write_text(config.read_text().replace("[http]\n", "[http]\nper_host = 1\n"))
    pw = Presswire(config)
    result = pw("poll")
    assert sum(len(srv.hits_for(f)) for f in feeds) == 1
    errors = sorted((e["error"] for e in log_events(result) if e["event"] == "poll"), key=lambda e: "left alone" in e)
    assert errors[0].endswith(": HTTP 429") and "left alone for 3600s more" in errors[1]
    for row in map(json.loads, pw("sources", "list", "--json").stdout.splitlines()):
        assert row["last_status"] == "error" and row["error_count"] == 1
        waited = datetime.fromisoformat(row["next_poll_at"]) - datetime.fromisoformat(row["last_polled_at"])
        assert waited.total_seconds() >= 3590


def test_a_backfill_counts_the_pages_of_a_host_that_asked_to_be_left_alone_as_failed(tmp_path, sqlite_url,
                                                                                    empty_server):
    """Five pages of one host, four at once: the first asked gets 429 with an hour's Retry-After, the others
    are not asked; each is stored failed (retryable), as any transient failure of a page is."""
    srv = empty_server
    paths = [f"/news/{n}" for n in range(5)]
    for path in paths:
        srv.route(path, status=429, body="slow down", headers={"Retry-After": "3600"})
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(srv.url(p) + "\n" for p in paths))
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url,
                                extra="[backfill]\nhost_delay = 0\nper_host = 1\nconcurrency = 4\n"))
    summary = json.loads(pw("backfill", "--urls", str(urls), "--json").stdout.splitlines()[-1])
    assert (summary["stored"], summary["failed"]) == (5, 5)
    assert sum(len(srv.hits_for(p)) for p in paths) == 1
    failures = [json.loads(line)["failure"] for line in pw("items", "list", "--json").stdout.splitlines()]
    assert sum(f.endswith(": HTTP 429") for f in failures) == 1 and sum("left alone" in f for f in failures) == 4

