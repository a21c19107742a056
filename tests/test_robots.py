"""robots.txt as RFC 9309 reads it, through the real PoliteFetcher and Fetcher against a 127.0.0.1 server:
the longest match wins (Allow on a tie), `*` and `$` wildcards, a UTF-8 byte order mark, the group for our
product token, Crawl-delay, and refusals that name the robots.txt they come from.

Every test here but the last two fails with urllib.robotparser, which ingest/polite.py used before; the
next to last guards what did not change (feeds exempt, 4xx = no rules, one robots.txt fetch per origin), the
last that a long-running service does not keep every host's robots.txt for good."""

from __future__ import annotations

from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest

from fixtures.server import FixtureServer
from ingest.errors import PermanentFetchError, TransientFetchError
from ingest.fetch import Fetcher
from ingest.model import Response
from ingest.polite import MAX_CRAWL_DELAY, SWEEP_EVERY, PoliteFetcher
from ingest.settings import HttpSettings

HTTP = HttpSettings(retries=0, allow_networks=("127.0.0.1/32",))  # user agent "presswire/0.1"


@pytest.fixture
def site(empty_server):
    """site(robots, status) -> a new PoliteFetcher (robots.txt obeyed, no host delay, a frozen clock) for the
    server, which now answers /robots.txt with `status` and `robots`; its sleeps are recorded in `.sleeps`
    (none is slept)."""
    fetchers = []

    def make(robots: bytes | str, status: int = 200) -> PoliteFetcher:
        empty_server.route("/robots.txt", status=status, body=robots, headers={"Content-Type": "text/plain"})
        fetcher = Fetcher(HTTP)
        fetchers.append(fetcher)
        sleeps: list[float] = []
        polite = PoliteFetcher(fetcher, per_host=2, delay=0, robots=True, user_agent=HTTP.user_agent,
                               sleep=sleeps.append, clock=lambda: 1000.0)
        polite.sleeps = sleeps
        return polite

    make.server = empty_server
    yield make
    for fetcher in fetchers:
        fetcher.close()


def outcome(polite: PoliteFetcher, server, target: str) -> str:
    """What robots.txt made of `target` (a path, maybe with a query): "fetched" or "refused"."""
    path = urlsplit(target).path
    server.route(path, body="<html><body><p>A page.</p></body></html>", headers={"Content-Type": "text/html"})
    before = len(server.hits_for(path))
    try:
        polite.get(server.url(target))
    except PermanentFetchError as exc:
        assert "disallowed by" in exc.reason
        assert len(server.hits_for(path)) == before  # refused before any request for the page
        return "refused"
    assert len(server.hits_for(path)) == before + 1
    return "fetched"


def outcomes(site, robots: bytes | str, targets: list[str]) -> dict[str, str]:
    polite = site(robots)
    return {target: outcome(polite, site.server, target) for target in targets}


def test_a_longer_allow_opens_a_path_under_disallow_everything(site):  # A
    assert outcomes(site, "User-agent: *\nDisallow: /\nAllow: /news/\n", ["/news/a", "/about", "/news"]) == {
        "/news/a": "fetched", "/about": "refused", "/news": "refused"}


def test_the_longest_match_wins_whatever_the_order_of_the_rules(site):  # F
    robots = "User-agent: *\nDisallow: /news\nAllow: /news/public\n"
    assert outcomes(site, robots, ["/news/public/1", "/news/x", "/newsletter"]) == {
        "/news/public/1": "fetched", "/news/x": "refused", "/newsletter": "refused"}


def test_allow_wins_a_tie_between_rules_of_equal_length(site):
    assert outcomes(site, "User-agent: *\nDisallow: /page\nAllow: /page\n", ["/page"]) == {"/page": "fetched"}


def test_a_utf8_byte_order_mark_does_not_hide_the_first_line(site):  # B, and C without the mark
    rules = b"User-agent: *\nDisallow: /private/\n"
    for robots in (b"\xef\xbb\xbf" + rules, rules):
        assert outcomes(site, robots, ["/private/a", "/public"]) == {
            "/private/a": "refused", "/public": "fetched"}, robots


def test_a_dollar_anchors_a_pattern_to_the_end_of_the_url(site):  # D
    targets = ["/files/r.pdf", "/r.pdf", "/files/r.pdf?dl=1", "/files/r.pdfx", "/files/r.html"]
    assert outcomes(site, "User-agent: *\nDisallow: /*.pdf$\n", targets) == {
        "/files/r.pdf": "refused", "/r.pdf": "refused",
        "/files/r.pdf?dl=1": "fetched", "/files/r.pdfx": "fetched", "/files/r.html": "fetched"}


def test_a_star_matches_any_run_of_characters_query_included(site):  # E
    targets = ["/a?print=1", "/news/b?page=2&print=yes", "/a", "/a?page=2"]
    assert outcomes(site, "User-agent: *\nDisallow: /*?print=\nDisallow: /*&print=\n", targets) == {
        "/a?print=1": "refused", "/news/b?page=2&print=yes": "refused",
        "/a": "fetched", "/a?page=2": "fetched"}


def test_only_the_group_named_by_our_product_token_applies(site):
    # "wire" is another crawler's name, even though "presswire" contains it: its group is not ours
    robots = "User-agent: wire\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n"
    assert outcomes(site, robots, ["/news", "/private/a"]) == {"/news": "fetched", "/private/a": "refused"}


def test_our_groups_are_merged_matched_case_insensitively_and_replace_the_star_group(site):
    robots = ("User-agent: otherbot\nUser-agent: PressWire\nDisallow: /a/\n\n"
              "User-agent: *\nDisallow: /b/\n\n"
              "User-agent: presswire\nDisallow: /c/\n")
    assert outcomes(site, robots, ["/a/1", "/b/1", "/c/1", "/d/1"]) == {
        "/a/1": "refused", "/b/1": "fetched", "/c/1": "refused", "/d/1": "fetched"}


def test_crawl_delay_of_our_group_spaces_article_pages_and_is_capped(site):
    polite = site("User-agent: *\nCrawl-delay: 10\n\nUser-agent: presswire\nCrawl-delay: 1.5\n")
    assert [outcome(polite, site.server, p) for p in ("/p/1", "/p/2", "/p/3")] == ["fetched"] * 3
    assert polite.sleeps == [1.5, 3.0]  # the (frozen) clock: each start reserved 1.5 s after the last, none before
    polite = site("User-agent: *\nCrawl-delay: 3600\n")
    polite.get(site.server.url("/p/1"))
    polite.get(site.server.url("/p/2"))
    assert polite.sleeps == [MAX_CRAWL_DELAY]


def test_refusals_name_the_robots_txt_they_come_from(site):
    robots_url = site.server.url("/robots.txt")
    with pytest.raises(PermanentFetchError) as refused:
        site("User-agent: *\nDisallow: /\n").get(site.server.url("/x"))
    assert refused.value.reason == f"disallowed by {robots_url} for user agent presswire"
    with pytest.raises(TransientFetchError) as unavailable:
        site("down", status=503).get(site.server.url("/x"))
    assert unavailable.value.reason.startswith(f"{robots_url} unavailable (")

    class NoRobots:  # a URL without a port: no "host:" key in the message (nothing leaves the process)
        def get(self, url, headers=None, *, accept="*/*", page=True):
            if url.endswith("/robots.txt"):
                return Response(url=url, final_url=url, status=200, content=b"User-agent: *\nDisallow: /\n",
                                headers={}, elapsed_ms=0)
            raise AssertionError(f"{url} was fetched")

    with pytest.raises(PermanentFetchError) as refused:
        PoliteFetcher(NoRobots(), 2, 0, robots=True, sleep=lambda _s: None).get("https://User@Ex.com/a")
    assert refused.value.reason == "disallowed by https://ex.com/robots.txt for user agent presswire"


def test_feeds_are_exempt_and_a_missing_robots_txt_allows_everything(site):
    polite = site("User-agent: *\nDisallow: /\n")
    site.server.route("/feed.xml", body="<rss/>", headers={"Content-Type": "application/rss+xml"})
    assert polite.get(site.server.url("/feed.xml"), page=False).status == 200
    assert outcome(polite, site.server, "/page") == "refused"
    assert len(site.server.hits_for("/robots.txt")) == 1  # once per origin, then cached
    polite = site("not here", status=404)
    assert outcome(polite, site.server, "/page") == "fetched"


def test_what_is_kept_per_host_is_forgotten_once_expired_not_kept_for_every_host_ever_seen():
    """Pages on three hosts, then, past robots_cache and a sweep, a page on a fourth: only the fourth
    host's robots.txt and start time are kept (the service kept each host's parsed robots.txt, tens of kB
    with a real one, for as long as it ran), and a host's robots.txt is read again when it is asked again."""
    now = [1000.0]
    with ExitStack() as stack, Fetcher(HTTP) as fetcher:
        hosts = [stack.enter_context(FixtureServer(None)) for _ in range(4)]
        for host in hosts:
            host.route("/robots.txt", body="User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"})
            host.route("/page", body="<p>A page.</p>", headers={"Content-Type": "text/html"})
        polite = PoliteFetcher(fetcher, per_host=2, delay=5, robots=True, robots_cache=60,
                               sleep=lambda _s: None, clock=lambda: now[0])
        for host in hosts[:3]:
            polite.get(host.url("/page"))
        now[0] += max(60, SWEEP_EVERY) + 1
        polite.get(hosts[3].url("/page"))
        assert list(polite._rules) == [hosts[3].url("/robots.txt")]
        assert list(polite._rules_locks) == [hosts[3].url("/robots.txt")]
        assert len(polite._next_start) == 1 and not polite._slots
        polite.get(hosts[0].url("/page"))
        assert len(hosts[0].hits_for("/robots.txt")) == 2 and len(hosts[0].hits_for("/page")) == 2
