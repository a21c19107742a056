"""Odd feeds: missing titles, links and dates; dates in the future or 1970; duplicate GUIDs within one feed;
relative links; 10,000 entries; javascript:, data: and file: links. Each polled with `presswire poll`."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from hostile import HTML_TYPE, RSS_TYPE, assert_clean_text, item, items, poll_event, presswire_for, rss

NO_PAGES = "[poll]\nfetch_articles = false\n"
PAGE = "<html><body><article>" + "<p>A paragraph of the relative article, long enough to be its body text.</p>" * 6 \
       + "</article></body></html>"


def _poll(tmp_path, db, server, feed: str, extra: str = "") -> tuple:
    server.route("/feeds/feed.xml", body=feed, headers=RSS_TYPE)
    pw = presswire_for(tmp_path, db, server.url("/feeds/feed.xml"), extra=extra)
    return pw, poll_event(pw)


def _age(stored: dict) -> timedelta:
    return abs(datetime.now(timezone.utc) - datetime.fromisoformat(stored["date"].replace("Z", "+00:00")))


def test_entries_missing_title_link_guid_or_date_are_stored_once(tmp_path, sqlite_url, empty_server):
    feed = rss("<item><description>Only a description, nothing else at all.</description></item>"
               "<item><title>No link</title><guid isPermaLink='false'>g-nolink</guid>"
               "<description>Has a guid.</description></item>"
               "<item><guid>g-notitle</guid><link>https://wire.example/nt</link><description>d</description></item>"
               "<item></item>")
    pw, event = _poll(tmp_path, sqlite_url, empty_server, feed, NO_PAGES)
    assert event["status"] == "ok"
    stored = items(pw)
    assert sorted(i["title"] for i in stored) == ["(untitled)", "(untitled)", "(untitled)", "No link"]
    assert sorted(i["source_link"] for i in stored) == ["", "", "", "https://wire.example/nt"]
    assert all(_age(i) < timedelta(days=1) for i in stored)
    assert poll_event(pw)["new"] == 0  # each identified again (by guid, link, or a hash of its text)
    assert_clean_text(sqlite_url)


@pytest.mark.parametrize("published", ["Thu, 01 Jan 2099 00:00:00 +0000", "Thu, 01 Jan 1970 00:00:00 +0000",
                                       "Mon, 01 Jan 1900 00:00:00 +0000", "not a date at all"])
def test_dates_in_the_future_or_1970_are_not_believed(tmp_path, sqlite_url, empty_server, published):
    feed = rss(item("d1", "Dated", extra=f"<pubDate>{published}</pubDate>"))
    pw, _event = _poll(tmp_path, sqlite_url, empty_server, feed, NO_PAGES)
    [stored] = items(pw)
    assert _age(stored) < timedelta(days=1)  # the time presswire first saw it


def test_a_believable_date_is_kept(tmp_path, sqlite_url, empty_server):
    feed = rss(item("d1", "Dated", extra="<pubDate>Thu, 15 May 2025 15:55:19 +0000</pubDate>"))
    pw, _event = _poll(tmp_path, sqlite_url, empty_server, feed, NO_PAGES)
    assert items(pw)[0]["date"] == "2025-05-15T15:55:19Z"


@pytest.mark.parametrize("published", ["Thu, 15 May 2025 11:55:19 EDT", "Thu, 15 May 2025 15:55:19 GMT",
                                       "Thu, 15 May 2025 15:55:19 UTC", "Thu, 15 May 2025 16:55:19 BST",
                                       "Thu, 15 May 2025 17:55:19 CEST", "Fri, 16 May 2025 00:55:19 JST",
                                       "Fri, 16 May 2025 01:55:19 AEST", "Thu, 15 May 2025 08:55 PDT"])
def test_a_date_in_a_named_zone_is_read_in_that_zone(tmp_path, sqlite_url, empty_server, published):
    """Regression: zone names feedparser does not know (CEST, JST, AEST, BST) were read as UTC: hours off, and a
    Tokyo release of the 16th dated the 16th though it is the 15th in UTC."""
    feed = rss(item("d1", "Dated", extra=f"<pubDate>{published}</pubDate>"))
    pw, _event = _poll(tmp_path, sqlite_url, empty_server, feed, NO_PAGES)
    assert items(pw)[0]["date"] == ("2025-05-15T15:55:00Z" if published.endswith("PDT") else "2025-05-15T15:55:19Z")


@pytest.mark.parametrize("ttl", ["9" * 400, "-60", "\u00b3", "1e9"],
                         ids=["400-digits", "negative", "superscript", "exponent"])
def test_a_ttl_of_any_size_or_no_number_stores_the_items_and_plans_a_poll(tmp_path, sqlite_url, empty_server, ttl):
    """A 400-digit <ttl> is an int no float holds: the poll's planning overflowed and nothing was saved."""
    pw, event = _poll(tmp_path, sqlite_url, empty_server, rss(f"<ttl>{ttl}</ttl>" + item("t1", "Timed")), NO_PAGES)
    assert event["status"] == "ok" and [i["title"] for i in items(pw)] == ["Timed"]
    next_poll = datetime.fromisoformat(event["next_poll"])
    assert timedelta(minutes=10) < next_poll - datetime.now(timezone.utc) <= timedelta(weeks=1)  # max_backoff at most


def test_entries_repeated_within_one_feed_store_one_item(tmp_path, sqlite_url, empty_server):
    """Same GUID and same canonical link is a repeat; a key shared by entries whose other keys differ is not
    theirs (see the next tests), so those are three entries."""
    feed = rss(item("same", "First copy", "https://wire.example/a")
               + item("same", "Repeat", "https://wire.example/a?utm_source=rss#top")
               + item("same", "Same GUID", "https://wire.example/b")
               + item("other", "Same link", "https://wire.example/a?utm_source=rss"))
    pw, event = _poll(tmp_path, sqlite_url, empty_server, feed, NO_PAGES)
    assert sorted(i["title"] for i in items(pw)) == ["First copy", "Same GUID", "Same link"] and event["new"] == 3
    assert poll_event(pw)["new"] == 0


def _stored_keys(db_url: str) -> list[tuple]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(text("SELECT guid, link FROM feed_entries")).all(), key=str)
    finally:
        engine.dispose()


def _keyed_poll(pw, server, entries: str) -> tuple[int, int]:
    server.routes["/feeds/feed.xml"].body = rss(entries).encode()
    event = poll_event(pw)
    assert event["status"] == "ok"
    return event["new"], event["duplicate"]


def test_one_guid_on_every_item_with_different_links_is_no_identity(tmp_path, db_url, empty_server):
    """A broken feed gives every item the same GUID: each link is an entry, polled again and rolled off."""
    guid = empty_server.url("/")
    news = [item(guid, f"Release {n}", f"https://wire.example/news/{n}") for n in range(5)]
    pw, event = _poll(tmp_path, db_url, empty_server, rss("".join(news[:3])), NO_PAGES)
    assert (event["new"], event["duplicate"]) == (3, 0)
    assert _stored_keys(db_url) == [(None, f"https://wire.example/news/{n}") for n in range(3)]
    assert _keyed_poll(pw, empty_server, "".join(news[:3])) == (0, 3)
    assert _keyed_poll(pw, empty_server, "".join(news[1:4])) == (1, 2)  # one rolled off, one new
    assert _keyed_poll(pw, empty_server, news[3]) == (0, 1)  # alone, its GUID is not shared: the link finds it
    assert _keyed_poll(pw, empty_server, "".join(news[3:])) == (1, 1)
    assert sorted(i["title"] for i in items(pw)) == [f"Release {n}" for n in range(5)]
    assert _stored_keys(db_url) == [(None, f"https://wire.example/news/{n}") for n in range(5)]


def test_one_link_for_items_with_different_guids_is_no_identity(tmp_path, db_url, empty_server):
    """Releases linking to one newsroom page (fragments are not part of a canonical link): each GUID is an entry."""
    news = [item(f"acme-release-{n}", f"Release {n}", f"https://acme.example/news#release-{n}") for n in range(4)]
    pw, event = _poll(tmp_path, db_url, empty_server, rss("".join(news[:3])), NO_PAGES)
    assert (event["new"], event["duplicate"]) == (3, 0)
    assert _stored_keys(db_url) == [(f"acme-release-{n}", None) for n in range(3)]
    assert _keyed_poll(pw, empty_server, "".join(news[:3])) == (0, 3)
    assert _keyed_poll(pw, empty_server, "".join(news[2:])) == (1, 1)
    assert _keyed_poll(pw, empty_server, news[3]) == (0, 1)  # alone, its link is not shared: the GUID finds it
    assert sorted(i["title"] for i in items(pw)) == [f"Release {n}" for n in range(4)]
    assert [i["source_link"] for i in items(pw)] == ["https://acme.example/news"] * 4
    assert _stored_keys(db_url) == [(f"acme-release-{n}", None) for n in range(4)]


def test_a_changed_guid_of_the_same_item_is_still_a_duplicate(tmp_path, sqlite_url, empty_server):
    pw, _event = _poll(tmp_path, sqlite_url, empty_server, rss(item("v1", "Story", "https://wire.example/s")), NO_PAGES)
    assert _keyed_poll(pw, empty_server, item("v2", "Story", "https://wire.example/s?utm_source=x")) == (0, 1)


def test_plain_text_titles_and_summaries_keep_what_looks_like_tags(tmp_path, sqlite_url, empty_server):
    """Atom type="text" and RSS titles are text, not HTML: "<AAPL.O>" is part of it, "AT&amp;T" is AT&T."""
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Wire</title>'
            '<entry><id>urn:a</id><link href="https://wire.example/a"/><updated>2025-01-02T03:04:05Z</updated>'
            '<title type="text">Apple &lt;AAPL.O&gt; shares rise &amp; &lt;guidance&gt; beats</title>'
            '<summary type="text">Shares of Apple &lt;AAPL.O&gt; rose as revenue &lt;b&gt;beat&lt;/b&gt;.</summary>'
            '</entry></feed>')
    empty_server.route("/atom.xml", body=atom, headers={"Content-Type": "application/atom+xml"})
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/atom.xml"), extra=NO_PAGES)
    poll_event(pw)
    [stored] = items(pw)
    assert stored["title"] == "Apple <AAPL.O> shares rise & <guidance> beats"
    assert stored["summary"] == "Shares of Apple <AAPL.O> rose as revenue <b>beat</b>."
    assert stored["body_html"] == "<p>Shares of Apple &lt;AAPL.O&gt; rose as revenue &lt;b&gt;beat&lt;/b&gt;.</p>"
    feed = rss(item("r", "AT&amp;T &lt;T&gt; beats", "https://wire.example/r", "AT&amp;T &lt;T&gt; beat <b>b</b>."))
    (tmp_path / "rss").mkdir()
    pw, _event = _poll(tmp_path / "rss", f"sqlite:///{tmp_path / 'rss' / 'rss.db'}", empty_server, feed, NO_PAGES)
    [stored] = items(pw)
    assert stored["title"] == "AT&T <T> beats"
    assert stored["summary"] == "AT&T beat b."  # an RSS description is HTML: <T> is a tag there


def test_relative_links_resolve_against_the_feed(tmp_path, sqlite_url, empty_server):
    empty_server.route("/feeds/story/", body=PAGE, headers=HTML_TYPE)
    feed = rss(item("r1", "Relative", "story/", extra='<enclosure url="../img/a.png" type="image/png" length="1"/>'))
    pw, _event = _poll(tmp_path, sqlite_url, empty_server, feed)
    [stored] = items(pw)
    assert stored["source_link"] == empty_server.url("/feeds/story/") and stored["method"] != "feed"
    assert stored["enclosure"] == empty_server.url("/img/a.png")


def test_a_media_thumbnail_is_the_enclosure_whatever_its_url_looks_like(tmp_path, sqlite_url, empty_server):
    """Media RSS thumbnails are images and carry no type. Regression: one whose URL had no image file extension
    (an image CDN's /Resource/Download/8c1f?size=3) was no enclosure; a non-image media:content still is none."""
    thumbnail = "https://cdn.wire.example/Resource/Download/8c1f?size=3"
    feed = rss(item("m1", "Thumbnail", "https://wire.example/m1", extra=f'<media:thumbnail url="{thumbnail}"/>')
               + item("m2", "Video", "https://wire.example/m2", extra='<media:content url="https://cdn.wire.example/v"/>'))
    pw, _event = _poll(tmp_path, sqlite_url, empty_server,
                       feed.replace("<rss ", '<rss xmlns:media="http://search.yahoo.com/mrss/" '), NO_PAGES)
    assert {i["title"]: i["enclosure"] for i in items(pw)} == {"Thumbnail": thumbnail, "Video": ""}


def test_an_image_caption_is_neither_summary_nor_body(tmp_path, sqlite_url, empty_server):
    """Regression: feedparser read <media:description> (an image's caption) as the item's description: before
    it, the caption was the summary; after it, the caption was the body the feed gave. Alone, it is the summary."""
    caption = ('<media:content url="https://cdn.wire.example/a.jpg" type="image/jpeg">'
               "<media:description>Photo: the new plant in Ohio.</media:description></media:content>")
    feed = rss(item("c1", "Caption first", description="Acme opens a plant. It employs 900 people.", extra="")
               .replace("<description>", caption + "<description>")
               + item("c2", "Caption last", description="Acme opens a second plant.", extra=caption)
               + "<item><title>Caption only</title><guid>c3</guid>" + caption + "</item>")
    pw, _event = _poll(tmp_path, sqlite_url, empty_server,
                       feed.replace("<rss ", '<rss xmlns:media="http://search.yahoo.com/mrss/" '), NO_PAGES)
    stored = {i["title"]: (i["summary"], i["description"], i["body_html"]) for i in items(pw)}
    assert stored == {
        "Caption first": ("Acme opens a plant. It employs 900 people.", "Acme opens a plant. It employs 900 people.",
                          "<p>Acme opens a plant. It employs 900 people.</p>"),
        "Caption last": ("Acme opens a second plant.", "Acme opens a second plant.", "<p>Acme opens a second plant.</p>"),
        "Caption only": ("Photo: the new plant in Ohio.", "Photo: the new plant in Ohio.",
                         "<p>Photo: the new plant in Ohio.</p>")}


def test_a_guid_that_is_no_url_is_no_link_and_stays_the_same_when_the_feed_moves(tmp_path, sqlite_url, empty_server):
    """RSS calls a GUID without isPermaLink="false" a permalink, but many feeds leave that out of GUIDs such as
    "12345". Regression: feedparser resolved them against the feed's URL, so the item's link was a page that
    does not exist (fetched, stored as source_link), and when the feed moved every entry was stored again."""
    link = empty_server.url("/feeds/linked")
    empty_server.route("/feeds/linked", body=PAGE, headers=HTML_TYPE)
    feed = rss("<item><title>Numbered</title><guid>12345</guid><description>Acme announced results.</description>"
               f"</item><item><title>Linked</title><guid>67890</guid><link>{link}</link></item>")
    pw, event = _poll(tmp_path, sqlite_url, empty_server, feed)
    assert event["new"] == 2 and not empty_server.hits_for("/feeds/12345")
    stored = {i["title"]: i for i in items(pw)}
    assert stored["Numbered"]["source_link"] == "" and stored["Numbered"]["failure"] == "entry has no link"
    assert stored["Linked"]["source_link"] == link and stored["Linked"]["failure"] is None
    assert _stored_keys(sqlite_url) == [("12345", None), ("67890", link)]
    empty_server.route("/feeds/feed.xml", status=301, headers={"Location": empty_server.url("/press/2025/rss.xml")})
    empty_server.route("/press/2025/rss.xml", body=feed, headers=RSS_TYPE)
    event = poll_event(pw)
    assert (event["new"], event["duplicate"]) == (0, 2) and len(items(pw)) == 2


def test_spaces_inside_links_are_percent_encoded_and_line_breaks_dropped(tmp_path, sqlite_url, empty_server):
    """As browsers do: "Q3 2025 Results.html" is Q3%202025%20Results.html (not Q32025Results.html), a link
    wrapped over two lines is one link."""
    for path in ("/files/Q3%202025%20Results.html", "/files/annual-report.html"):
        empty_server.route(path, body=PAGE, headers=HTML_TYPE)
    feed = rss(item("s1", "Spaces", f" {empty_server.url('/files/Q3 2025 Results.html')} ",
                    extra=f'<enclosure url="{empty_server.url("/img/Q3 chart.jpg")}" type="image/jpeg" length="1"/>')
               + item("s2", "Wrapped", empty_server.url("/files/annual-\n\t\treport.html")))
    pw, _event = _poll(tmp_path, sqlite_url, empty_server, feed)
    stored = {i["title"]: i for i in items(pw)}
    assert stored["Spaces"]["source_link"] == empty_server.url("/files/Q3%202025%20Results.html")
    assert stored["Spaces"]["enclosure"] == empty_server.url("/img/Q3%20chart.jpg")
    assert stored["Wrapped"]["source_link"] == empty_server.url("/files/annual-report.html")
    assert all(i["method"] != "feed" and i["failure"] is None for i in stored.values())


@pytest.mark.parametrize("link", ["javascript:alert(document.cookie)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
                                  "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "vbscript:msgbox(1)",
                                  "file:///etc/passwd", "ftp://wire.example/x"])
def test_non_http_links_are_dropped_not_fetched_nor_stored(tmp_path, sqlite_url, empty_server, link):
    attribute = link.replace("\t", "&#9;")  # XML reads a raw tab in an attribute as a space
    feed = rss(item("x1", "Odd link", link, "Summary of the odd item.",
                    extra=f'<enclosure url="{attribute}" type="image/png" length="1"/>'))
    pw, event = _poll(tmp_path, sqlite_url, empty_server, feed)
    [stored] = items(pw)
    assert stored["source_link"] == "" and stored["enclosure"] == ""
    assert stored["failure"] == "entry has no link" and stored["body_html"] == "<p>Summary of the odd item.</p>"
    raw = assert_clean_text(sqlite_url)
    assert not any(scheme in value.lower() for values in raw.values() for value in values
                   for scheme in ("javascript:", "vbscript:", "data:", "file:"))


def test_links_the_http_client_cannot_encode_fail_their_item_not_the_poll(tmp_path, sqlite_url, empty_server):
    """Regression: httpx.InvalidURL and idna's errors escaped the fetcher and ended the whole `presswire poll`."""
    links = ["http://xn--/x", "http://example.com:abc/", "http://0177.0.0.1/", "http://xn--a.example/"]
    feed = rss("".join(item(f"u{n}", f"Bad link {n}", link) for n, link in enumerate(links))
               + item("fine", "Fine", "https://wire.example/fine"))
    pw, event = _poll(tmp_path, sqlite_url, empty_server, feed)
    assert event["status"] == "ok" and event["new"] == len(links) + 1
    failures = [i["failure"] for i in items(pw) if i["title"].startswith("Bad link")]
    assert len(failures) == len(links) and all("invalid URL" in f for f in failures), failures


@pytest.mark.slow
def test_a_10000_entry_feed_is_stored_once(tmp_path, sqlite_url, empty_server, monkeypatch):
    monkeypatch.setenv("PRESSWIRE_OUTPUT_QRCODE_DIR", "")  # 10,000 QR code images would be most of the time
    entries = "".join(item(f"g{n}", f"Entry number {n} of the long feed", f"https://wire.example/{n}",
                           f"Summary {n}.") for n in range(10_000))
    pw, event = _poll(tmp_path, sqlite_url, empty_server, rss(entries), NO_PAGES)
    assert event["new"] == 10_000
    started = time.monotonic()
    again = poll_event(pw)
    assert again["new"] == 0 and again["duplicate"] == 10_000
    assert time.monotonic() - started < 120  # generous: a second poll only compares keys


def test_a_feed_body_is_never_taken_for_a_local_file_name(tmp_path, monkeypatch):
    """feedparser opens any bytes it is given as a file name first, when such a file exists; parse_feed hands
    it a stream. Here a file is named exactly as the bytes feedparser gets for a body "secret.xml" (an XML
    declaration, then the body): read as a file, the body would be a feed of that file's entries."""
    from ingest.errors import FeedError
    from ingest.parse import parse_feed
    monkeypatch.chdir(tmp_path)
    secret = ('<rss version="2.0"><channel><title>Local</title><item><title>Secret</title>'
              '<link>https://local.example/secret</link></item></channel></rss>')
    (tmp_path / "<?xml version='1.0' encoding='utf-8'?>\nsecret.xml").write_text(secret)
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        parse_feed(b"secret.xml", "https://wire.example/feed")
