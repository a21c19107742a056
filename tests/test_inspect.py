"""`presswire inspect`: pages and feeds through fetch, extract, normalize and the promotional flag."""

from __future__ import annotations

import json
import pytest

from conftest import ROOT, Presswire, write_config
from fixtures.server import FixtureServer

PAGES = ROOT / "fixtures" / "extract" / "pages"
EXPECTED = ROOT / "fixtures" / "extract" / "expected"
TEASER_TARGET = "https://www.energytechreview.com/2025/05/15/china-pulls-ahead-in-next-generation-batteries/"


def blocks(text: str) -> list[str]:
    return [line.removeprefix("- ") for line in text.splitlines() if line.strip()]


@pytest.fixture
def pw(tmp_path, sqlite_url):
    return Presswire(write_config(tmp_path / "c.toml", sqlite_url))


def test_several_files_as_json_lines(pw, tmp_path):
    files = [PAGES / "target_battery.html", PAGES / "news_tech_chip.html", PAGES / "comments_wp_blog.html"]
    out = pw("inspect", "--json", *map(str, files)).stdout.splitlines()
    assert len(out) == 3
    rows = [json.loads(line) for line in out]
    assert [r["method"] for r in rows] == ["container", "fallback", "fast"]
    assert rows[0]["title"] == "China pulls ahead in next-generation batteries"
    assert blocks(rows[0]["text"]) == blocks((EXPECTED / "target_battery.txt").read_text())
    assert rows[1]["trail"].startswith("fast: 0 chars, empty; fallback: ")
    assert rows[2]["body_html"].startswith("<p>A year ago we closed the bakery") and "Marisol" not in rows[2]["text"]
    assert all(r["promo"]["label"] in ("news", "press_release", "promotional") for r in rows)
    assert not (tmp_path / "presswire.db").exists()  # inspect stores nothing


def test_file_read_as_a_url_resolves_links_and_applies_source_rules(tmp_path, sqlite_url):
    config = write_config(tmp_path / "c.toml", sqlite_url, [("https://circuitry.news/feed", "Circuitry")])
    config.write_text(config.read_text() + "[sources.extract]\nbody_selector = \"div[class^='Story_body']\"\n")
    out = Presswire(config)("inspect", "--json", "--source", "https://circuitry.news/feed",
                            "--url", "https://circuitry.news/2025/10/x", str(PAGES / "news_tech_chip.html")).stdout
    row = json.loads(out)
    assert row["method"] == "selector" and row["url"] == "https://circuitry.news/2025/10/x"
    assert blocks(row["text"]) == blocks((EXPECTED / "news_tech_chip.txt").read_text())


def test_teaser_url_shows_every_step(pw):
    with FixtureServer(None) as wire, FixtureServer(None) as publisher:
        teaser = (PAGES / "ibn_teaser_battery.html").read_text().replace(TEASER_TARGET, publisher.url("/story"))
        wire.route("/bdc/china/", body=teaser, headers={"Content-Type": "text/html"})
        publisher.route("/story", body=(PAGES / "target_battery.html").read_bytes(), headers={"Content-Type": "text/html"})
        report = pw("inspect", wire.url("/bdc/china/")).stdout
    assert f"GET {wire.url('/bdc/china/')}: HTTP 200" in report
    assert f"followed {publisher.url('/story')}" in report
    assert "method container" in report and f"read-more {publisher.url('/story')}: container " in report
    assert "title 'China Races Ahead in Revolutionizing Battery Technology'" in report
    assert "\npromo         " in report and "\nbody          China has pulled ahead" in report


def test_feed_url_inspects_its_entries(pw, server):
    out = pw("inspect", "--json", "--limit", "2", server.url("/bdc/feed.xml")).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert len(rows) == 2
    assert rows[0]["title"].startswith("China Emerges as Global Leader")
    assert rows[0]["method"] == "container" and rows[0]["url"].startswith(server.url("/bdc/china-races-ahead"))


def test_a_feed_without_entries_is_reported_as_a_feed(pw, tmp_path):
    rss, atom = tmp_path / "empty.rss", tmp_path / "empty.atom"
    rss.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet wire</title>'
                   '<link>https://wire.example/</link></channel></rss>')
    atom.write_text('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id>'
                    '<title>Quiet atom</title><updated>2025-01-01T00:00:00Z</updated></feed>')
    report = pw("inspect", str(rss), str(atom)).stdout
    assert report.count("; a feed with 0 entries\n") == 2
    assert "feed          title 'Quiet wire'; no entries to inspect" in report
    assert "\nextract " not in report and "not an HTML page" not in report and "no article text" not in report
    rows = [json.loads(line) for line in pw("inspect", "--json", str(rss), str(atom)).stdout.splitlines()]
    assert [(r["url"], r["feed"]) for r in rows] == [(rss.as_uri(), {"title": "Quiet wire", "entries": 0}),
                                                     (atom.as_uri(), {"title": "Quiet atom", "entries": 0})]


def test_a_url_scheme_is_any_case_and_a_file_url_is_the_file_it_names(pw, server, tmp_path):
    upper = server.url("/bdc/feed.xml").replace("http://", "HTTP://")
    [row] = [json.loads(line) for line in pw("inspect", "--json", "--limit", "1", upper).stdout.splitlines()]
    assert row["fetched"].startswith(f"GET {upper}") and "HTTP 200" in row["fetched"]
    assert row["title"].startswith("China Emerges as Global Leader")
    page = tmp_path / "saved page.html"
    page.write_bytes((PAGES / "target_battery.html").read_bytes())
    for url in (page.as_uri(), page.as_uri().replace("file://", "FILE://localhost")):
        row = json.loads(pw("inspect", "--json", url).stdout)
        assert row["url"] == page.as_uri() and row["title"] == "China pulls ahead in next-generation batteries"
    remote = pw("inspect", "file://files.example/page.html", ok=False)
    assert remote.exit_code == 1 and "cannot read the file: it is on another host (files.example)" in remote.stderr


def test_a_page_and_a_feed_are_read_in_the_charset_their_http_header_gives(pw, empty_server):
    text = "Café “Le Petit” opened today in Lyon; the crème brûlée is a must. "
    filler = "Visitors are welcome every day of the week. " * 8  # few accents: a guess goes wrong
    empty_server.route("/story", body=f"<html><body><p>{text}{filler}</p></body></html>".encode("cp1252"),
                       headers={"Content-Type": "text/html; charset=windows-1252"})
    row = json.loads(pw("inspect", "--json", empty_server.url("/story")).stdout)
    assert row["text"].startswith(text.strip())
    feed = (f"<rss version='2.0'><channel><title>Café</title><item><title>{text.strip()}</title>"
            f"<link>{empty_server.url('/story')}</link></item></channel></rss>").encode("cp1252")
    empty_server.route("/feed", body=feed, headers={"Content-Type": "application/rss+xml; charset=windows-1252"})
    [row] = [json.loads(line) for line in pw("inspect", "--json", empty_server.url("/feed")).stdout.splitlines()]
    assert row["title"] == text.strip() and row["text"].startswith(text.strip())


def test_missing_file_is_a_clear_error(pw, tmp_path):
    result = pw("inspect", str(tmp_path / "nope.html"), ok=False)
    assert result.exit_code == 1 and "cannot read the file" in result.stderr


def test_a_target_that_cannot_be_read_does_not_stop_the_others(pw, tmp_path):
    """Each target is inspected; the ones that could not be read are errors on stderr, and the exit code is
    theirs. (The first error ended the command, and the targets after it were never looked at.)"""
    missing = tmp_path / "nope.html"
    result = pw("inspect", "--json", str(missing), str(PAGES / "target_battery.html"), ok=False)
    assert result.exit_code == 1 and "presswire: error: " in result.stderr and "cannot read the file" in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["title"] for r in rows] == ["China pulls ahead in next-generation batteries"]


def test_unknown_source_for_rules_is_an_error(pw):
    result = pw("inspect", "--source", "https://nowhere.example/feed", str(PAGES / "target_ai.html"), ok=False)
    assert result.exit_code == 3 and "not a source of the config file" in result.stderr


def test_inspect_shows_in_help(pw):
    assert "inspect" in pw("--help").stdout
    assert "--source FEED_URL" in pw("inspect", "--help").stdout
