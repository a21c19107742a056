"""End to end on 127.0.0.1, SQLite and PostgreSQL: a wire feed and a syndication partner's feed carry the
same release; `presswire poll` stores both copies in one cluster; a release sharing only the About block
stays a story of its own; `items list` shows stories once, `items show` lists copies and explains."""

from __future__ import annotations

import html
import json
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest

from conftest import Presswire, log_events, write_config
from fixtures.dedup.make_pairs import BASE, load_releases, render_partner, render_prn

RELEASES = load_releases(BASE)


def page(title: str, text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>\n" for line in text.split("\n"))
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>{html.escape(title)}</h1>\n{paragraphs}</article>"
            f"<footer>Copyright</footer></body></html>")


def feed(base: str, items: list[tuple[str, str, str, datetime]]) -> str:
    entries = "".join(
        f"<item><title>{html.escape(title)}</title><link>{html.escape(base + path)}</link>"
        f"<guid isPermaLink='false'>{html.escape(guid)}</guid><pubDate>{format_datetime(when)}</pubDate></item>"
        for title, path, guid, when in items)
    return (f"<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>t</title>"
            f"<link>{base}/</link><description>d</description>{entries}</channel></rss>")


@pytest.fixture
def two_feeds(tmp_path, db_url, empty_server):
    """A wire feed (release X, release Y of the same company) and a partner feed (a copy of X behind a
    tracking-parameter link, and release Z of the same company: it shares only the boilerplate with X)."""
    srv = empty_server
    x, y, z = (RELEASES[r] for r in ("vltx-nevada-plant", "vltx-q4-results", "vltx-utility-deal"))
    day = datetime(2025, 3, 4, 13, 5, tzinfo=timezone.utc)
    later = datetime(2025, 3, 5, 3, 5, tzinfo=timezone.utc)
    pages = {
        "/wire/x.html": render_prn(x, x.paragraphs, 1),
        "/wire/y.html": render_prn(y, y.paragraphs, 2),
        "/partner/x-copy.html": render_partner(x, x.paragraphs, 2, render_prn),
        "/partner/z.html": render_partner(z, z.paragraphs, 2, render_prn),
    }
    for path, copy in pages.items():
        srv.route(path, body=page(copy.title, copy.text), headers={"Content-Type": "text/html; charset=utf-8"})
    rss = {"Content-Type": "application/rss+xml"}
    srv.route("/wire/feed.xml", headers=rss, body=feed(srv.base, [
        (x.title, "/wire/x.html", "wire-x", day), (y.title, "/wire/y.html", "wire-y", day)]))
    srv.route("/partner/feed.xml", headers=rss, body=feed(srv.base, [
        (x.title + " | MarketPulse", "/partner/x-copy.html?utm_source=rss&utm_medium=feed", "p-x", later),
        (z.title, "/partner/z.html", "p-z", later)]))
    config = write_config(tmp_path / "presswire.toml", db_url,
                          [(srv.url("/wire/feed.xml"), "Wire"), (srv.url("/partner/feed.xml"), "Partner")])
    return Presswire(config)


def _list(presswire, *args: str) -> list[dict]:
    return [json.loads(line) for line in presswire("items", "list", "--json", *args).stdout.splitlines()]


def test_same_release_from_two_sources_is_one_story_with_two_copies(two_feeds):
    poll = two_feeds("poll")
    assert "4 new items" in poll.stderr and "1 new items are copies" in poll.stderr
    assert sum(e.get("copies", 0) for e in log_events(poll) if e["event"] == "poll") == 1
    stories = _list(two_feeds)
    assert len(stories) == 3  # X (two copies), Y, Z
    copies = {s["title"].split(" | ")[0]: s["copies"] for s in stories}
    x_title = RELEASES["vltx-nevada-plant"].title
    assert copies == {x_title: 2, RELEASES["vltx-q4-results"].title: 1, RELEASES["vltx-utility-deal"].title: 1}
    x_story = next(s for s in stories if s["copies"] == 2)
    assert x_story["source"] == "Wire" and x_story["canonical"]  # the earliest copy
    every = _list(two_feeds, "--all-copies")
    assert len(every) == 4
    x_copies = [i for i in every if i["cluster_id"] == x_story["cluster_id"]]
    assert {i["source"] for i in x_copies} == {"Wire", "Partner"}
    partner_copy = next(i for i in x_copies if i["source"] == "Partner")
    assert "utm_" not in partner_copy["source_link"]
    # the sources are polled at once: whichever copy was saved second matched the first
    second = next(i for i in x_copies if i["match"])
    first = next(i for i in x_copies if i is not second)
    assert first["match"] is None
    match = second["match"]
    assert match["matched_id"] == first["article_id"] and match["method"] in ("jaccard", "containment")
    assert match["similarity"] >= 0.7


def test_items_show_lists_copies_and_explains_the_match(two_feeds):
    two_feeds("poll")
    every = _list(two_feeds, "--all-copies")
    partner_copy = next(i for i in every if i["match"])  # the copy saved second (Wire's or Partner's)
    shown = two_feeds("items", "show", str(partner_copy["article_id"]))
    assert shown.stdout.startswith("+++\n")  # the document itself is unchanged, on stdout
    explanation = shown.stderr
    assert "2 copies" in explanation
    assert f"item {partner_copy['match']['matched_id']}" in explanation
    method = {"jaccard": "shingle Jaccard", "containment": "shingle containment"}[partner_copy["match"]["method"]]
    assert f"by {method}, similarity {partner_copy['match']['similarity']:.2f}" in explanation
    alone = next(i for i in every if i["copies"] == 1)
    lonely = two_feeds("items", "show", str(alone["article_id"])).stderr
    assert "1 copy" in lonely and "first stored copy" in lonely


def test_polling_again_adds_no_copies(two_feeds):
    two_feeds("poll")
    again = two_feeds("poll")
    assert "0 new items" in again.stderr
    assert len(_list(two_feeds, "--all-copies")) == 4


def test_dedup_can_be_turned_off(two_feeds):
    config = two_feeds.config
    config.write_text(config.read_text() + "\n[dedup]\nenabled = false\n")
    two_feeds("poll")
    assert len(_list(two_feeds)) == 4



def test_the_pages_own_rel_canonical_names_the_item_when_it_is_on_the_same_site(tmp_path, sqlite_url, empty_server):
    """A mobile page's <link rel=canonical> (same site) becomes the item's source_link; a cross-site canonical
    (a partner's page pointing at the wire) is refused: it could let any page take another site's URL."""
    srv = empty_server
    x, z = RELEASES["vltx-nevada-plant"], RELEASES["vltx-utility-deal"]
    day = datetime(2025, 3, 4, 13, 5, tzinfo=timezone.utc)
    head = "<head><title>{}</title>"
    mobile = page(x.title, render_prn(x, x.paragraphs, 1).text).replace(
        head.format(html.escape(x.title)), head.format(html.escape(x.title)) + '<link rel="canonical" href="/wire/x.html">')
    partner = page(z.title, render_prn(z, z.paragraphs, 1).text).replace(
        head.format(html.escape(z.title)), head.format(html.escape(z.title)) +
        '<link rel="canonical" href="https://wire.example/z.html">')
    for path, body in (("/m/x.html", mobile), ("/partner/z.html", partner)):
        srv.route(path, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
    srv.route("/feed.xml", headers={"Content-Type": "application/rss+xml"}, body=feed(srv.base, [
        (x.title, "/m/x.html?utm_source=rss", "x", day), (z.title, "/partner/z.html", "z", day)]))
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(srv.url("/feed.xml"), "Wire")]))
    pw("poll")
    links = {i["title"]: i["source_link"] for i in
             (json.loads(line) for line in pw("items", "list", "--json").stdout.splitlines())}
    assert links == {x.title: srv.url("/wire/x.html"), z.title: srv.url("/partner/z.html")}
