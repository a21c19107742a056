"""Sitemaps, OPML, WordPress paging, date windows, plain-text headings and per-host politeness: the parts
of backfill that need no server."""

from __future__ import annotations

import gzip
import threading
import time
from datetime import datetime, timezone

import pytest

from ingest.polite import PoliteFetcher
from ingest.discover import (Window, parse_opml, parse_sitemap, unzip, url_lines, w3c_date, wordpress_page,
                             wordpress_page_number)
from ingest.errors import SourceError
from ingest.importer import is_heading, text_blocks

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def test_sitemap_entries_take_their_own_loc_and_the_news_block():
    xml = (f'<?xml version="1.0"?><urlset {NS} xmlns:image="http://www.google.com/schemas/sitemap-image/1.1" '
           'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
           "<url><image:image><image:loc>https://x/img.png</image:loc><image:title>Img</image:title></image:image>"
           "<loc> https://x/a </loc><lastmod>2025-04-02</lastmod>"
           "<news:news><news:publication><news:name>W</news:name></news:publication>"
           "<news:publication_date>2025-04-01T08:30:00+02:00</news:publication_date>"
           "<news:title>A  title</news:title></news:news></url>"
           "<url><lastmod>2025-04-02</lastmod></url>"  # no loc: skipped
           "<url><loc>https://x/b</loc></url></urlset>")
    entries = list(parse_sitemap(xml.encode(), "s"))
    assert [(e.kind, e.loc, e.news_title) for e in entries] == [("url", "https://x/a", "A title"), ("url", "https://x/b", "")]
    assert entries[0].news_date == datetime(2025, 4, 1, 6, 30, tzinfo=timezone.utc)
    assert entries[0].lastmod == datetime(2025, 4, 2, tzinfo=timezone.utc)
    assert entries[0].date == entries[0].news_date and entries[1].date is None


def test_sitemap_index_gzip_and_what_is_not_a_sitemap():
    index = f'<sitemapindex {NS}><sitemap><loc>https://x/s1.xml</loc><lastmod>2025</lastmod></sitemap></sitemapindex>'
    [child] = parse_sitemap(gzip.compress(index.encode()), "i")
    assert (child.kind, child.loc, child.lastmod) == ("sitemap", "https://x/s1.xml", datetime(2025, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(SourceError, match="not a sitemap"):
        list(parse_sitemap(b"<html><body>hi</body></html>", "h"))
    with pytest.raises(SourceError, match="not well-formed"):
        list(parse_sitemap(f"<urlset {NS}><url><loc>https://x/a</loc></url>".encode(), "cut"))
    with pytest.raises(SourceError, match="broken gzip"):
        unzip(b"\x1f\x8b\x08garbage", "g")


def test_sitemap_entities_are_not_expanded_and_nothing_is_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = (f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file://{secret}">'
           f'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
           f"<urlset {NS}><url><loc>https://x/&x;</loc></url><url><loc>https://x/&b;</loc></url></urlset>")
    locs = [e.loc for e in parse_sitemap(xml.encode(), "evil")]
    assert all("TOP-SECRET" not in loc and "aaaaaaaaaa" not in loc for loc in locs)


def test_w3c_dates():
    assert w3c_date("2025-05-15T15:55:19Z") == datetime(2025, 5, 15, 15, 55, 19, tzinfo=timezone.utc)
    assert w3c_date("2025-05") == datetime(2025, 5, 1, tzinfo=timezone.utc)
    assert w3c_date("yesterday") is None and w3c_date("") is None
    assert w3c_date("9999-12-31T23:00:00-05:00") is None and w3c_date("0001-01-01T00:00:00+01:00") is None
    assert w3c_date("0001-01-01T00:00:00Z") is None and w3c_date("9999-12-31") is None  # the pipeline adds days


def test_opml_feeds_at_any_depth_once_each():
    opml = (b'<?xml version="1.0"?><opml version="2.0"><head/><body>'
            b'<outline text="A" xmlUrl="https://a/feed"/><outline text="Group"><outline title="B" text="b" '
            b'xmlUrl="https://b/feed"/><outline text="A again" xmlUrl="https://a/feed"/>'
            b'<outline text="not http" xmlUrl="ftp://c/feed"/></outline></body></opml>')
    assert [(f.url, f.title) for f in parse_opml(opml, "o")] == [("https://a/feed", "A"), ("https://b/feed", "B")]
    with pytest.raises(SourceError, match="not an OPML"):
        parse_opml(b"<rss/>", "o")


def test_wordpress_pages_keep_other_parameters():
    assert wordpress_page("https://w/feed/", 2) == "https://w/feed/?paged=2"
    assert wordpress_page("https://w/?feed=rss2&paged=2", 3) == "https://w/?feed=rss2&paged=3"
    assert wordpress_page_number("https://w/?feed=rss2&paged=7") == 7
    assert wordpress_page_number("https://w/feed/") == 1


def test_window_dates_and_patterns():
    w = Window(since=datetime(2025, 4, 2, tzinfo=timezone.utc), until=datetime(2025, 4, 5, tzinfo=timezone.utc),
               include=(r"/news/",), exclude=(r"/news/video/",))
    day = lambda d: datetime(2025, 4, d, tzinfo=timezone.utc)  # noqa: E731
    assert [w.date_ok(day(d)) for d in (1, 2, 4, 5)] == [False, True, True, False]
    assert w.date_ok(None)  # undated: kept
    assert w.url_ok("https://x/news/a") and not w.url_ok("https://x/blog/a") and not w.url_ok("https://x/news/video/a")


def test_url_lines():
    assert list(url_lines(["# c\n", "\n", " https://x/a \n", "mailto:x@y\n", "http://x/b"])) == ["https://x/a", "http://x/b"]


def test_plain_text_headings():
    assert is_heading("Technological Advancements and Market Position")
    assert not is_heading("The company announced results.")
    assert not is_heading("One two three four five six seven eight nine ten eleven twelve thirteen")
    assert text_blocks(["Intro.", "A Heading", "Body.", "Trailing short line"]) == [
        ("p", "Intro."), ("h2", "A Heading"), ("p", "Body."), ("p", "Trailing short line")]


class _SlowFetcher:
    """Records how many requests run at once per host."""

    def __init__(self):
        self.lock, self.now, self.peak, self.starts = threading.Lock(), {}, {}, []

    def get(self, url, headers=None, *, accept="*/*", page=True, max_bytes=None):
        host = url.split("/")[2]
        with self.lock:
            self.now[host] = self.now.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.now[host])
            self.starts.append((host, time.monotonic()))
        time.sleep(0.03)
        with self.lock:
            self.now[host] -= 1
        return url


def test_polite_fetcher_limits_each_host_and_spaces_its_requests():
    inner = _SlowFetcher()
    polite = PoliteFetcher(inner, per_host=2, delay=0.02)
    urls = [f"http://{h}/{i}" for i in range(6) for h in ("a", "b")]
    threads = [threading.Thread(target=polite.get, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inner.peak == {"a": 2, "b": 2}
    starts = sorted(t for h, t in inner.starts if h == "a")
    # starts are reserved 0.02s apart; a thread waking late shifts one start, so check the span
    assert starts[-1] - starts[0] >= 5 * 0.02 * 0.75


def test_polite_fetcher_sleeps_only_for_a_wait_it_has():
    """No host delay: no sleep at all (time.sleep(0) would still be a syscall and hand the GIL to another
    thread, on every page of a backfill). With one, every request after the first sleeps its turn."""
    for delay, slept in ((0, []), (5, [5.0, 10.0])):
        sleeps: list[float] = []
        polite = PoliteFetcher(_SlowFetcher(), per_host=2, delay=delay, sleep=sleeps.append, clock=lambda: 1000.0)
        for i in range(3):
            polite.get(f"http://a/{i}")
        assert sleeps == slept
