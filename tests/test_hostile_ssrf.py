"""SSRF, beyond tests/test_netguard.py: odd spellings of internal addresses, and redirects and read-more links
to internal services met during a real `presswire poll`. The "internal service" is a server on 127.0.0.2
that must never see a request; the fixture site on 127.0.0.1 is the one address the tests allow."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from fixtures.server import FixtureServer
from hostile import HTML_TYPE, RSS_TYPE, item, items, poll_event, presswire_for, rss, source_state
from ingest.errors import PermanentFetchError, TransientFetchError
from ingest.fetch import Fetcher
from ingest.polite import PoliteFetcher
from ingest.settings import HttpSettings


@pytest.fixture
def internal():
    with FixtureServer(None, host="127.0.0.2") as srv:
        srv.route("/admin", body="internal secret", headers={"Content-Type": "text/html"})
        yield srv


def _port(server: FixtureServer) -> str:
    return server.base.rsplit(":", 1)[1]


@pytest.mark.parametrize("host,why", [
    ("2130706434", "loopback"), ("0x7f000002", "loopback"), ("127.2", "loopback"), ("0177.0.0.2", "invalid URL"),
    ("[::ffff:127.0.0.2]", "loopback IPv4 inside IPv6"), ("[::1]", "loopback"), ("0.0.0.0", "unspecified"),
    ("0", "unspecified"), ("10.255.255.1", "private"), ("192.168.1.1", "private"), ("169.254.1.1", "link-local"),
    ("[fd00::1]", "private"), ("100.64.0.1", "non-global"), ("[::1", "invalid URL"),
])
def test_odd_spellings_of_internal_addresses_are_refused(internal, server, host, why):
    """Every spelling is resolved first and the address checked; only 127.0.0.1 is allowed here."""
    with Fetcher(HttpSettings(retries=0, allow_networks=("127.0.0.1/32",))) as fetcher, \
            pytest.raises(PermanentFetchError, match=why):
        fetcher.get(f"http://{host}:{_port(internal)}/admin")
    assert internal.hits == [] and server.hits == []


def test_a_feed_redirecting_to_an_internal_service_is_an_error(tmp_path, sqlite_url, empty_server, internal):
    empty_server.route("/feed.xml", status=302, headers={"Location": internal.url("/admin")})
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert "127.0.0.2 is not a public address (loopback)" in poll_event(pw)["error"]
    assert "allow_networks" in source_state(pw)["last_error"]
    assert internal.hits == []


def test_article_and_read_more_redirects_to_internal_services_are_refused(tmp_path, sqlite_url, empty_server,
                                                                          internal):
    lead = "A teaser lead paragraph about the quarterly results, long enough to be a lead of a wire teaser page."
    teaser = f'<html><body><article><p>{lead} <a href="{empty_server.url("/more")}">Read More&gt;&gt;</a></p>' \
             f'</article></body></html>'
    empty_server.route("/hop", status=307, headers={"Location": internal.url("/admin")})
    empty_server.route("/more", status=301, headers={"Location": f"http://2130706434:{_port(internal)}/admin"})
    empty_server.route("/teaser/", body=teaser, headers=HTML_TYPE)
    empty_server.route("/feed.xml", body=rss(item("a", "Redirected", empty_server.url("/hop"), "Feed summary A.")
                                             + item("b", "Teaser", empty_server.url("/teaser/"), "Feed summary B.")),
                       headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    stored = {i["title"]: i for i in items(pw)}
    assert "not a public address (loopback)" in stored["Redirected"]["failure"]
    assert "read-more" in stored["Teaser"]["trail"] and "not a public address" in stored["Teaser"]["trail"]
    assert len(empty_server.hits_for("/more")) == 1 and internal.hits == []


def test_an_article_on_an_internal_address_is_refused_for_good_not_tried_again(tmp_path, sqlite_url, empty_server,
                                                                              internal):
    """robots.txt is asked for first (robots_txt is on), and the guard refuses that request too: the page's host
    is refused, which is no robots.txt "unavailable for now", so the item is not tried again at the next poll."""
    page = internal.url("/admin")
    empty_server.route("/feed.xml", body=rss(item("a", "Inside", page, "Feed summary A.")), headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    poll_event(pw)
    poll_event(pw)
    [stored] = items(pw)
    assert stored["failure"].startswith(f"fetch {page}: refused to connect to 127.0.0.2: 127.0.0.2 is not a "
                                        "public address (loopback)")
    with create_engine(sqlite_url).connect() as db:
        assert db.execute(text("SELECT retry_page, page_attempts FROM items")).one() == (False, 1)
    assert internal.hits == []


def test_a_robots_txt_redirected_to_an_internal_address_is_unavailable_for_now(empty_server, internal):
    """The control: the page's own host is public, only its robots.txt leads inside; RFC 9309's "unreachable"."""
    empty_server.route("/robots.txt", status=302, headers={"Location": internal.url("/admin")})
    empty_server.route("/page", body="<p>A page.</p>", headers=HTML_TYPE)
    with Fetcher(HttpSettings(retries=0, allow_networks=("127.0.0.1/32",))) as fetcher, \
            pytest.raises(TransientFetchError, match="robots.txt unavailable .*not a public address"):
        PoliteFetcher(fetcher, per_host=1, delay=0, robots=True).get(empty_server.url("/page"))
    assert empty_server.hits_for("/page") == [] and internal.hits == []
