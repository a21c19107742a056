"""Fuzzing the source boundary: mutated real feed bytes and pages through the functions a poll calls on them
(parse_feed, extract_page, from_feed, normalize, the dedup fingerprint, the front-matter document).

Mutations: byte flips, truncations, deletions, duplicated slices, inserted entities, character references,
CDATA, NULs, BOMs, DTDs, and whole documents re-encoded (UTF-16/32, Latin-1, Shift_JIS, UTF-7), served with
assorted Content-Types. Nothing may escape but our declared outcome (SourceError for bytes that are not a
feed); every string produced must be encodable as UTF-8 (no lone surrogates) and free of control characters
where the schema holds one line. Bounded example counts keep this to seconds."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import IBN_SITE, ROOT
from ingest.dedup import Deduplicator
from ingest.errors import SourceError
from ingest.extract import extract_page, from_feed
from ingest.frontmatter import item_document
from ingest.model import Extraction, FeedEntry, Item, StoredItem
from ingest.normalize import entry_keys, normalize
from ingest.parse import parse_feed
from ingest.promo import load_rules

FEED_URL = "https://wire.example/bdc/feed.xml"
FEED = (IBN_SITE / "bdc" / "feed.xml").read_bytes().replace(b"__BASE__", b"https://wire.example")
ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><id>tag:a,2025:1</id><title type="html">&lt;b&gt;Bold&lt;/b&gt; news</title><link href="/a/1"/>
<updated>2025-05-15T15:55:19Z</updated><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
<p>Body <a href="javascript:x()">x</a></p></div></content></entry></feed>"""
PAGES = [p.read_bytes() for p in sorted((ROOT / "fixtures" / "extract" / "pages").glob("*.html"))]
INSERTS = [b"&xxe;", b"&#0;", b"&#x1b;", b"&#xD800;", b"&#x110000;", b"&#99999999999999999999;", b"&amp;", b"&nbsp;",
           b"<![CDATA[", b"]]>", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\xfe\xff\x00<", b"\xc3", b"\xed\xa0\x80",
           b'<!DOCTYPE rss [<!ENTITY a "b">]>', b"<!DOCTYPE html>", b"<!ENTITY",
           b"<?xml version='1.0' encoding='utf-7'?>",
           b'<a href="javascript:alert(1)">', b"<script>alert(1)</script>", b"</item><item>", b"<entry>", b"<title>",
           b"<link>http://[::1</link>", b"<guid>", b"\r\n", "\u2028".encode(), b"%s", b"{{", b"+++\n"]
CODECS = ["utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "shift_jis", "utf-7", "cp037"]
CONTENT_TYPES = [None, "application/rss+xml", "application/atom+xml", "text/xml", "text/xml; charset=iso-8859-1",
                 "text/html; charset=utf-8", "application/xml; charset=utf-16", "application/rss+xml; charset=x-bogus",
                 "text/plain; charset=utf-7", "application/octet-stream"]
ONE_LINE_FIELDS = ("title", "summary", "description", "source_link", "enclosure", "slug", "source")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
SEEN = datetime(2025, 6, 1, tzinfo=timezone.utc)
RULES = load_rules()
DEDUP = Deduplicator()


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    data = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 6))):
        data = draw(st.sampled_from(MUTATIONS))(draw, data)
    return data


def _at(draw, data: bytes) -> int:
    return draw(st.integers(0, len(data)))


def _flip(draw, data: bytes) -> bytes:
    i = _at(draw, data)
    return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]


def _truncate(draw, data: bytes) -> bytes:
    return data[:_at(draw, data)]


def _insert(draw, data: bytes) -> bytes:
    i = _at(draw, data)
    return data[:i] + draw(st.sampled_from(INSERTS) | st.binary(max_size=12)) + data[i:]


def _delete(draw, data: bytes) -> bytes:
    i, j = sorted((_at(draw, data), _at(draw, data)))
    return data[:i] + data[j:]


def _duplicate(draw, data: bytes) -> bytes:
    i, j = sorted((_at(draw, data), _at(draw, data)))
    return data[:j] + data[i:j] * draw(st.integers(1, 3)) + data[j:]


def _reencode(draw, data: bytes) -> bytes:
    return data.decode("utf-8", "replace").encode(draw(st.sampled_from(CODECS)), "replace")


MUTATIONS = [_flip, _truncate, _insert, _delete, _duplicate, _reencode]


def _assert_clean(obj: object, one_line: tuple[str, ...] = ()) -> None:
    """Every string field of a dataclass encodes as UTF-8 and holds no control characters (line breaks and
    tabs allowed except in `one_line` fields)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, str):
            value.encode("utf-8")  # raises on a lone surrogate
            pattern = CONTROL if f.name in one_line else CONTROL_BUT_LINES
            assert not pattern.search(value), (f.name, value[:200])


def _through_normalize(entry: FeedEntry, page: Extraction, page_url: str | None = None) -> Item:
    item = normalize(entry, page, source_name="Fuzz Wire", seen_at=SEEN, feed_body=from_feed(entry),
                     page_url=page_url, rules=RULES)
    _assert_clean(item, ONE_LINE_FIELDS)
    _assert_clean(item.entry)
    DEDUP.fingerprint(item)
    stored = StoredItem(article_id=1, feed_item_id=1, source_id=1, title=item.title, date=item.date, draft=item.draft,
                        summary=item.summary, description=item.description, source_link=item.source_link,
                        enclosure=item.enclosure, url=item.slug, qrcode="", source=item.source,
                        body_html=item.body_html, promo=item.promo)
    item_document(stored).encode("utf-8")
    return item


@fuzz(250)
@given(mutated([FEED, ATOM]), st.sampled_from(CONTENT_TYPES))
def test_mutated_feeds_parse_and_normalize_or_fail_as_source_errors(content, content_type):
    headers = {"content-type": content_type} if content_type else {}
    try:
        feed = parse_feed(content, FEED_URL, headers)
    except SourceError:
        return
    _assert_clean(feed, ("link", "title", "generator"))
    for entry in feed.entries:
        _assert_clean(entry, ("guid", "link", "enclosure"))
        entry_keys(entry)
        _through_normalize(entry, Extraction(failure="not fetched"))


@fuzz(120)
@given(mutated(PAGES))
def test_mutated_pages_extract_and_normalize(content):
    page = extract_page(content, "https://wire.example/story/")
    _assert_clean(page)
    entry = FeedEntry(guid="g1", link="https://wire.example/story/", title="", summary_html="<p>Feed summary.</p>")
    _through_normalize(entry, page, page_url="https://wire.example/story/")


TEXT = st.text(st.characters(), max_size=300) | st.lists(st.sampled_from([i.decode("latin-1") for i in INSERTS])
                                                          | st.text(max_size=5), max_size=20).map("".join)


@fuzz(150)
@given(TEXT, TEXT, TEXT, TEXT, st.none() | TEXT)
def test_any_entry_text_normalizes_to_clean_fields(title, summary, content, page_text, link):
    """Entries also come from sitemaps, URL lists and imported documents: normalize cleans whatever it gets
    (lone surrogates and control characters included)."""
    entry = FeedEntry(guid=title[:20] or None, link=link, title=title, summary_html=summary, content_html=content)
    page = Extraction(text=page_text, body_html=f"<p>{page_text}</p>", method="fast", title=page_text[:50],
                      description=summary, image=link)
    _through_normalize(entry, page, page_url=link)


def test_the_fuzzer_reaches_the_regressions_it_found():
    """What it found, kept as plain cases: character references to surrogates and beyond U+10FFFF crashed
    feedparser (UnicodeEncodeError, ValueError); &#0; and raw control bytes reached the stored text; "&#1" in
    HTML made lxml raise ValueError when an element was dropped (feed content, pages); a control character
    in a page title or a line break in a feed title reached one-line fields."""
    for ref in (b"&#xD800;", b"&#x110000;", b"&#99999999999999999999;", b"&#0;", b"\x01\x1b"):
        feed = parse_feed(FEED.replace(b"<title>China", b"<title>China " + ref), FEED_URL, {})
        assert feed.entries[0].title.startswith("China ") and not CONTROL.search(feed.entries[0].title)
    assert from_feed(FeedEntry(guid="g", link=None, title="", summary_html="<noscript>x</noscript>&#1 y")).text == "y"
    page = extract_page(b"<html><head><title>T&#x1b;itle\n</title></head><body><header>x</header>&#1 tail</body>",
                        "https://wire.example/")
    _assert_clean(page)
    _through_normalize(FeedEntry(guid="g", link=None, title=""), page)


def test_mangled_declarations_and_namespaces_are_the_feeds_error_not_the_polls():
    """Found by this harness: an encoding declaration with a NUL or a non-ASCII byte made feedparser's
    decoder raise, and a namespace URI with a space made its strict parser fail to unpack expat's name."""
    for content in (FEED.replace(b'encoding="UTF-8"', b'encoding="\x00TF-8"'),
                    FEED.replace(b'encoding="UTF-8"', b'encoding="\x80TF-8"'),
                    ATOM.replace(b'xmlns="http://www.w3.org/2005/Atom"', b'xmlns="http://www w3 org/2005/Atom"')):
        try:
            feed = parse_feed(content, FEED_URL, {"content-type": "text/xml; charset=iso-8859-1"})
        except SourceError as exc:
            assert str(exc).startswith(f"parse {FEED_URL}: ")
            continue
        assert feed.problem is None or not CONTROL.search(feed.problem)
