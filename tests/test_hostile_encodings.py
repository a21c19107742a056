"""Broken encodings: wrong declared charsets, mixed encodings, invalid UTF-8, UTF-16 feeds, control characters.

Each feed (and page) is polled with `presswire poll` from 127.0.0.1; the stored text must read back as valid
UTF-8 with no control characters, on SQLite and on PostgreSQL (whose text columns refuse NUL outright).
"""

from __future__ import annotations

import codecs

import pytest

from hostile import HTML_TYPE, assert_clean_text, item, items, poll_event, presswire_for, rss

TITLE = "Grüße aus Köln — “Zitat” naïve café"
XML = {"Content-Type": "application/rss+xml"}


def _feed(*entries: str, declared: str = "utf-8") -> str:
    return rss("".join(entries), f'<?xml version="1.0" encoding="{declared}"?>\n')


def _poll_titles(tmp_path, db_url, server, body: bytes, headers: dict[str, str]) -> tuple[dict, list[str]]:
    server.route("/feed.xml", body=body, headers=headers)
    pw = presswire_for(tmp_path, db_url, server.url("/feed.xml"), extra="[poll]\nfetch_articles = false\n")
    event = poll_event(pw)
    assert_clean_text(db_url)
    return event, sorted(i["title"] for i in items(pw))


@pytest.mark.parametrize("body,headers", [
    (_feed(item("a", TITLE)).encode(), {"Content-Type": "application/rss+xml; charset=iso-8859-1"}),
    (_feed(item("a", TITLE), declared="windows-1252").encode(), XML),
    (_feed(item("a", TITLE), declared="iso-8859-1").encode(), {"Content-Type": "text/xml"}),
], ids=["http-latin1", "xml-declaration-cp1252", "text-xml-no-charset"])
def test_utf8_declared_as_latin1_is_read_as_utf8(tmp_path, sqlite_url, empty_server, body, headers):
    event, titles = _poll_titles(tmp_path, sqlite_url, empty_server, body, headers)
    assert titles == [TITLE] and event["status"] == "ok"


def test_a_legacy_feed_declared_correctly_stays_legacy(tmp_path, sqlite_url, empty_server):
    body = _feed(item("a", "Grüße aus Köln"), declared="iso-8859-1").encode("latin-1")
    _event, titles = _poll_titles(tmp_path, sqlite_url, empty_server, body, XML)
    assert titles == ["Grüße aus Köln"]


@pytest.mark.parametrize("codec,title", [("windows-1251", "Привет «мир»"), ("iso-8859-2", "Zażółć gęślą jaźń"),
                                         ("shift_jis", "日本語のニュース")], ids=["cp1251", "latin2", "sjis"])
def test_a_legacy_feed_served_as_utf8_is_read_as_its_xml_declaration_says(tmp_path, sqlite_url, empty_server,
                                                                          codec, title):
    """A server's default charset=utf-8 on a feed that is not UTF-8: its XML declaration is right, not a repair."""
    body = _feed(item("a", title), declared=codec).encode(codec)
    event, titles = _poll_titles(tmp_path, sqlite_url, empty_server, body,
                                 {"Content-Type": "application/rss+xml; charset=utf-8"})
    assert titles == [title] and event["status"] == "ok"
    assert f"declared as utf-8, read as {codecs.lookup(codec).name}" in event["problem"]


@pytest.mark.parametrize("before", [b"\n\n", b"   \r\n", codecs.BOM_UTF8 + b"\n", codecs.BOM_UTF8],
                         ids=["newlines", "spaces", "bom-newline", "bom"])
def test_white_space_or_a_bom_before_the_xml_declaration(tmp_path, sqlite_url, empty_server, before):
    body = before + _feed(item("a", "Привет «мир»"), declared="windows-1251").encode("cp1251")
    _event, titles = _poll_titles(tmp_path, sqlite_url, empty_server, body, XML)
    assert titles == ["Привет «мир»"]


def test_mixed_encodings_read_each_part_right(tmp_path, sqlite_url, empty_server):
    """A UTF-8 feed with one item pasted in Windows-1252: both are read right (not the whole feed as 1252)."""
    legacy = "Déjà vu – “quoted”".encode("cp1252")
    body = _feed(item("a", TITLE), item("b", "@@LEGACY@@")).encode().replace(b"@@LEGACY@@", legacy)
    event, titles = _poll_titles(tmp_path, sqlite_url, empty_server, body, XML)
    assert titles == ["Déjà vu – “quoted”", TITLE]
    assert "invalid UTF-8 bytes, read as Windows-1252" in event["problem"]


def test_invalid_utf8_sequences_are_stored_as_valid_text(tmp_path, sqlite_url, empty_server):
    bad = b"over\xc0\xaflong, surrogate \xed\xa0\x80, cut \xe2\x82, stray \xff\xfe bytes"
    body = _feed(item("a", "@@BAD@@", "", "@@BAD@@")).encode().replace(b"@@BAD@@", bad)
    event, [title] = _poll_titles(tmp_path, sqlite_url, empty_server, body, XML)
    assert event["status"] == "ok" and title.startswith("over") and title.endswith("bytes")


@pytest.mark.parametrize("codec,headers", [
    ("utf-16", XML), ("utf-16-be", {"Content-Type": "application/rss+xml; charset=utf-16be"}),
    ("utf-16-le", XML), ("utf-32", XML),
])
def test_utf16_and_utf32_feeds(tmp_path, sqlite_url, empty_server, codec, headers):
    declared = "utf-32" if "32" in codec else "utf-16"
    body = _feed(item("a", TITLE), item("b", "日本語のニュース"), declared=declared).encode(codec)
    _event, titles = _poll_titles(tmp_path, sqlite_url, empty_server, body, headers)
    assert titles == [TITLE, "日本語のニュース"]


# characters XML forbids, raw and as references: feedparser passes them on, or crashes on some (&#xD800;,
# &#x110000;, &#99999999999;); PostgreSQL refuses NUL in text
CONTROLS = ["nul \x00 raw", "escape \x1b[31m red", "bell \x07 and del \x7f", "ref &#0; nul", "ref &#x1b; esc",
            "ref &#xD800; surrogate", "ref &#x110000; beyond", "ref &#99999999999999999999; huge",
            "ref &#xFFFE; nonchar", "c1 \u0085 next line", "line\u2028separator"]


def test_control_characters_never_reach_the_store(tmp_path, db_url, empty_server):
    entries = [item(f"c{n}", f"Title {text} end", f"https://wire.example/c{n}", f"Summary {text} end")
               for n, text in enumerate(CONTROLS)]
    body = _feed(*entries).encode("utf-8")
    event, titles = _poll_titles(tmp_path, db_url, empty_server, body, XML)
    assert event["status"] == "ok" and len(titles) == len(CONTROLS)
    assert all(t.startswith("Title ") and t.endswith(" end") for t in titles)


def test_html_character_references_to_control_characters_do_not_crash_the_poll(tmp_path, db_url, empty_server):
    """Regression (found by tests/test_fuzz.py): lxml parses "&#1" into text it then refuses to set again, so
    dropping a <noscript> in feed content or a <header> in a page raised ValueError out of the poll."""
    paragraph = "<p>Paragraph of the article, long enough to be kept as the body text of this page.</p>"
    page = f"<html><body><header>Site</header>&#1 tail<article>{paragraph * 6}<aside>x</aside>&#x1b; end</article>"
    empty_server.route("/page/", body=page + "</body></html>", headers=HTML_TYPE)
    empty_server.route("/gone/", status=404)
    content = "<![CDATA[<noscript>js</noscript>&#1 Feed content &#x0b;here.]]>"
    feed = _feed(item("p", "Page", empty_server.url("/page/")), item("f", "Feed", empty_server.url("/gone/"), content))
    empty_server.route("/feed.xml", body=feed, headers=XML)
    pw = presswire_for(tmp_path, db_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    stored = {i["title"]: i for i in items(pw)}
    assert stored["Feed"]["body_html"] == "<p>Feed content here.</p>"
    assert "Paragraph of the article" in stored["Page"]["body_html"]
    assert_clean_text(db_url)


def test_article_pages_with_broken_encodings_store_clean_text(tmp_path, db_url, empty_server):
    paragraph = "Ünïcödé paragraph of the article with enough words to be kept as the body of the page. "
    pages = {
        "/nul/": ("<html><body><article>" + f"<p>{paragraph}\x00 nul \x1b esc</p>" * 6 + "</article></body></html>")
        .encode(),
        "/wrong-meta/": ('<html><head><meta charset="iso-8859-1"></head><body><article>' + f"<p>{paragraph}</p>" * 6
                         + "</article></body></html>").encode(),
        "/invalid/": b"<html><body><article>" + (paragraph.encode() + b"\xff\xc0 \xed\xa0\x80 ").join(
            [b"<p>"] * 7) + b"</p></article></body></html>",
        "/utf16/": ("<html><head><meta charset='utf-16'></head><body><article>" + f"<p>{paragraph}</p>" * 6
                    + "</article></body></html>").encode("utf-16"),
    }
    for path, page in pages.items():
        empty_server.route(path, body=page, headers=HTML_TYPE)
    feed = _feed(*(item(path, f"Page {path}", empty_server.url(path)) for path in pages)).encode()
    empty_server.route("/feed.xml", body=feed, headers=XML)
    pw = presswire_for(tmp_path, db_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    stored = assert_clean_text(db_url)
    assert len(stored["items.title"]) == len(pages)
    assert all("paragraph of the article" in body for body in stored["items.body_text"])


PAGE_TEXT = "Café “Le Petit” opened today in Lyon; the crème brûlée is a must. "


@pytest.mark.parametrize("encoded,content_type", [
    (PAGE_TEXT.encode("cp1252"), "text/html; charset=windows-1252"),  # no <meta charset>: guessing got it wrong
    (PAGE_TEXT.encode("cp1252"), "text/html; charset=ISO-8859-1"),  # read as Windows-1252, as browsers do
    (PAGE_TEXT.encode(), "text/html; charset=iso-8859-1"),  # a server's default on a UTF-8 page
    (PAGE_TEXT.encode() + "Œuvre".encode("cp1252"), "text/html; charset=utf-8"),  # UTF-8 with a stray byte
], ids=["cp1252", "latin1-label", "utf8-declared-latin1", "utf8-repaired"])
def test_an_article_page_is_read_in_the_charset_its_http_header_gives(tmp_path, sqlite_url, empty_server,
                                                                      encoded, content_type):
    filler = b"Visitors are welcome every day of the week. " * 8  # few accents: a guess goes wrong
    page = b"<html><head><title>Le Petit</title></head><body><p>" + encoded + filler + b"</p></body></html>"
    empty_server.route("/page/", body=page, headers={"Content-Type": content_type})
    empty_server.route("/feed.xml", body=_feed(item("p", "Le Petit", empty_server.url("/page/"))).encode(), headers=XML)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    [body] = assert_clean_text(sqlite_url)["items.body_text"]
    assert PAGE_TEXT.strip() in body
    if content_type.endswith("utf-8"):
        assert "Œuvre" in body


@pytest.mark.parametrize("charset", ["utf-16le", "utf-16be", "utf-16", "utf-32le"])
def test_an_article_page_in_utf16_or_utf32_without_a_byte_order_mark_is_read_in_its_http_charset(
        tmp_path, sqlite_url, empty_server, charset):
    """ASCII text in UTF-16 (or UTF-32) is also valid UTF-8, with a NUL after each letter: read as UTF-8, the
    page had no text."""
    paragraph = "Plain paragraph of the article with enough words to be kept as the body of the page. "
    page = f"<html><body><article>{f'<p>{paragraph}</p>' * 6}</article></body></html>"
    encoded = page.encode("utf-16-le" if charset == "utf-16" else charset)  # "utf-16" without a BOM: little-endian
    empty_server.route("/page/", body=encoded, headers={"Content-Type": f"text/html; charset={charset}"})
    empty_server.route("/feed.xml", body=_feed(item("p", "Page", empty_server.url("/page/"))).encode(), headers=XML)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    [stored] = items(pw)
    assert stored["failure"] is None and paragraph.strip() in stored["body_html"]
