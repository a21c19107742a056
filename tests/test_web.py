"""The read-only web app served by uvicorn on 127.0.0.1: JSON API filters and pagination, Atom, escaping."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import pytest
from lxml import etree
import httpx
from sqlalchemy import text

from ingest.atom import ATOM_NS, FeedInfo, atom_feed
from ingest.web import create_app
from ingest.model import ItemQuery
from ingest.web.app import SECURITY_HEADERS, WebConfig
from reading import STORY, T0, LiveServer, add_source, make_item, open_store, promo, replace, save, set_columns
from store import queries, repository

EVIL = 'Evil <script>alert("pwned")</script> & <img src=x onerror=alert(1)>'


@pytest.fixture
def site(db_url):
    engine, sessions = open_store(db_url)
    a = add_source(sessions, "https://a.example/feed", "A Wire")
    b = add_source(sessions, "https://b.example/feed", "B <b>Wire</b>")
    ids = save(sessions, a, [make_item(n, f"Alpha story {n}", body=f"Alpha body {n} about lithium.") for n in range(1, 6)])
    ids += save(sessions, b, [make_item(6, EVIL, body="Cobalt.", promo=promo("promotional", ("OTC:EVIL",))),
                              make_item(7, "Beta copper story", body="Copper.", promo=promo("news", ("NYSE:CU",)))])
    set_columns(sessions, ids[5], body_html='<p onclick="x()">Cobalt.<script>alert(2)</script></p>',
                failure_reason="fetch https://b.example/6: HTTP 404 <i>gone</i>")
    app = create_app(sessions, WebConfig(page_size=3, feed=FeedInfo(title="Test feed", self_url="http://t/feed.atom",
                                                                    site_url="http://t")), clock=lambda: T0)
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        yield client, ids, (a, b)
    engine.dispose()


def test_api_filters_and_pagination(site):
    client, ids, (a, b) = site
    first = client.get("/api/items").json()
    assert (first["total"], first["page"], first["limit"], first["prev"]) == (7, 1, 3, None)
    assert [i["title"] for i in first["items"]] == ["Beta copper story", EVIL, "Alpha story 5"]
    seen, url = [], "/api/items"
    while url:
        page = client.get(url).json()
        seen += [i["article_id"] for i in page["items"]]
        url = page["next"]
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert [i["title"] for i in client.get(f"/api/items?source={b}&limit=10").json()["items"]] == \
        ["Beta copper story", EVIL]
    window = client.get("/api/items", params={"since": "2025-05-15T14:00:00Z", "until": "2025-05-15T16:00Z"}).json()
    assert [i["title"] for i in window["items"]] == ["Alpha story 3", "Alpha story 2"]
    searched = client.get("/api/items", params={"q": "lithium", "limit": 2}).json()
    assert searched["total"] == 5 and len(searched["items"]) == 2
    assert searched["next"] == f"/api/items?q=lithium&limit=2&max_id={max(ids)}&page=2"
    assert [i["title"] for i in client.get("/api/items?label=promotional").json()["items"]] == [EVIL]
    assert [i["title"] for i in client.get("/api/items?ticker=cu").json()["items"]] == ["Beta copper story"]
    assert client.get("/api/items?label=spam").status_code == 400


def test_a_walk_through_the_pages_neither_repeats_nor_skips_items_stored_meanwhile(db_url):
    """`presswire run` stores items while a reader pages: one newer than all (which pushed every page's
    last item onto the next page, shown twice) and one dated between the pages (which pushed one past the
    end of the page being read, never shown). A walk reads the items stored when it began."""
    engine, sessions = open_store(db_url)
    source = add_source(sessions)
    ids = save(sessions, source, [make_item(n, f"Story {n}") for n in range(1, 8)])
    app = create_app(sessions, WebConfig(page_size=3), clock=lambda: T0)
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        first, html = client.get("/api/items").json(), client.get("/").text
        late = save(sessions, source, [make_item(20, "Newest story"),
                                       make_item(21, "Older story", date=T0 + timedelta(minutes=150))])
        seen, url = [i["article_id"] for i in first["items"]], first["next"]
        while url:
            page = client.get(url).json()
            assert page["total"] == len(ids)
            seen += [i["article_id"] for i in page["items"]]
            url = page["next"]
        older = html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
        second = client.get(older).text
        fresh = [i["article_id"] for i in client.get("/api/items?limit=100").json()["items"]]
        bad = client.get("/api/items?max_id=x")
    engine.dispose()
    assert seen == ids[::-1]
    assert f"max_id={max(ids)}" in older
    assert [f'href="/items/{i}"' in second for i in ids[::-1]] == [False] * 3 + [True] * 3 + [False]
    assert not any(f'href="/items/{i}"' in second for i in late)
    assert set(late) <= set(fresh)  # a new walk has them
    assert bad.status_code == 400 and "max_id 'x'" in bad.json()["error"]


def test_totals_are_counted_up_to_a_cap_and_a_capped_total_still_pages_to_the_end(db_url):
    """Every page counted all its matching items: 220-870 ms on SQLite, 145 ms on PostgreSQL at 200,000 items.
    The count stops at [web]'s count_cap (or at the end of a deeper page): `total_capped` says more match."""
    engine, sessions = open_store(db_url)
    source = add_source(sessions)
    ids = save(sessions, source, [make_item(n, f"Story {n}", body="Lithium.") for n in range(1, 8)])
    with sessions.begin() as s:  # count_items itself: exact up to at_most, at_most + 1 beyond, searches too
        assert [queries.count_items(s, ItemQuery(search=q), at_most=n) for q, n in
                (("", 3), ("", 7), ("lithium", 6), ("lithium", None), ("story 4", 3))] == [4, 7, 7, 7, 1]
    app = create_app(sessions, WebConfig(page_size=2, count_cap=3), clock=lambda: T0)
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        pages, url = [], "/api/items?q=lithium"
        while url:
            pages.append(client.get(url).json())
            url = pages[-1]["next"]
        html = [client.get("/", params={"page": page}).text for page in (1, 4)]
        few = client.get("/api/items", params={"q": "story 4"}).json()
    engine.dispose()
    assert [(p["total"], p["total_capped"], len(p["items"])) for p in pages] == \
        [(3, True, 2), (4, True, 2), (6, True, 2), (7, False, 1)]  # counted to max(cap, the page's end)
    assert sorted(i["article_id"] for p in pages for i in p["items"]) == ids
    assert "More than 3 items" in html[0] and "Page 1 of more than 2" in html[0] and 'rel="next"' in html[0]
    assert "7 items" in html[1] and "Page 4 of 4" in html[1] and 'rel="next"' not in html[1]
    assert (few["total"], few["total_capped"], few["next"]) == (1, False, None)


def test_api_item_sources_and_errors(site):
    client, ids, (a, b) = site
    item = client.get(f"/api/items/{ids[5]}").json()
    assert item["title"] == EVIL and item["source"] == "B <b>Wire</b>"
    assert item["body_html"] == "<p>Cobalt.</p>"  # sanitized on the way out
    assert item["presswire"]["label"] == "promotional" and item["presswire"]["tickers"] == ["OTC:EVIL"]
    assert item["presswire"]["reasons"][0]["match"] == "may receive compensation"
    assert list(item)[:12] == ["title", "date", "draft", "summary", "description", "source_link", "enclosure",
                               "article_id", "feed_item_id", "url", "qrcode", "source"]
    sources = client.get("/api/sources").json()["sources"]
    assert [(s["id"], s["name"], s["item_count"]) for s in sources] == [(a, "A Wire", 5), (b, "B <b>Wire</b>", 2)]
    assert client.get("/api/items/999999").status_code == 404
    assert client.get("/items/999999").status_code == 404
    bad = client.get("/api/items?since=soon")
    assert bad.status_code == 400 and "since 'soon'" in bad.json()["error"]
    assert client.get("/api/items?limit=0").status_code == 400
    assert client.get("/api/items?page=-1").status_code == 400


def test_a_search_of_more_than_50_words_is_a_400_not_seconds_of_ranking(site):
    """Every word of `q` is one more term matched and ranked for every candidate: 3,000 copies of "lithium"
    (a 24 kB URL) kept SQLite busy for 21 s and PostgreSQL for 7 s, for the same items as one copy."""
    client, _ids, _ = site
    assert [i["title"] for i in client.get("/api/items", params={"q": " ".join(["lithium"] * 50)}).json()["items"]] \
        == [f"Alpha story {n}" for n in (5, 4, 3)]
    for path in ("/api/items", "/feed.atom", "/"):
        bad = client.get(path, params={"q": " ".join(["lithium"] * 3000)})
        assert bad.status_code == 400 and "search text of 3000 words: at most 50 words" in bad.text, path


def test_dates_beyond_year_1_to_9999_are_a_400(site):
    client, _ids, _ = site
    for path in ("/api/items?since=1000000d", "/api/items?until=99999999999999d", "/feed.atom?until=1000000d"):
        bad = client.get(path)
        assert bad.status_code == 400 and "out of range" in bad.json()["error"], path
    bad = client.get("/feed.atom", params={"since": "0001-01-01T00:00:00+01:00"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("since '0001-01-01T00:00:00+01:00': out of range")
    page = client.get("/?since=1000000d")
    assert page.status_code == 400 and "since &#39;1000000d&#39;: out of range" in page.text


def test_ids_too_large_for_the_database_are_not_found(site):
    """Id columns are 64-bit on SQLite, 32-bit on PostgreSQL: a larger number is a 404 (or a 400 for
    ?source=, checked against the smaller), never a failed query."""
    client, _ids, _ = site
    for article_id in ("99999999999999999999", "9223372036854775808", "2147483648"):
        assert client.get(f"/api/items/{article_id}").json() == {"error": f"no item {article_id}"}
        assert client.get(f"/items/{article_id}").status_code == 404
    bad = client.get("/api/items?source=2147483648")
    assert bad.status_code == 400 and "from 1 to 2147483647" in bad.json()["error"]
    assert client.get("/api/items?source=2147483647").json()["total"] == 0


def test_atom_feed_parses_and_has_the_required_elements(site):
    client, ids, _ = site
    response = client.get("/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo and parsed.version == "atom10"
    assert parsed.feed.title == "Test feed" and parsed.feed.links[0].href == "http://t/feed.atom"
    assert [e.title for e in parsed.entries] == ["Beta copper story", "Alpha story 5", "Alpha story 4"]  # newest
    promotional = feedparser.parse(client.get("/feed.atom?label=promotional").content)  # only when asked
    assert [e.title for e in promotional.entries] == [EVIL]
    root = etree.fromstring(response.content)
    ns = {"a": ATOM_NS}
    for path in ("a:id", "a:title", "a:updated", "a:author/a:name"):
        assert root.xpath(f"string({path})", namespaces=ns), path
    for entry in root.xpath("a:entry", namespaces=ns):
        for path in ("a:id", "a:title", "a:updated", "a:link[@rel='alternate']/@href", "a:content"):
            assert entry.xpath(f"string({path})", namespaces=ns), path
    evil = promotional.entries[0]
    assert "script" not in evil.content[0].value and "onclick" not in evil.content[0].value
    assert [e.title for e in feedparser.parse(client.get("/feed.atom?q=copper").content).entries] == \
        ["Beta copper story"]


def _feed_id_and_self(client: httpx.Client, path: str) -> tuple[str, list[str]]:
    parsed = feedparser.parse(client.get(path).content)
    return parsed.feed.id, [link.href for link in parsed.feed.get("links", []) if link.rel == "self"]


def test_each_filtered_feed_has_its_own_id_and_self_link(site):
    """A feed's self link is its own URL, query included ([web] base_url's, here http://t), and its id comes
    from that URL: other filters are another feed; the same feed read again keeps its id."""
    client, _ids, (a, b) = site
    feeds = {path: _feed_id_and_self(client, path)
             for path in ("/feed.atom", f"/feed.atom?source={a}", f"/feed.atom?source={b}",
                          "/feed.atom?label=promotional")}
    assert {path: links for path, (_id, links) in feeds.items()} == {
        path: [f"http://t{path}"] for path in feeds}
    assert len({feed_id for feed_id, _links in feeds.values()}) == 4
    assert _feed_id_and_self(client, f"/feed.atom?source={a}") == feeds[f"/feed.atom?source={a}"]


def test_without_a_base_url_a_feed_is_identified_by_the_url_it_was_requested_at(db_url):
    """No [web] base_url (the default): the self link is the URL as requested, and the id comes from it, not
    from the title alone (which every install shares)."""
    engine, sessions = open_store(db_url)
    source = add_source(sessions)
    save(sessions, source, [make_item(1, "Story")])
    app = create_app(sessions, WebConfig(page_size=10), clock=lambda: T0)
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        plain = _feed_id_and_self(client, "/feed.atom")
        filtered = _feed_id_and_self(client, f"/feed.atom?source={source}&q=story")
        again = _feed_id_and_self(client, f"/feed.atom?source={source}&q=story")
    engine.dispose()
    assert plain[1] == [f"{live.base}/feed.atom"]
    assert filtered[1] == [f"{live.base}/feed.atom?source={source}&q=story"]
    assert plain[0] != filtered[0] and filtered == again
    assert plain[0] != feedparser.parse(atom_feed([], FeedInfo(), T0)).feed.id  # the title's id


def test_an_entry_is_updated_when_a_later_poll_fetches_its_page(db_url):
    """An item first stored with the feed's summary (its page failed) gets its page on a later poll: its entry's
    <updated>, and the feed's, move to that poll, so readers fetch the new content; <published> stays its date."""
    engine, sessions = open_store(db_url)
    source = add_source(sessions)
    [first] = save(sessions, source, [replace(make_item(1, "Teaser", body="Feed summary only."), failure="HTTP 503",
                                              retryable=True)])
    save(sessions, source, [make_item(2, "Other story")])
    later = T0 + timedelta(days=2)
    with sessions.begin() as s:
        repository.update_page(s, first, make_item(1, "Teaser", body="The whole article, fetched at last."), now=later)
    app = create_app(sessions, WebConfig(page_size=10), clock=lambda: later + timedelta(days=1))
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        root = etree.fromstring(client.get("/feed.atom").content)
    engine.dispose()
    ns = {"a": ATOM_NS}
    entries = {e.xpath("string(a:title)", namespaces=ns): e for e in root.xpath("a:entry", namespaces=ns)}
    teaser, other = entries["Teaser"], entries["Other story"]
    assert "The whole article" in teaser.xpath("string(a:content)", namespaces=ns)
    assert teaser.xpath("string(a:updated)", namespaces=ns) == "2025-05-17T12:00:00Z"
    assert teaser.xpath("string(a:published)", namespaces=ns) == "2025-05-15T13:00:00Z"  # the item's date
    assert other.xpath("string(a:updated)", namespaces=ns) == "2025-05-15T12:00:00Z"  # stored, never changed
    assert root.xpath("string(a:updated)", namespaces=ns) == "2025-05-17T12:00:00Z"


def test_pages_escape_item_text_and_send_a_strict_policy(site):
    client, ids, _ = site
    index = client.get("/?q=cobalt")
    assert index.status_code == 200
    assert "<script>alert" not in index.text and "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in index.text
    assert "script-src" not in index.headers["content-security-policy"]
    assert "default-src 'none'" in index.headers["content-security-policy"]
    page = client.get(f"/items/{ids[5]}")
    assert "<script>" not in page.text and "onclick" not in page.text and "<img src=x" not in page.text
    assert "HTTP 404 &lt;i&gt;gone&lt;/i&gt;" in page.text  # the reason, as text
    assert "B &lt;b&gt;Wire&lt;/b&gt;" in page.text
    reflected = client.get("/", params={"q": '"><script>alert(3)</script>'})
    assert "<script>alert(3)" not in reflected.text


def test_an_untitled_item_is_named_by_its_url_in_the_page_title_as_in_its_heading(db_url):
    engine, sessions = open_store(db_url)
    [untitled] = save(sessions, add_source(sessions), [make_item(1, "", slug="2025-05-15-untitled")])
    app = create_app(sessions, WebConfig(page_size=10), clock=lambda: T0)
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        page = client.get(f"/items/{untitled}").text
    engine.dispose()
    assert "<title>2025-05-15-untitled – presswire</title>" in page
    assert '<h1 id="title">2025-05-15-untitled</h1>' in page


def test_a_method_not_allowed_says_which_are(site):
    """A 405 keeps Starlette's Allow header (RFC 9110: required), from the JSON API and the pages alike."""
    client, ids, _ = site
    for path in ("/", f"/items/{ids[0]}", "/api/items", f"/api/items/{ids[0]}", "/feed.atom"):
        response = client.post(path)
        assert response.status_code == 405, path
        assert sorted(response.headers.get("allow", "").split(", ")) == ["GET", "HEAD"], path
    assert client.delete("/api/items").json() == {"error": "Method Not Allowed"}


def test_an_internal_error_carries_the_security_headers_too(db_url):
    """Starlette answers an unhandled exception from its outermost (error) middleware: that 500 carries the
    security headers as every other response does."""
    engine, sessions = open_store(db_url)
    save(sessions, add_source(sessions), [make_item(1, "Story")])
    with sessions.begin() as s:
        s.execute(text("ALTER TABLE items RENAME TO items_gone"))  # every query of items now fails
    app = create_app(sessions, WebConfig(page_size=10), clock=lambda: T0)
    with LiveServer(app) as live:  # one connection per request: uvicorn closes one after an exception
        responses = [httpx.get(f"{live.base}{path}", timeout=20) for path in ("/", "/api/items", "/feed.atom")]
    engine.dispose()
    for response in responses:
        assert response.status_code == 500
        assert {k: response.headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
    assert responses[1].json() == {"error": "Internal Server Error"}  # the API's errors are JSON, all of them


def test_a_syndicated_story_is_listed_once_and_its_page_shows_every_copy(db_url):
    engine, sessions = open_store(db_url)
    wire = add_source(sessions, "https://wire.example/feed", "Origin Wire")
    blog = add_source(sessions, "https://blog.example/feed", "Syndicator <i>Blog</i>")
    [first] = save(sessions, wire, [make_item(1, "Harbor Grid signs storage deal", body=STORY)], dedup=True)
    [copy] = save(sessions, blog, [make_item(2, "Harbor Grid signs storage deal", body=STORY,
                                             link="https://blog.example/harbor")], dedup=True)
    save(sessions, blog, [make_item(3, "Unrelated story", body="Something else entirely.")], dedup=True)
    app = create_app(sessions, WebConfig(page_size=10), clock=lambda: T0)
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        stories = client.get("/api/items").json()
        assert [(i["title"], i["copies"]) for i in stories["items"]] == \
            [("Unrelated story", 1), ("Harbor Grid signs storage deal", 2)]
        assert stories["items"][1]["article_id"] == first and stories["items"][1]["canonical"]
        every = client.get("/api/items?copies=all").json()
        assert sorted(i["article_id"] for i in every["items"] if i["copies"] == 2) == [first, copy]
        assert client.get("/api/items?copies=some").status_code == 400
        story = client.get(f"/api/items/{copy}").json()["story"]
        assert [(c["article_id"], c["canonical"]) for c in story] == [(first, True), (copy, False)]
        assert story[1]["match"]["method"] == "content_hash" and story[1]["match"]["matched_id"] == first
        page = client.get(f"/items/{copy}").text
        assert "Copies of this story (2)" in page and f'href="/items/{first}"' in page
        assert "Syndicator &lt;i&gt;Blog&lt;/i&gt;" in page and "content hash" in page
        assert "2 copies" in client.get("/").text
    engine.dispose()
