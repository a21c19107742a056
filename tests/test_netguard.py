"""SSRF guard: feed URLs, article URLs and redirect hops to non-public addresses are refused unless allowed.

The "internal service" in these tests is a second fixture server on 127.0.0.2 (the whole 127/8 is
loopback on Linux) that must never see a request, while the allowed "public" server is on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time

import pytest

from conftest import ALLOW_LOOPBACK, Presswire, log_events, write_config
from fixtures.server import FixtureServer
from ingest.errors import ConfigError, PermanentFetchError, TransientFetchError
from ingest import netguard
from ingest.fetch import Fetcher
from ingest.netguard import AddressPolicy, AddressRefused, address_kind, resolve_allowed
from ingest.settings import HttpSettings

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Inside job</title><link>{link}</link><guid>g1</guid><description>Summary text.</description></item>
</channel></rss>"""


@pytest.fixture
def internal():
    """A server standing for an internal service (127.0.0.2): it must never be reached."""
    with FixtureServer(None, host="127.0.0.2") as srv:
        srv.route("/canary", body="secret", headers={"Content-Type": "text/plain"})
        yield srv


def _fetcher(*allow: str) -> Fetcher:
    return Fetcher(HttpSettings(retries=0, allow_networks=allow, total_timeout=10, read_timeout=5))


@pytest.mark.parametrize("address,kind", [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.0.10", "private"),
    ("169.254.169.254", "link-local"), ("100.64.0.1", "non-global"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"), ("::1", "loopback"), ("fe80::1", "link-local"),
    ("fc00::1", "private"), ("fec0::1", "site-local"), ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback IPv4 inside IPv6"), ("2002:a00:1::", "private IPv4 inside IPv6"),
    ("64:ff9b::a9fe:a9fe", "link-local IPv4 inside IPv6"),
    ("8.8.8.8", None), ("2606:4700::1111", None), ("64:ff9b::808:808", None),
])
def test_address_kinds(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_allow_networks_open_exactly_what_they_name():
    policy = AddressPolicy(["127.0.0.1/32", "169.254.0.0/16"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert "loopback" in policy.refusal(ipaddress.ip_address("127.0.0.2"))
    assert policy.refusal(ipaddress.ip_address("169.254.10.1")) is None
    assert "metadata" in policy.refusal(ipaddress.ip_address("169.254.169.254"))  # a /16 is not enough
    assert AddressPolicy(["169.254.169.254/32"]).refusal(ipaddress.ip_address("169.254.169.254")) is None


def test_metadata_url_is_refused_before_any_connection():
    with _fetcher("169.254.0.0/16") as fetcher, pytest.raises(PermanentFetchError, match="cloud metadata"):
        fetcher.get("http://169.254.169.254/latest/meta-data/")


@pytest.mark.parametrize("address", ["::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "::ffff:100.100.100.200"])
def test_metadata_addresses_inside_ipv6_are_refused_inside_an_allowed_ipv6_network(internal, address):
    """An IPv4-mapped address reaches the IPv4 host (shown on the internal server, 127.0.0.2), so "::/0"
    must not let the metadata service through as ::ffff:169.254.169.254. Checked without connecting."""
    port = internal.base.rsplit(":", 1)[1]
    with _fetcher("::/0") as fetcher:  # the route is real: the mapped form of 127.0.0.2 is 127.0.0.2
        assert fetcher.get(f"http://[::ffff:127.0.0.2]:{port}/canary").content == b"secret"
    with pytest.raises(AddressRefused, match="cloud metadata address"):
        resolve_allowed(address, 80, AddressPolicy(["::/0"]))


def test_ipv6_site_local_addresses_are_refused_before_any_connection():
    """fec0::/10 is global to Python's ipaddress; a name answering fec0::5 must not be connected to."""
    with pytest.raises(AddressRefused, match=r"fec0::5 is not a public address \(site-local\)"):
        resolve_allowed("fec0::5", 80, AddressPolicy())
    assert resolve_allowed("fec0::5", 80, AddressPolicy(["fec0::/10"])) == ["fec0::5"]


def test_feed_on_loopback_is_refused_without_a_request_unless_allowed(tmp_path, sqlite_url, server):
    config = write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/bdc/feed.xml"), "IBN")])
    config.write_text(config.read_text().replace(ALLOW_LOOPBACK, ""))
    result = Presswire(config)("poll")
    error = next(e for e in log_events(result) if e["event"] == "poll")["error"]
    assert "refused to connect to 127.0.0.1: 127.0.0.1 is not a public address (loopback)" in error
    assert "allow_networks" in error
    assert server.hits == []
    config.write_text(config.read_text().replace("[http]\n", "[http]\n" + ALLOW_LOOPBACK))
    assert "4 new items" in Presswire(config)("poll").stderr


def test_host_names_are_resolved_and_checked(server):
    with _fetcher() as fetcher, pytest.raises(PermanentFetchError, match="refused to connect to localhost"):
        fetcher.get(server.url("/bdc/feed.xml").replace("127.0.0.1", "localhost"))
    assert server.hits == []


def test_every_redirect_hop_is_checked(server, internal):
    server.route("/hop", status=302, headers={"Location": internal.url("/canary")})
    with _fetcher("127.0.0.1/32") as fetcher, pytest.raises(PermanentFetchError, match=r"127\.0\.0\.2"):
        fetcher.get(server.url("/hop"))
    assert len(server.hits_for("/hop")) == 1 and internal.hits == []
    with _fetcher("127.0.0.0/8") as fetcher:  # the control: allowed, the same redirect is followed
        assert fetcher.get(server.url("/hop")).content == b"secret"


def test_article_links_to_internal_addresses_are_refused(tmp_path, sqlite_url, server, internal):
    server.route("/feed.xml", body=FEED.format(link=internal.url("/canary")),
                 headers={"Content-Type": "application/rss+xml"})
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/feed.xml"), "F")]))
    pw("poll")
    item = json.loads(pw("items", "list", "--json").stdout.splitlines()[0])
    assert "not a public address (loopback)" in item["failure"] and item["method"] == "feed"
    assert item["body_html"] == "<p>Summary text.</p>"
    assert internal.hits == []


def test_dns_rebinding_cannot_swap_the_address_between_check_and_connect(monkeypatch, server):
    """The first lookup of rebind.test answers the allowed 127.0.0.1, every later one 127.0.0.2: a client
    that checked one lookup and connected by name (a second lookup) would land on the internal server."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.test":
            return real(next(answers, "127.0.0.2"), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = server.base.rsplit(":", 1)[1]
    internal_port_server = FixtureServer(None, port=int(port), host="127.0.0.2")  # same port, internal address
    internal_port_server.route("/bdc/feed.xml", body="internal secret")
    with internal_port_server, _fetcher("127.0.0.1/32") as fetcher:
        response = fetcher.get(f"http://rebind.test:{port}/bdc/feed.xml")
    assert b"<rss" in response.content
    assert internal_port_server.hits == []


@pytest.mark.parametrize("code, error", [(socket.EAI_AGAIN, TransientFetchError),
                                         (socket.EAI_NONAME, PermanentFetchError)])
def test_a_resolver_that_cannot_answer_for_now_is_a_transient_failure(monkeypatch, code, error):
    """A resolver outage (EAI_AGAIN) is tried again later; a name that does not exist is not. (The
    resolver is replaced: no real one can be made to fail on demand here.)"""
    def failing(host, port, *args, **kwargs):
        raise socket.gaierror(code, "resolver says no")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with _fetcher("127.0.0.1/32") as fetcher, pytest.raises(error, match="cannot resolve host 'wire.example'"):
        fetcher.get("http://wire.example/feed.xml")


@pytest.fixture
def stalling_resolver(monkeypatch):
    """Lookups of names ending in ".stall" hang (as at a resolver that never answers) until the returned event
    is set, then answer 127.0.0.1; the resolver is replaced: no real one can be made to stall on demand here."""
    real, answered = socket.getaddrinfo, threading.Event()

    def stalling(host, port, *args, **kwargs):
        if host.endswith(".stall"):
            answered.wait(10)
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stalling)
    yield answered
    answered.set()


def test_a_dns_lookup_that_never_answers_is_given_up_at_the_connect_timeout(stalling_resolver, server):
    port = server.base.rsplit(":", 1)[1]
    with Fetcher(HttpSettings(retries=0, allow_networks=["127.0.0.1/32"], connect_timeout=0.5)) as fetcher:
        started = time.monotonic()
        with pytest.raises(TransientFetchError, match=r"DNS lookup for wire\.stall took over 0\.5s"):
            fetcher.get(f"http://wire.stall:{port}/bdc/feed.xml")
        assert time.monotonic() - started < 3
        stalling_resolver.set()  # the resolver answers again: so does the name
        assert b"<rss" in fetcher.get(f"http://wire.stall:{port}/bdc/feed.xml").content


def test_lookups_stalled_at_the_resolver_hold_at_most_max_lookups_threads(monkeypatch, stalling_resolver):
    monkeypatch.setattr(netguard, "MAX_LOOKUPS", 2)
    monkeypatch.setattr(netguard, "_LOOKUPS", threading.BoundedSemaphore(2))
    policy = AddressPolicy(["127.0.0.1/32"])
    for name in ("a.stall", "b.stall", "c.stall"):
        with pytest.raises(TimeoutError, match=f"DNS lookup for {name} took over 0.2s"):
            resolve_allowed(name, 80, policy, timeout=0.2)
    lookups = [t for t in threading.enumerate() if t.name.startswith("presswire-dns")]
    assert sorted(t.name for t in lookups) == ["presswire-dns a.stall", "presswire-dns b.stall"]  # c found none
    with pytest.raises(TimeoutError, match="all 2 lookup threads were waiting for the resolver"):
        resolve_allowed("localhost", 80, policy, timeout=0.2)
    stalling_resolver.set()
    for thread in lookups:
        thread.join(5)
    assert resolve_allowed("c.stall", 80, policy, timeout=5) == ["127.0.0.1"]


def test_bad_allow_networks_is_a_config_error(tmp_path, sqlite_url):
    config = write_config(tmp_path / "c.toml", sqlite_url, [("http://127.0.0.1:9/feed", "x")])
    config.write_text(config.read_text().replace('["127.0.0.1/32"]', '["127.0.0.1/33"]'))
    result = Presswire(config)("poll", ok=False)
    assert result.exit_code == ConfigError.exit_code
    assert "allow_networks: '127.0.0.1/33' is not an IP network" in result.stderr
