"""XML attacks in feeds: external entities (file and network), billion laughs, quadratic blowup, DTD tricks.

Each feed is polled with `presswire poll` from 127.0.0.1. A canary file in tmp_path must never be read
(its marker appears nowhere in the database file), a second server that an entity points at must never
see a request, entity bombs must not be expanded, and the source gets a clear error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Presswire, write_config
from fixtures.server import FixtureServer
from hostile import HTML_TYPE, RSS_TYPE, item, items, poll_event, presswire_for, rss, source_state

MARKER = "CANARY-7f3a9c"
REFUSED = "refused: the feed's DTD declares XML entities (<!ENTITY ...>)"


@pytest.fixture
def canary(tmp_path) -> Path:
    path = tmp_path / "canary.txt"
    path.write_text(f"{MARKER} secret contents\n")
    return path


@pytest.fixture
def other():
    """Another server an entity or a DTD points at (allowed by the SSRF guard): it must see no request."""
    with FixtureServer(None) as srv:
        srv.route("/evil.dtd", body=f'<!ENTITY leak "{MARKER} from a DTD">',
                  headers={"Content-Type": "application/xml-dtd"})
        srv.route("/entity", body=f"{MARKER} from the network", headers={"Content-Type": "text/plain"})
        yield srv


def _stored_bytes(sqlite_url: str) -> bytes:
    """Everything the database holds on disk (the WAL file too)."""
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


# name -> the feed's prolog; {file}, {net} and {dtd} are the canary file, the other server's entity and DTD
ENTITY_PROLOGS = {
    "file entity": '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{file}">\n]>\n',
    "file entity, one line": '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{file}">]>',
    "network entity": '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{net}">\n]>\n',
    "network entity, one line": '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{net}">]>',
    "parameter entity loading a DTD": '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % ext SYSTEM "{dtd}"> %ext;]>',
    "entity after a comment hiding a tag": '<?xml version="1.0"?><!-- <a> --><!DOCTYPE rss '
                                           '[<!ENTITY xxe SYSTEM "{file}">]>',
    "entity value holding a tag": '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY x "<b>">\n'
                                  '<!ENTITY xxe SYSTEM "{file}">\n]>\n',
    "lowercase, no declaration": '<!doctype rss [<!ENTITY xxe SYSTEM "{file}">]>',
    "UTF-16": '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{file}">\n]>\n',
}


def _entity_feed(name: str, canary: Path, other: FixtureServer) -> bytes:
    prolog = ENTITY_PROLOGS[name].format(file=canary.as_uri(), net=other.url("/entity"), dtd=other.url("/evil.dtd"))
    feed = rss(item("g1", "Title &xxe; &leak; end", "https://wire.example/1", "Summary &xxe; &leak;"), prolog)
    return feed.encode("utf-16") if "UTF-16" in name else feed.encode()


def _bombs() -> dict[str, str]:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb_item = item("b1", "Laughs &l9;", "https://wire.example/b", "&l9;")
    quadratic = item("q1", "Quadratic", "https://wire.example/q", "&a;" * 2000)
    return {
        "billion laughs": rss(bomb_item, f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY l0 "LOL">\n'
                                         + laughs.replace(">", ">\n") + "]>\n"),
        "billion laughs, one line": rss(bomb_item, f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "LOL">{laughs}]>'),
        # feedparser itself keeps entities whose value holds no "&": 100 kB x 2000 = 200 MB of text
        "quadratic blowup": rss(quadratic, '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 100_000
                                + '">\n]>\n'),
    }


@pytest.mark.parametrize("name", list(ENTITY_PROLOGS))
def test_external_entities_are_refused_and_nothing_is_read_or_fetched(tmp_path, sqlite_url, empty_server, canary,
                                                                      other, name):
    empty_server.route("/feed.xml", body=_entity_feed(name, canary, other), headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"), allow="127.0.0.0/8")
    event = poll_event(pw)
    assert event["status"] == "error" and REFUSED in event["error"]
    assert REFUSED in source_state(pw)["last_error"]
    assert other.hits == []
    assert MARKER.encode() not in _stored_bytes(sqlite_url)


@pytest.mark.parametrize("name", list(_bombs()))
def test_entity_bombs_are_refused_without_expanding(tmp_path, sqlite_url, empty_server, name):
    empty_server.route("/feed.xml", body=_bombs()[name], headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    event = poll_event(pw)
    assert REFUSED in event["error"]
    assert items(pw) == []
    assert len(_stored_bytes(sqlite_url)) < 2_000_000  # nothing expanded went anywhere


def test_an_external_dtd_without_entities_is_not_fetched_and_the_feed_is_read(tmp_path, sqlite_url, empty_server,
                                                                              other):
    """RSS 0.91 feeds name Netscape's DTD; the DTD is never loaded, the entries are stored."""
    prolog = f'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" ' \
             f'"{other.url("/evil.dtd")}">\n'
    feed = rss(item("n1", "Plain entry &amp; more", "", "Text &leak; stays text."), prolog)
    empty_server.route("/feed.xml", body=feed, headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"), allow="127.0.0.0/8")
    assert poll_event(pw)["status"] == "ok"
    [stored] = items(pw)
    assert stored["title"] == "Plain entry & more" and MARKER not in stored["body_html"]
    assert other.hits == []


def test_xinclude_is_not_processed(tmp_path, sqlite_url, empty_server, canary):
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{canary.as_uri()}" parse="text"/>'
    empty_server.route("/feed.xml", body=rss(item("x1", f"Included {include}", "", f"Body {include}")),
                       headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    assert MARKER.encode() not in _stored_bytes(sqlite_url)


def test_entities_in_an_article_page_are_not_resolved(tmp_path, sqlite_url, empty_server, canary, other):
    page = (f'<!DOCTYPE html [<!ENTITY xxe SYSTEM "{canary.as_uri()}"><!ENTITY net SYSTEM "{other.url("/entity")}">]>'
            f'<html><body><article><h1>Page</h1>'
            + "<p>An ordinary paragraph of the article, long enough to be the body of this page. &xxe; &net;</p>" * 5
            + "</article></body></html>")
    empty_server.route("/page/", body=page, headers=HTML_TYPE)
    empty_server.route("/feed.xml", body=rss(item("p1", "Page", empty_server.url("/page/"))), headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"), allow="127.0.0.0/8")
    assert poll_event(pw)["status"] == "ok"
    [stored] = items(pw)
    assert "An ordinary paragraph" in stored["body_html"]
    assert MARKER.encode() not in _stored_bytes(sqlite_url) and other.hits == []


def test_opml_entities_are_not_read_nor_expanded(tmp_path, sqlite_url, canary):
    opml = tmp_path / "subs.opml"
    opml.write_text(f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY xxe SYSTEM "{canary.as_uri()}">]>'
                    '<opml version="2.0"><body><outline text="&xxe;" xmlUrl="https://wire.example/feed"/>'
                    '</body></opml>')
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url))
    result = pw("sources", "import", str(opml), ok=False)
    assert result.exit_code != 0 and "external entity" in result.stderr
    assert MARKER not in result.stdout + result.stderr
