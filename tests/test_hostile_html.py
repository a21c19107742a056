"""HTML safety: a page and a feed full of script vectors, polled with `presswire poll`; what is stored, exported
(Hugo, JSON lines, Atom), shown (`items show`) and served (the web item page, the JSON API) holds no script,
style, iframe, event handler or javascript:/data:/vbscript: URL. Bodies are checked by parsing them, not by
pattern alone: only <p>, <h2>-<h4>, lists, block quotes and links with http(s)/mailto hrefs may remain."""

from __future__ import annotations

import json
import re

import feedparser
import httpx
import lxml.html

from hostile import HTML_TYPE, RSS_TYPE, items, poll_event, presswire_for, rss
from ingest import frontmatter
from ingest.atom import FeedInfo
from ingest.web import create_app
from ingest.web.app import WebConfig
from reading import LiveServer, open_store

ALLOWED = {"div", "p", "h2", "h3", "h4", "ul", "ol", "li", "blockquote", "a"}  # div: lxml's wrapper
UNSAFE = re.compile(r"<\s*/?\s*(script|style|iframe|object|embed|svg|math|form|meta|base|img|template)\b"
                    r"|\son[a-z]+\s*=|(javascript|vbscript|data)\s*:", re.IGNORECASE)
ACTIVE = re.compile(r"<\s*(script|iframe|object|embed|svg|math|base)\b|\son[a-z]+\s*=|(javascript|vbscript):",
                    re.IGNORECASE)  # in a whole page, with its own <meta>s, stylesheet and search form
VECTORS = """
<script>alert(1)</script><style>p{color:red}</style>
<iframe src="https://evil.example/frame"></iframe><object data="x.swf"></object><embed src="x.swf">
<svg onload="alert(1)"><script>alert(2)</script></svg><math><mtext><script>alert(3)</script></mtext></math>
<form action="https://evil.example/"><input name="x"><button>Go</button></form>
<meta http-equiv="refresh" content="0;url=javascript:alert(4)"><base href="javascript:alert(5)//">
<img src="x" onerror="alert(6)"><template><script>alert(7)</script></template>
<p onclick="alert(8)" style="background:url(javascript:alert(9))">Styled paragraph with a handler.</p>
<p>Links: <a href="javascript:alert(10)">one</a> <a href="JaVaScRiPt:alert(11)">two</a>
<a href="&#106;avascript:alert(12)">three</a> <a href=" javascript:alert(13)">four</a>
<a href="java&#x09;script:alert(14)">five</a> <a href="data:text/html,&lt;script&gt;alert(15)&lt;/script&gt;">six</a>
<a href="vbscript:msgbox(16)">seven</a> <a href="https://safe.example/ok" onmouseover="alert(17)">safe</a></p>
<p>Escaped text &lt;script&gt;alert(18)&lt;/script&gt; stays text.</p>
"""
ARTICLE = "<p>Paragraph {n} of the hostile article explains the quarterly results in enough detail to keep.</p>"


def _check_body(fragment: str) -> None:
    assert not UNSAFE.search(fragment), UNSAFE.search(fragment)
    if not fragment.strip():
        return
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for el in root.iter():
        assert el.tag in ALLOWED, el.tag
        assert set(el.attrib) <= ({"href"} if el.tag == "a" else set()), el.attrib
        assert el.tag != "a" or el.get("href", "").startswith(("https://", "http://", "mailto:")), el.get("href")


def _poll(tmp_path, sqlite_url, server):
    page = "<html><head>" + VECTORS + "</head><body><article><h1>Hostile page</h1>" + \
           "".join(ARTICLE.format(n=n) + VECTORS for n in range(6)) + "</article></body></html>"
    server.route("/page/", body=page, headers=HTML_TYPE)
    server.route("/gone/", status=404)
    content = f"<content:encoded><![CDATA[{VECTORS}{ARTICLE.format(n=1)}]]></content:encoded>"
    feed = rss(f"<item><title>Page &lt;script&gt;alert(1)&lt;/script&gt;</title><link>{server.url('/page/')}</link>"
               f"<guid>h1</guid><description><![CDATA[{VECTORS}]]></description></item>"
               f"<item><title>From the feed</title><link>{server.url('/gone/')}</link><guid>h2</guid>{content}</item>")
    feed = feed.replace("<rss ", '<rss xmlns:content="http://purl.org/rss/1.0/modules/content/" ')
    server.route("/feed.xml", body=feed, headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    return pw


def test_stored_and_exported_bodies_hold_no_active_content(tmp_path, sqlite_url, empty_server):
    pw = _poll(tmp_path, sqlite_url, empty_server)
    stored = items(pw)
    by_title = {i["title"]: i for i in stored}
    assert by_title["From the feed"]["method"] == "feed"  # the page is gone: the feed's content stands in
    page = by_title["Page <script>alert(1)</script>"]  # an RSS title is text: "<script>" in it is text
    assert "Paragraph 5 of the hostile article" in page["body_html"]
    for i in stored:  # summary, description and title are plain text: "<script>" there is text, escaped on output
        _check_body(i["body_html"])
    pw("export", "--out", str(tmp_path / "hugo"))
    pw("export", "--format", "jsonl", "--out", str(tmp_path / "items.jsonl"))
    pw("export", "--format", "atom", "--out", str(tmp_path / "feed.atom"))
    for doc in (tmp_path / "hugo").glob("*.html"):
        _check_body(frontmatter.parse(doc.read_text()).body)
    for line in (tmp_path / "items.jsonl").read_text().splitlines():
        _check_body(json.loads(line)["body_html"])
    for entry in feedparser.parse((tmp_path / "feed.atom").read_bytes(), sanitize_html=False).entries:
        _check_body(entry.content[0].value)
    for i in stored:
        _check_body(frontmatter.parse(pw("items", "show", str(i["article_id"])).stdout).body)


def test_the_web_page_and_api_serve_no_active_content(tmp_path, sqlite_url, empty_server):
    pw = _poll(tmp_path, sqlite_url, empty_server)
    ids = [i["article_id"] for i in items(pw)]
    engine, sessions = open_store(sqlite_url)
    app = create_app(sessions, WebConfig(page_size=10, feed=FeedInfo(title="t", self_url="http://t/feed.atom",
                                                                       site_url="http://t")))
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
            for article_id in ids:
                page = client.get(f"/items/{article_id}")
                assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
                assert not ACTIVE.search(page.text), ACTIVE.search(page.text)
                _check_body(client.get(f"/api/items/{article_id}").json()["body_html"])
            assert not ACTIVE.search(client.get("/").text)
    finally:
        engine.dispose()
