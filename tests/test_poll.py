"""End to end: `presswire poll` against the fixture site on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from conftest import IBN_SITE, Presswire, log_events, write_config
from ingest.qr import qr_png


def _items(presswire) -> list[dict]:
    out = presswire("items", "list", "--json").stdout
    return [json.loads(line) for line in out.splitlines()]


def test_poll_stores_every_item_once_and_second_poll_stores_nothing(presswire):
    first = presswire("poll")
    assert "4 new items" in first.stderr
    items = _items(presswire)
    assert len(items) == 4
    assert len({i["feed_item_id"] for i in items}) == 4
    second = presswire("poll")
    assert "0 new items, 4 duplicates" in second.stderr
    assert _items(presswire) == items


def test_items_keep_feed_content_and_reason_when_page_fails(presswire):
    presswire("poll")
    by_title = {i["title"]: i for i in _items(presswire)}
    missing = by_title["Northfield Minerals Corp. & the Lithium Supply Question: What Investors Should Watch"]
    assert missing["method"] == "feed"
    assert "HTTP 404" in missing["failure"]
    assert missing["body_html"].startswith("<p>Northfield Minerals Corp. (OTCQB: NFMC) is advancing")
    shell = by_title["Solid-State Startups Draw Record Venture Funding in First Quarter"]
    assert shell["method"] == "feed"
    assert "no article text found" in shell["failure"]  # a JS shell: only a <noscript> notice
    assert shell["trail"].startswith("fast: 0 chars, empty; fallback: 0 chars; feed: ")
    full = by_title["Helio Grid Systems Inc. (NASDAQ: HGRD) Announces 40 MWh Storage Contract with Western Utility"]
    assert full["method"] == "container" and full["failure"] is None and full["trail"].startswith("container <")
    assert "<h2>Project details</h2>" in full["body_html"]
    assert "<li>Capacity: 40 MWh over four hours</li>" in full["body_html"]
    assert "Trending" not in full["body_html"]  # page chrome is not the article


def test_page_timeout_keeps_item_and_is_retried_on_a_later_poll(tmp_path, db_url, server):
    page = "/bdc/helio-grid-systems-announces-storage-contract/"
    server.route(page, status=200, body=(IBN_SITE / "bdc/helio-grid-systems-announces-storage-contract/index.html")
                 .read_bytes(), headers={"Content-Type": "text/html"}, delay=1.5)
    config = write_config(tmp_path / "c.toml", db_url, [(server.url("/bdc/feed.xml"), "IBN")])
    config.write_text(config.read_text().replace("[http]\n", "[http]\nread_timeout = 0.5\n"))
    pw = Presswire(config)
    pw("poll")
    helio = next(i for i in _items(pw) if i["title"].startswith("Helio Grid"))
    assert helio["method"] == "feed" and "timed out" in helio["failure"]
    del server.routes[page]  # the page answers quickly now
    result = pw("poll")
    assert "0 new items" in result.stderr
    helio = next(i for i in _items(pw) if i["title"].startswith("Helio Grid"))
    assert helio["method"] == "container" and helio["failure"] is None
    assert "<h2>Project details</h2>" in helio["body_html"]


def test_a_page_retried_takes_the_title_and_date_the_entry_did_not_give(tmp_path, sqlite_url, empty_server):
    """Regression: a page tried again kept the stand-ins stored when it failed, "(untitled)" and the day it
    was seen, though the entry had no title or date of its own and the page now gave both. Its QR code image
    still encoded the entry's link when the page named another canonical one, and the band keys of its feed
    summary stayed filed under the day it was seen (dedup looks for copies by day)."""
    srv = empty_server
    summary = " ".join(f"Grid operators in region {i} signed storage contracts worth {i} million." for i in range(9))
    srv.route("/feed.xml", headers={"Content-Type": "application/rss+xml"}, body=(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f'<item><link>{srv.url("/news/1/")}</link><guid>n-1</guid><description>{summary}</description></item>'
        "</channel></rss>"))
    srv.route("/news/1/", status=503, body="busy", headers={"Content-Type": "text/plain"})
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(srv.url("/feed.xml"), "Wire")]))
    pw("poll")
    (item,) = _items(pw)
    assert item["title"] == "(untitled)" and "HTTP 503" in item["failure"]
    sentences = " ".join(f"Sentence {i} says the grid contract was signed." for i in range(8))
    srv.route("/news/1/", headers={"Content-Type": "text/html; charset=utf-8"}, body=(
        '<html><head><title>Grid contract signed</title><meta property="article:published_time" '
        'content="2025-03-04T09:00:00Z"><link rel="canonical" href="/news/grid-contract-signed/"></head><body>'
        f"<article><h1>Grid contract signed</h1><p>{sentences}</p></article></body></html>"))
    pw("poll")
    (item,) = _items(pw)
    assert item["failure"] is None and (item["title"], item["date"]) == ("Grid contract signed", "2025-03-04T09:00:00Z")
    assert item["url"].endswith("-untitled")  # the slug (the item's address, its QR code's name) stays
    assert item["source_link"] == srv.url("/news/grid-contract-signed/")
    assert (tmp_path / item["qrcode"]).read_bytes() == qr_png(item["source_link"])
    with sqlite3.connect(tmp_path / "presswire.db") as db:
        days = {day for (day,) in db.execute("SELECT item_day FROM item_bands")}
    assert days == {(date(2025, 3, 4) - date(1970, 1, 1)).days}


def test_malformed_feed_stores_what_could_be_read_and_logs_the_problem(tmp_path, sqlite_url, server):
    feed = (IBN_SITE / "bdc/feed.xml").read_text().replace("__BASE__", server.base)
    broken = feed.replace("</channel>\n</rss>", "").replace("<title>Solid-State", "<title>Solid-State &bogus;")
    server.route("/broken.xml", body=broken, headers={"Content-Type": "application/rss+xml"})
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/broken.xml"), "Broken")]))
    logs = log_events(pw("poll"))
    assert len(_items(pw)) >= 3
    poll_events = [e for e in logs if e["event"] == "poll"]
    assert poll_events[0]["status"] == "ok"
    assert "malformed feed" in poll_events[0]["problem"]


def test_non_feed_is_a_clear_per_source_error_and_other_sources_still_poll(tmp_path, sqlite_url, server):
    server.route("/page.html", body="<!DOCTYPE html><html><body><p>Hello</p></body></html>",
                 headers={"Content-Type": "text/html"})
    server.route("/empty.xml", body="", headers={"Content-Type": "application/rss+xml"})
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [
        (server.url("/page.html"), "Not a feed"), (server.url("/empty.xml"), "Empty"),
        (server.url("/bdc/feed.xml"), "IBN")]))
    result = pw("poll")
    logs = log_events(result)
    assert "4 new items" in result.stderr and "2 sources failed" in result.stderr
    errors = {e["url"]: e["error"] for e in logs if e["event"] == "poll" and e["status"] == "error"}
    assert "not an RSS or Atom feed (got an HTML page)" in errors[server.url("/page.html")]
    assert "empty response body" in errors[server.url("/empty.xml")]
    listing = pw("sources", "list", "--json").stdout
    states = {json.loads(line)["url"]: json.loads(line) for line in listing.splitlines()}
    assert states[server.url("/page.html")]["error_count"] == 1
    assert "HTML page" in states[server.url("/page.html")]["last_error"]
    assert states[server.url("/bdc/feed.xml")]["error_count"] == 0


def test_unreachable_host_is_recorded_not_raised(tmp_path, sqlite_url, server):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"  # bound, not listening: refused
        pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(dead, "Dead"),
                                                                       (server.url("/bdc/feed.xml"), "IBN")]))
        result = pw("poll")
    assert "4 new items" in result.stderr and "1 sources failed" in result.stderr


def test_poll_one_source_by_id_url_or_name(tmp_path, sqlite_url, server):
    server.route("/other.xml", body="<rss version='2.0'><channel><title>o</title></channel></rss>",
                 headers={"Content-Type": "application/rss+xml"})
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/other.xml"), "Other"),
                                                                   (server.url("/bdc/feed.xml"), "IBN")]))
    assert "polled 1 sources: 0 new items" in pw("poll", "--source", "1").stderr
    assert "polled 1 sources: 4 new items" in pw("poll", "--source", server.url("/bdc/feed.xml")).stderr
    assert "polled 1 sources: 0 new items, 4 duplicates" in pw("poll", "--source", "IBN").stderr  # as `sources` takes
    missing = pw("poll", "--source", "99", ok=False)
    assert missing.exit_code == 3 and "no such source" in missing.stderr


def test_sources_add_and_list(tmp_path, sqlite_url, server):
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url))
    assert "added: source 1" in pw("sources", "add", server.url("/bdc/feed.xml"), "--name", "IBN").stdout
    assert "already present" in pw("sources", "add", server.url("/bdc/feed.xml")).stdout
    bad = pw("sources", "add", "ftp://example.com/feed", ok=False)
    assert bad.exit_code != 0 and "not an http(s) URL" in bad.stderr
    rows = [json.loads(line) for line in pw("sources", "list", "--json").stdout.splitlines()]
    assert [(r["id"], r["name"], r["status"]) for r in rows] == [(1, "IBN", "active")]
    pw("poll")
    rows = [json.loads(line) for line in pw("sources", "list", "--json").stdout.splitlines()]
    assert rows[0]["item_count"] == 4 and rows[0]["last_polled_at"] and rows[0]["next_poll_at"]


def test_poll_logs_one_json_line_per_source(tmp_path, sqlite_url, server):
    import subprocess
    import sys
    config = write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/bdc/feed.xml"), "IBN")])
    proc = subprocess.run([sys.executable, "-m", "ingest", "--config", str(config), "poll"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    polls = [line for line in lines if line["event"] == "poll"]
    assert len(polls) == 1
    assert {"source", "status", "new", "duplicate", "failed", "elapsed_ms", "timestamp"} <= set(polls[0])
    assert polls[0]["new"] == 4 and polls[0]["failed"] == 2


def png_modules(png: bytes, scale: int = 4, border: int = 2) -> list[list[bool]]:
    """Read back a 1-bit grayscale PNG written by ingest.qr: the dark modules, sampled at their centres."""
    import struct
    import zlib
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, {}
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunks[kind] = chunks.get(kind, b"") + png[pos + 8:pos + 8 + size]
        pos += 12 + size
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert width == height and (depth, color) == (1, 0)
    raw, stride = zlib.decompress(chunks[b"IDAT"]), 1 + (width + 7) // 8
    rows = [raw[i * stride + 1:(i + 1) * stride] for i in range(height)]
    assert all(raw[i * stride] == 0 for i in range(height))  # filter type 0
    dark = [[not (row[x // 8] >> (7 - x % 8)) & 1 for x in range(width)] for row in rows]
    size = width // scale - 2 * border
    return [[dark[(border + y) * scale + scale // 2][(border + x) * scale + scale // 2] for x in range(size)]
            for y in range(size)]


def test_poll_writes_a_qr_code_of_each_items_source_link(tmp_path, presswire):
    import segno
    presswire("poll")
    items = _items(presswire)
    for item in items:
        assert item["qrcode"] == f"qrcodes/{item['url']}.png"
        png = (tmp_path / item["qrcode"]).read_bytes()  # [output] qrcode_dir = <tmp>/qrcodes
        expected = segno.make(item["source_link"], error="m", mask=0, micro=False).matrix
        assert png_modules(png) == [[bool(m) for m in row] for row in expected]  # exactly this item's link
    assert len(list((tmp_path / "qrcodes").glob("*.png"))) == len(items) == 4
    assert not list((tmp_path / "qrcodes").glob("*.tmp"))


def test_a_link_too_long_for_a_qr_code_has_no_qr_code_and_the_poll_goes_on(tmp_path, sqlite_url, empty_server):
    srv = empty_server
    long_path = "/news/" + "a" * 2400  # a QR code holds at most 2,331 bytes
    srv.route("/feed.xml", headers={"Content-Type": "application/rss+xml"}, body=f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>T</title><link>{srv.base}/</link>
<item><title>Long one</title><link>{srv.base}{long_path}</link><guid>g1</guid><description>Text.</description></item>
<item><title>Short one</title><link>{srv.base}/news/b</link><guid>g2</guid><description>Text.</description></item>
</channel></rss>""")
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(srv.url("/feed.xml"), "S")],
                                extra="[poll]\nfetch_articles = false\n"))
    logs = log_events(pw("poll"))
    (poll,) = [e for e in logs if e["event"] == "poll"]
    assert (poll["status"], poll["new"]) == ("ok", 2)
    by_title = {i["title"]: i for i in _items(pw)}
    assert [e["error"].split(":")[0] for e in logs if e["event"] == "qrcode"] == [by_title["Long one"]["url"]]
    assert by_title["Long one"]["qrcode"] == ""  # no image, and no path to a missing one
    assert by_title["Short one"]["qrcode"] == "qrcodes/" + by_title["Short one"]["url"] + ".png"
    assert [p.name for p in (tmp_path / "qrcodes").iterdir()] == [by_title["Short one"]["url"] + ".png"]
    pw("export", "--out", str(tmp_path / "site"))  # the Hugo export draws the QR codes again
    assert sorted(p.name for p in (tmp_path / "site" / "qrcodes").iterdir()) == [by_title["Short one"]["url"] + ".png"]


def test_a_qr_code_batch_writes_what_it_can_and_names_what_it_could_not(tmp_path):
    from ingest.qr import write_qrcode_batch
    errors = write_qrcode_batch(tmp_path, [("ok", "https://example.com/a"), ("long", "https://example.com/" + "x" * 4000),
                                           ("after", "https://example.com/b")])
    assert [e.split(":")[0] for e in errors] == ["long"]  # too long for any QR code version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.png", "ok.png"]
