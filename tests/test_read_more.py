"""End to end on 127.0.0.1: a wire's teaser page is followed once to the full article on another host,
through the same fetcher (limits, redirects, retries); per-source rules from the config file apply."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, Presswire, write_config
from fixtures.server import FixtureServer

PAGES = ROOT / "fixtures" / "extract" / "pages"
EXPECTED = ROOT / "fixtures" / "extract" / "expected"
TEASER_TARGET = "https://www.energytechreview.com/2025/05/15/china-pulls-ahead-in-next-generation-batteries/"


def feed(base: str, link: str, summary: str = "<p>China leads the race.</p>") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>BDC</title><link>{base}/</link><description>d</description>
<item><title>China Races Ahead in Revolutionizing Battery Technology</title><link>{link}</link>
<guid isPermaLink="false">bdc-14245</guid><pubDate>Thu, 15 May 2025 15:55:19 +0000</pubDate>
<description><![CDATA[{summary}]]></description></item>
</channel></rss>"""


@pytest.fixture
def wire():
    with FixtureServer(None) as srv:
        yield srv


@pytest.fixture
def publisher():
    with FixtureServer(None) as srv:
        yield srv


def _poll(tmp_path, db_url, wire, extract_keys: str = "", processes: int = 0) -> list[dict]:
    config = write_config(tmp_path / "c.toml", db_url, [(wire.url("/feed.xml"), "IBN")])
    config.write_text(config.read_text().replace("[extract]\n", f"[extract]\n{extract_keys}")
                      .replace("processes = 0", f"processes = {processes}"))
    pw = Presswire(config)
    pw("poll")
    return [json.loads(line) for line in pw("items", "list", "--json").stdout.splitlines()]


@pytest.mark.parametrize("processes", [0, 1], ids=["inline", "pool"])
def test_teaser_page_is_followed_to_the_full_article(tmp_path, db_url, wire, publisher, processes):
    """Through the pool, the worker hands the teaser back (ingest.assemble.page_item) to be followed here."""
    teaser = (PAGES / "ibn_teaser_battery.html").read_text().replace(TEASER_TARGET, publisher.url("/story/"))
    wire.route("/feed.xml", body=feed(wire.base, wire.url("/bdc/china/")), headers={"Content-Type": "application/rss+xml"})
    wire.route("/bdc/china/", body=teaser, headers={"Content-Type": "text/html"})
    publisher.route("/story/", status=301, headers={"Location": "/2025/china-batteries/"})
    publisher.route("/2025/china-batteries/", body=(PAGES / "target_battery.html").read_bytes(),
                    headers={"Content-Type": "text/html"})
    (item,) = _poll(tmp_path, db_url, wire, processes=processes)
    assert item["source_link"] == wire.url("/bdc/china/")
    assert item["read_more_url"] == publisher.url("/2025/china-batteries/")
    assert item["method"] == "container" and item["failure"] is None
    assert item["body_html"].startswith("<p>China has pulled ahead of its rivals")
    assert "<h2>What it means for rivals</h2>" in item["body_html"]
    assert "BillionDollarClub" not in item["body_html"]  # the teaser's About block is gone
    assert f"read-more {publisher.url('/2025/china-batteries/')}: container " in item["trail"]
    assert len(publisher.hits_for("/story/")) == 1  # followed once
    assert "presswire" in publisher.hits_for("/2025/china-batteries/")[0]["user-agent"]


@pytest.mark.parametrize("processes", [0, 1], ids=["inline", "pool"])
def test_backfill_follows_a_teaser_page_too(tmp_path, db_url, wire, publisher, processes):
    """Backfill's threads do not wait for the workers (ingest.backfill._Run._build): the teaser the worker hands
    back is followed in a pool thread, and the item is the one a poll stores. (In a subprocess with a timeout:
    followed in the thread the workers' answer arrives in, it waited for the workers for ever.)"""
    teaser = (PAGES / "ibn_teaser_battery.html").read_text().replace(TEASER_TARGET, publisher.url("/story/"))
    rss = {"Content-Type": "application/rss+xml"}
    wire.route("/feed.xml", body=feed(wire.base, wire.url("/bdc/china/")), headers=rss)
    wire.route("/bdc/china/", body=teaser, headers={"Content-Type": "text/html"})
    publisher.route("/story/", body=(PAGES / "target_battery.html").read_bytes(), headers={"Content-Type": "text/html"})
    config = write_config(tmp_path / "c.toml", db_url, [])
    config.write_text(config.read_text().replace("processes = 0", f"processes = {processes}"))
    done = subprocess.run([sys.executable, "-m", "ingest", "--config", str(config), "backfill", "--feed",
                           wire.url("/feed.xml"), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["stored"] == 1, done.stderr[-2000:]
    (item,) = [json.loads(line) for line in Presswire(config)("items", "list", "--json").stdout.splitlines()]
    assert item["read_more_url"] == publisher.url("/story/") and item["failure"] is None
    assert item["body_html"].startswith("<p>China has pulled ahead of its rivals")
    assert "BillionDollarClub" not in item["body_html"]
    assert len(publisher.hits_for("/story/")) == 1


def test_read_more_link_in_the_feed_item_is_followed_for_a_short_page(tmp_path, sqlite_url, wire, publisher):
    short_page = "<html><body><article><p>" + "A short teaser of the release. " * 4 + "</p></article></body></html>"
    summary = f'<p>Lead.</p><p><a href="{publisher.url("/release")}">Read the full release</a></p>'
    wire.route("/feed.xml", body=feed(wire.base, wire.url("/t/"), summary), headers={"Content-Type": "application/rss+xml"})
    wire.route("/t/", body=short_page, headers={"Content-Type": "text/html"})
    publisher.route("/release", body=(PAGES / "target_mining.html").read_bytes(), headers={"Content-Type": "text/html"})
    (item,) = _poll(tmp_path, sqlite_url, wire)
    assert item["read_more_url"] == publisher.url("/release")
    assert "FL-25-004 intersected 38.2 metres" in item["body_html"]


def test_failed_read_more_keeps_the_teaser_and_says_why(tmp_path, sqlite_url, wire, publisher):
    teaser = (PAGES / "ibn_teaser_battery.html").read_text().replace(TEASER_TARGET, publisher.url("/gone"))
    wire.route("/feed.xml", body=feed(wire.base, wire.url("/bdc/china/")), headers={"Content-Type": "application/rss+xml"})
    wire.route("/bdc/china/", body=teaser, headers={"Content-Type": "text/html"})
    publisher.route("/gone", status=404)
    (item,) = _poll(tmp_path, sqlite_url, wire)
    assert item["read_more_url"] is None and item["method"] == "container"
    assert item["body_html"].startswith("<p>China has pulled ahead")  # the teaser's lead
    assert f"read-more {publisher.url('/gone')}: not fetched (HTTP 404)" in item["trail"]


def test_following_can_be_turned_off(tmp_path, sqlite_url, wire, publisher):
    teaser = (PAGES / "ibn_teaser_battery.html").read_text().replace(TEASER_TARGET, publisher.url("/story/"))
    wire.route("/feed.xml", body=feed(wire.base, wire.url("/bdc/china/")), headers={"Content-Type": "application/rss+xml"})
    wire.route("/bdc/china/", body=teaser, headers={"Content-Type": "text/html"})
    (item,) = _poll(tmp_path, sqlite_url, wire, extract_keys="follow_read_more = false\n")
    assert item["read_more_url"] is None and publisher.hits_for("/story/") == []


def test_source_rules_from_the_config_file_apply_to_its_pages(tmp_path, sqlite_url, wire):
    wire.route("/feed.xml", body=feed(wire.base, wire.url("/chip")), headers={"Content-Type": "application/rss+xml"})
    wire.route("/chip", body=(PAGES / "news_tech_chip.html").read_bytes(), headers={"Content-Type": "text/html"})
    rules = "[sources.extract]\nbody_selector = \"div[class^='Story_body']\"\ndrop_selectors = [\"//div[contains(@class, 'Pullquote')]\"]\n"
    config = write_config(tmp_path / "c.toml", sqlite_url, [(wire.url("/feed.xml"), "Circuitry")])
    config.write_text(config.read_text() + rules)
    pw = Presswire(config)
    pw("poll")
    (item,) = [json.loads(line) for line in pw("items", "list", "--json").stdout.splitlines()]
    assert item["method"] == "selector"
    assert "Lumina Fabric, a two-year-old startup" in item["body_html"]
    assert "Every watt we save" not in item["body_html"]  # dropped by the rule
    assert "HBM shortage" not in item["body_html"]  # outside the body selector


def test_migration_0003_adds_the_trail_and_read_more_columns_to_old_items(db_url):
    from datetime import datetime, timezone

    from sqlalchemy import inspect, text

    from store import db, repository
    engine = db.make_engine(db_url)
    now = datetime(2025, 5, 15, tzinfo=timezone.utc)
    try:
        db.upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sources (id, url, name, status, created_at, error_count) "
                              "VALUES (1, 'https://a.example/feed', 'A', 'active', :now, 0)"), {"now": now})
            conn.execute(text("INSERT INTO feed_entries (id, source_id, guid, title, summary_html, content_html, "
                              "author, first_seen_at) VALUES (1, 1, 'g', 't', '', '', '', :now)"), {"now": now})
            conn.execute(text(
                "INSERT INTO items (id, feed_entry_id, source_id, title, date, draft, summary, description, "
                "source_link, enclosure, url, qrcode, body_html, body_text, extraction_method, page_attempts, "
                "retry_page, created_at, updated_at) VALUES (1, 1, 1, 'Old', :now, false, 's', 'd', '', '', "
                "'2025-05-15-old', '', '<p>b</p>', 'b', 'trafilatura', 1, false, :now, :now)"), {"now": now})
        db.upgrade(engine, "head")
        with db.session_factory(engine).begin() as s:
            old = repository.get_item(s, 1)
        assert old.trail == "" and old.read_more_url is None and old.method == "trafilatura"
        db.downgrade(engine, "0002")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("items")}
        assert "read_more_url" not in columns and "extraction_trail" not in columns and "title" in columns
    finally:
        engine.dispose()


def test_read_more_links_obey_the_fetchers_address_and_size_rules(tmp_path, sqlite_url, wire, publisher):
    """The link is fetched like any page: an internal address is refused before connecting, and a page past
    [http] max_bytes is refused. Either way the teaser stays, and the trail says why."""
    with FixtureServer(None, host="127.0.0.2") as internal:  # loopback, but not in allow_networks
        internal.route("/story/", body=(PAGES / "target_battery.html").read_bytes(), headers={"Content-Type": "text/html"})
        teaser = (PAGES / "ibn_teaser_battery.html").read_text().replace(TEASER_TARGET, internal.url("/story/"))
        wire.route("/feed.xml", body=feed(wire.base, wire.url("/bdc/china/")),
                   headers={"Content-Type": "application/rss+xml"})
        wire.route("/bdc/china/", body=teaser, headers={"Content-Type": "text/html"})
        (item,) = _poll(tmp_path, sqlite_url, wire)
        assert internal.hits == []
    assert item["read_more_url"] is None and item["body_html"].startswith("<p>China has pulled ahead")
    assert "refused to connect to 127.0.0.2" in item["trail"]

    padded = "<!--" + "x" * 30_000 + "-->" + (PAGES / "target_battery.html").read_text()
    publisher.route("/story/", body=padded, headers={"Content-Type": "text/html"})
    wire.route("/bdc/china/", body=(PAGES / "ibn_teaser_battery.html").read_text().replace(
        TEASER_TARGET, publisher.url("/story/")), headers={"Content-Type": "text/html"})
    (tmp_path / "big").mkdir()
    config = write_config(tmp_path / "big" / "c.toml", sqlite_url.replace("presswire.db", "big.db"),
                          [(wire.url("/feed.xml"), "IBN")])
    config.write_text(config.read_text().replace("[http]\n", "[http]\nmax_bytes = 20000\n"))
    pw = Presswire(config)
    pw("poll")
    (cut,) = [json.loads(line) for line in pw("items", "list", "--json").stdout.splitlines()]
    assert len(publisher.hits_for("/story/")) == 1
    assert cut["read_more_url"] is None and cut["body_html"].startswith("<p>China has pulled ahead")
    assert "not fetched (response too large: Content-Length 37333 > max_bytes 20000)" in cut["trail"]
