"""`presswire export`: Hugo files in exactly the seed format, safe names, idempotent; JSON lines; Atom."""

from __future__ import annotations

import json
import os
import re
import tomllib
import tracemalloc

import feedparser
import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import SEEDS, Presswire, write_config
from ingest import frontmatter
from ingest.atom import FeedInfo
from ingest.export import export_hugo, file_stem, hugo_document
from ingest.frontmatter import SEED_KEYS
from ingest.model import StoredItem
from ingest.qr import qr_png
from ingest.web import create_app
from ingest.web.app import WebConfig
from reading import STORY, T0, LiveServer, add_source, make_item, open_store, promo, replace, save, set_columns

SEED = next(SEEDS.glob("002_*.txt"))
UNSAFE = re.compile(r"<\s*(script|style)|\son[a-z]+\s*=|javascript:", re.I)


@pytest.fixture
def store(db_url):
    engine, sessions = open_store(db_url)
    yield sessions
    engine.dispose()


@pytest.fixture
def cli(tmp_path, db_url, store):
    return Presswire(write_config(tmp_path / "presswire.toml", db_url))


def _store_seed(sessions) -> tuple[int, int, str]:
    """The seed 002 document stored as an item: (article_id, feed_item_id, seed text)."""
    text = SEED.read_text()
    doc = frontmatter.parse(text, str(SEED))
    front = doc.front
    source = add_source(sessions, "https://rss.investorbrandnetwork.com/bdc/feed/", front["source"])
    [article_id] = save(sessions, source, [make_item(1, front["title"], link=front["source_link"])])
    set_columns(sessions, article_id, **{k: front[k] for k in ("title", "summary", "description", "source_link",
                                                                 "enclosure", "url", "qrcode")},
                date=T0.fromisoformat(front["date"]), body_html=doc.body)
    with sessions.begin() as s:
        from store import repository
        item = repository.get_item(s, article_id)
    return article_id, item.feed_item_id, text


def test_hugo_export_of_the_seed_is_the_seed_document(store, cli, tmp_path):
    article_id, feed_item_id, seed_text = _store_seed(store)
    cli("export", "--format", "hugo", "--out", str(tmp_path / "content"))
    files = list((tmp_path / "content").iterdir())
    seed_front = frontmatter.parse(seed_text).front
    assert [f.name for f in files] == [f"{seed_front['url']}.html"]  # the qrcode is a URL: no image
    exported = files[0].read_text()
    expected = seed_text.replace("article_id = 85225", f"article_id = {article_id}") \
                        .replace("feed_item_id = 14245", f"feed_item_id = {feed_item_id}")
    assert exported.rstrip("\n") == expected.rstrip("\n")
    front = frontmatter.parse(exported).front
    assert list(front) == list(SEED_KEYS)
    assert {k: type(v) for k, v in front.items()} == {k: type(v) for k, v in seed_front.items()}


def test_exported_bodies_hold_no_script_style_or_event_handlers(tmp_path, sqlite_url, empty_server):
    page = ("<html><head><style>p{color:red}</style><script>steal()</script></head><body><article>"
            "<h1>Harbor Capital Announces Results</h1>"
            + "".join(f'<p onclick="steal()" style="x">Paragraph {n} of the article explains the quarterly '
                      f'figures <b onmouseover="x()">in detail</b> for readers.<script>alert({n})</script>'
                      f'<img src="javascript:alert(1)" onerror="alert(2)"></p>' for n in range(6))
            + '<a href="javascript:alert(3)">click</a></article></body></html>')
    empty_server.route("/post/", body=page, headers={"Content-Type": "text/html"})
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title><item><title>Harbor Capital '
            f'Announces Results</title><link>{empty_server.url("/post/")}</link><guid>h1</guid>'
            f'<description><![CDATA[<p onclick="x()">Summary<script>alert(1)</script></p>]]></description>'
            f'<pubDate>Thu, 15 May 2025 15:55:19 +0000</pubDate></item></channel></rss>')
    empty_server.route("/feed.xml", body=feed, headers={"Content-Type": "application/rss+xml"})
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(empty_server.url("/feed.xml"), "W")]))
    pw("poll")
    engine, sessions = open_store(sqlite_url)
    with sessions.begin() as s:  # and a body stored raw, as an importer or an older version might have
        from store import tables as t
        raw_id = s.query(t.Item.id).scalar()
    set_columns(sessions, raw_id, body_html=page)
    engine.dispose()
    pw("export", "--out", str(tmp_path / "out"))
    pw("export", "--format", "jsonl", "--out", str(tmp_path / "items.jsonl"))
    pw("export", "--format", "atom", "--out", str(tmp_path / "feed.atom"))
    [doc] = (tmp_path / "out").glob("*.html")
    body = frontmatter.parse(doc.read_text()).body
    assert "Paragraph 5 of the article" in body and not UNSAFE.search(body)
    assert not UNSAFE.search(json.loads((tmp_path / "items.jsonl").read_text())["body_html"])
    content = feedparser.parse((tmp_path / "feed.atom").read_bytes()).entries[0].content[0].value
    assert "Paragraph 5" in content and not UNSAFE.search(content)


NASTY_TITLES = ['He said "hi" \\ and \\" left', "line one\nline two\r\n+++\n", "+++", '"""\'\'\'', "tab\there \x00 \x1f",
                "title = \"injected\"\n[presswire]\nx = 1"]


@pytest.mark.parametrize("title", NASTY_TITLES)
def test_nasty_titles_export_to_toml_that_parses_back(title, tmp_path):
    item = _stored(title=title)
    export_hugo([item], tmp_path)
    text = (tmp_path / f"{file_stem(item)}.html").read_text()
    assert frontmatter.parse(text).front["title"] == title
    assert tomllib.loads(text.split("+++\n")[1])["title"] == title


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=80))
def test_any_title_round_trips_through_the_document(title):
    assert frontmatter.parse(hugo_document(_stored(title=title))).front["title"] == title


HOSTILE_SLUGS = ["../escape", "../../../../etc/passwd", "/etc/passwd", "con", "CON", "nul", "aux.txt", "com1", "lpt9",
                 ".", "..", "", "index", "_index", ".hidden", "a/b", "a\\b", "x" * 400, "dir/../../up", "\x00nul",
                 "emoji-😀", "2025-05-15-fine-slug"]


def test_slugs_never_escape_the_export_directory_or_make_special_files(tmp_path):
    out = tmp_path / "site" / "content"
    items = [_stored(article_id=n + 1, url=slug, qrcode=f"qrcodes/{slug}.png") for n, slug in enumerate(HOSTILE_SLUGS)]
    items.append(_stored(article_id=99, url="evil-qr", qrcode="../../../outside.png"))
    result = export_hugo(items, out)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    docs = sorted(p.relative_to(out).as_posix() for p in written if p.suffix == ".html")
    assert len(docs) == len(items)  # one file per item: no two names collided
    stems = [d.removesuffix(".html") for d in docs]
    assert all(re.fullmatch(r"[a-z0-9-]+(_[0-9]+)?", s) for s in stems), stems
    assert not {s.split(".")[0] for s in stems} & {"con", "nul", "aux", "com1", "lpt9", "index", "_index"}
    assert "2025-05-15-fine-slug" in stems  # a plain slug is its own name
    assert any("outside.png" in reason for reason in result.skipped)
    assert not (tmp_path / "outside.png").exists()


def test_export_is_idempotent_and_incremental(store, cli, tmp_path):
    source = add_source(store)
    ids = save(store, source, [make_item(n, f"Item number {n}") for n in (1, 2, 3)])
    out = tmp_path / "content"
    first = cli("export", "--out", str(out))
    assert "6 files written, 0 unchanged" in first.stderr  # 3 documents + 3 QR codes
    old = 1_000_000_000
    for path in out.rglob("*"):
        os.utime(path, (old, old))
    again = cli("export", "--out", str(out))
    assert "0 files written, 6 unchanged" in again.stderr
    assert {p.stat().st_mtime for p in out.rglob("*") if p.is_file()} == {old}
    set_columns(store, ids[1], title="Item number 2, corrected", updated_at=T0.replace(year=2030))
    changed = cli("export", "--out", str(out), "--changed-since", "2029-01-01")
    assert "exported 1 items" in changed.stderr and "1 files written, 1 unchanged" in changed.stderr
    touched = [p.name for p in out.rglob("*.html") if p.stat().st_mtime != old]
    assert touched == ["2025-05-15-item-2.html"]
    assert (out / "qrcodes" / "2025-05-15-item-2.png").read_bytes().startswith(b"\x89PNG")
    since = cli("export", "--format", "jsonl", "--out", "-", "--since", "2025-05-15T14:30:00Z")
    assert [json.loads(line)["title"] for line in since.stdout.splitlines()] == ["Item number 3"]


@pytest.mark.parametrize("fmt", ["hugo", "jsonl"])
def test_an_export_of_the_whole_store_holds_a_batch_of_items_not_all_of_them(store, cli, tmp_path, monkeypatch,
                                                                             fmt):
    """Export read every item into one list (and JSON lines into one string) before writing: memory grew with
    the store (1.8 GB for a 140,000-item JSON lines export) until it ran out. Now the items stream by."""
    from store import repository
    monkeypatch.setattr(repository, "STREAM_BATCH", 4)
    body = "storage " * 12_500  # 100 kB: 40 items hold 8 MB of bodies (body_html and body_text)
    save(store, add_source(store), [make_item(n, f"Item number {n}", body=body) for n in range(40)])
    out = str(tmp_path / ("site" if fmt == "hugo" else "items.jsonl"))
    args = ("export", "--format", fmt, "--out", out, "--no-qrcodes")
    cli(*args)  # (imports, caches)
    tracemalloc.start()
    try:
        again = cli(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "exported 40 items" in again.stderr and "unchanged" in again.stderr
    assert peak < 5_000_000, f"{peak:,} bytes at the peak of an export of 40 items of 200 kB"


def test_exported_files_get_the_umask_mode_of_any_new_file_or_keep_their_own(store, cli, tmp_path):
    """mkstemp's 0600 was every exported file's mode: a web server of another user could not read them."""
    [item_id] = save(store, add_source(store), [make_item(1, "Item number 1")])
    out = tmp_path / "site"
    old = os.umask(0o022)
    try:
        cli("export", "--out", str(out / "content"))
        cli("export", "--format", "atom", "--out", str(out / "feed.atom"))
    finally:
        os.umask(old)
    assert {p.relative_to(out).as_posix(): oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_file()} \
        == {"content/2025-05-15-item-1.html": "0o644", "content/qrcodes/2025-05-15-item-1.png": "0o644",
            "feed.atom": "0o644"}
    (out / "feed.atom").chmod(0o640)
    set_columns(store, item_id, title="Item number 1, corrected")
    assert "(written)" in cli("export", "--format", "atom", "--out", str(out / "feed.atom")).stderr
    assert (out / "feed.atom").stat().st_mode & 0o777 == 0o640


def test_an_item_stored_with_a_link_too_long_for_a_qr_code_exports_without_one(store, cli, tmp_path):
    source = add_source(store)
    [long_id, _] = save(store, source, [make_item(n, f"Item number {n}") for n in (1, 2)])
    set_columns(store, long_id, source_link="https://wire.example/" + "a" * 3000)  # stored before qrcode = ""
    out = tmp_path / "content"
    result = cli("export", "--out", str(out))
    assert f"skipped item {long_id}: its link is too long for a QR code" in result.stderr
    assert "3 files written" in result.stderr  # both documents, the other item's QR code
    assert sorted(p.name for p in (out / "qrcodes").iterdir()) == ["2025-05-15-item-2.png"]


def test_an_out_path_of_the_wrong_kind_is_a_one_line_error(store, cli, tmp_path):
    save(store, add_source(store), [make_item(1, "Story")])
    folder, file = tmp_path / "site" / "folder", tmp_path / "site" / "file.txt"
    folder.mkdir(parents=True)
    file.write_text("kept")
    for fmt in ("jsonl", "atom"):
        bad = cli("export", "--format", fmt, "--out", str(folder), ok=False)
        assert bad.exit_code == 1 and \
            bad.stderr == f"presswire: error: export --out {folder}: cannot write the {fmt} file: Is a directory\n"
    for out in (file, file / "content"):
        bad = cli("export", "--format", "hugo", "--out", str(out), ok=False)
        assert bad.exit_code == 1 and bad.stderr.count("\n") == 1, bad.stderr
        assert f"export --out {out}: cannot make it the export directory: " in bad.stderr
    assert _files(tmp_path / "site") == {"file.txt"} and file.read_text() == "kept"


def test_atom_export_is_a_valid_feed_of_the_latest_items(store, cli, tmp_path):
    source = add_source(store)
    save(store, source, [make_item(n, f"Story {n}") for n in range(1, 6)] +
         [make_item(9, 'Evil <script>alert("x")</script> & \x0b co', summary="s <b>bold</b>")])
    cli("export", "--format", "atom", "--out", str(tmp_path / "feed.atom"), "--limit", "4")
    parsed = feedparser.parse((tmp_path / "feed.atom").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "presswire" and parsed.feed.id.startswith("urn:uuid:") and parsed.feed.updated
    titles = [e.title for e in parsed.entries]
    assert titles == ['Evil <script>alert("x")</script> &  co', "Story 5", "Story 4", "Story 3"]
    for entry in parsed.entries:
        assert entry.id.startswith("urn:uuid:") and entry.updated and entry.published
        assert entry.link.startswith("https://wire.example/news/") and entry.author == "Example Wire"
    assert len({e.id for e in parsed.entries}) == 4


def test_atom_entries_agree_with_the_documents_enclosure_included(store, cli, tmp_path):
    """Title, dates, link, summary and the enclosure (a document's image: <link rel="enclosure">) of each Atom
    entry are those of the item's Hugo document and JSON line."""
    source = add_source(store)
    with_image = replace(make_item(1, 'Rates & "quotes" \\ 😀 שלום', summary="Summary <b> & more"),
                         enclosure="https://cdn.example/banners/rates.JPG?w=600&h=300")
    save(store, source, [with_image, make_item(2, "No image"), replace(make_item(3, "Unknown type"),
                                                                       enclosure="https://cdn.example/img/42")])
    cli("export", "--out", str(tmp_path / "site"))
    lines = {x["url"]: x for x in map(json.loads, cli("export", "--format", "jsonl", "--out", "-").stdout.splitlines())}
    atom = cli("export", "--format", "atom", "--out", "-").stdout
    entries = feedparser.parse(atom).entries
    assert len(entries) == len(lines) == 3
    for entry, path in zip(entries, sorted((tmp_path / "site").glob("*.html"), reverse=True)):
        front = frontmatter.parse(path.read_text()).front
        assert lines[front["url"]] | {"presswire": None, "body_html": None} == \
            front | {"presswire": None, "body_html": None}
        assert (entry.title, entry.published, entry.link, entry.summary) == \
            (front["title"], front["date"], front["source_link"], front["summary"])
        assert [e.href for e in entry.enclosures] == ([front["enclosure"]] if front["enclosure"] else [])
    enclosures = re.findall(r'<link rel="enclosure"[^>]*>', atom)  # a type when the extension tells it
    assert enclosures == ['<link rel="enclosure" href="https://cdn.example/img/42"/>', '<link rel="enclosure" '
                          'type="image/jpeg" href="https://cdn.example/banners/rates.JPG?w=600&amp;h=300"/>']


def test_an_atom_export_is_the_served_feed_of_its_filters(store, tmp_path, db_url):
    """An exported feed is the one `serve` gives at [web] base_url with the same filters: that URL is its self
    link and its id, so each filter is another feed and an export run again keeps its id. Without base_url
    it has no self link, and its filters still tell its id."""
    a, b = add_source(store, "https://a.example/feed", "A"), add_source(store, "https://b.example/feed", "B")
    save(store, a, [make_item(1, "From A")])
    save(store, b, [make_item(2, "From B")])
    public = Presswire(write_config(tmp_path / "p.toml", db_url, extra='[web]\nbase_url = "https://news.example/"\n'))
    private = Presswire(write_config(tmp_path / "c.toml", db_url))

    def feed(cli, *args):
        parsed = feedparser.parse(cli("export", "--format", "atom", "--out", "-", *args).stdout).feed
        return parsed.id, [link.href for link in parsed.get("links", []) if link.rel == "self"]

    exports = {args: feed(public, *args) for args in [(), ("--source", str(a)), ("--source", "https://b.example/feed"),
                                                       ("--label", "news", "--search", "deal", "--limit", "3")]}
    assert [links for _id, links in exports.values()] == [
        ["https://news.example/feed.atom"], [f"https://news.example/feed.atom?source={a}"],
        [f"https://news.example/feed.atom?source={b}"], ["https://news.example/feed.atom?q=deal&label=news&limit=3"]]
    assert len({feed_id for feed_id, _links in exports.values()}) == 4
    assert feed(public, "--source", str(a)) == exports[("--source", str(a))]
    app = create_app(store, WebConfig(feed=FeedInfo(self_url="https://news.example/feed.atom")))
    with LiveServer(app) as live, httpx.Client(base_url=live.base, timeout=20) as client:
        served = feedparser.parse(client.get(f"/feed.atom?source={a}").content).feed.id
    assert served == exports[("--source", str(a))][0]  # the served feed's id
    changed = feed(public, "--source", str(a), "--changed-since", "1d")  # no /feed.atom parameter: not served
    assert changed[1] == [] and changed[0] not in {feed_id for feed_id, _links in exports.values()}
    unserved = [feed(private), feed(private, "--source", str(a)), feed(private, "--source", str(b))]
    assert [links for _id, links in unserved] == [[], [], []]
    assert len({feed_id for feed_id, _links in unserved}) == 3


def _stored(**fields) -> StoredItem:
    values = dict(article_id=7, feed_item_id=8, source_id=1, title="A title", date=T0, draft=False,
                  summary="s", description="d", source_link="https://wire.example/a", enclosure="",
                  url="2025-05-15-a-title", qrcode="qrcodes/2025-05-15-a-title.png", source="W",
                  body_html="<p>b</p>")
    return StoredItem(**{**values, **fields})


def test_promotional_items_leave_the_atom_feed_and_with_the_policy_every_export(store, tmp_path, db_url):
    source = add_source(store)
    save(store, source, [make_item(1, "Paid", promo=promo("promotional")), make_item(2, "Release",
                         promo=promo("press_release")), make_item(3, "Unclassified")])
    cli = Presswire(write_config(tmp_path / "c.toml", db_url))
    atom = feedparser.parse(cli("export", "--format", "atom", "--out", "-").stdout)
    assert [e.title for e in atom.entries] == ["Unclassified", "Release"]
    assert atom.entries[1].tags[0].term == "press_release"
    paid = feedparser.parse(cli("export", "--format", "atom", "--out", "-", "--label", "promotional").stdout)
    assert [e.title for e in paid.entries] == ["Paid"]
    lines = [json.loads(x) for x in cli("export", "--format", "jsonl", "--out", "-").stdout.splitlines()]
    assert [(x["title"], (x["presswire"] or {}).get("label")) for x in lines] == \
        [("Unclassified", None), ("Release", "press_release"), ("Paid", "promotional")]
    strict = Presswire(write_config(tmp_path / "s.toml", db_url, extra='[promo]\npolicy = "exclude_from_exports"\n'))
    strict("export", "--out", str(tmp_path / "content"))
    assert sorted(p.name for p in (tmp_path / "content").glob("*.html")) == \
        ["2025-05-15-item-2.html", "2025-05-15-item-3.html"]


def test_export_writes_one_file_per_story_unless_all_copies(store, cli, tmp_path):
    wire, blog = add_source(store, "https://w.example/feed", "W"), add_source(store, "https://b.example/feed", "B")
    save(store, wire, [make_item(1, "Harbor Grid signs storage deal", body=STORY)], dedup=True)
    save(store, blog, [make_item(2, "Harbor Grid signs storage deal", body=STORY, link="https://b.example/h",
                                 slug="2025-05-15-harbor-copy")], dedup=True)
    cli("export", "--out", str(tmp_path / "stories"), "--no-qrcodes")
    assert [p.name for p in (tmp_path / "stories").iterdir()] == ["2025-05-15-item-1.html"]
    cli("export", "--out", str(tmp_path / "all"), "--no-qrcodes", "--all-copies")
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["2025-05-15-harbor-copy.html",
                                                                    "2025-05-15-item-1.html"]


def _files(out) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def test_when_a_later_copy_becomes_canonical_the_export_removes_the_earlier_ones_files(store, cli, tmp_path):
    """A partner's copy is exported, then the wire's earlier copy arrives and becomes canonical: the next
    export writes the wire's files and removes the partner's, so the site shows the story once."""
    partner, wire = add_source(store, "https://p.example/feed", "P"), add_source(store, "https://w.example/feed", "W")
    title = "Harbor Grid signs storage deal"
    save(store, partner, [make_item(2, title, body=STORY, link="https://p.example/h", slug="harbor-partner"),
                          make_item(3, "Another story", body="Something else entirely.")], dedup=True)
    out = tmp_path / "site"
    cli("export", "--out", str(out))
    (out / "notes.html").write_text("the site's own file")
    assert _files(out) == {"harbor-partner.html", "qrcodes/harbor-partner.png", "2025-05-15-item-3.html",
                           "qrcodes/2025-05-15-item-3.png", "notes.html"}
    save(store, wire, [make_item(1, title, body=STORY, slug="harbor-wire")], dedup=True)  # earlier: canonical
    cli("export", "--out", str(tmp_path / "every"), "--all-copies")  # every copy: nothing removed
    assert {"harbor-partner.html", "harbor-wire.html"} <= _files(tmp_path / "every")
    cli("export", "--out", str(out), "--source", "https://p.example/feed")  # a source's own copies: same
    assert "harbor-partner.html" in _files(out)
    again = cli("export", "--out", str(out))
    assert "exported 2 items" in again.stderr and "2 removed (other copies of these stories)" in again.stderr
    assert _files(out) == {"harbor-wire.html", "qrcodes/harbor-wire.png", "2025-05-15-item-3.html",
                           "qrcodes/2025-05-15-item-3.png", "notes.html"}
    assert "removed" not in cli("export", "--out", str(out)).stderr


def test_removing_a_superseded_copy_spares_files_it_does_not_own(tmp_path):
    """Only the copy's document and its own QR image go: not a path the export writes, not an image another
    item wrote there, nothing through a symbolic link, nothing outside --out."""
    out = tmp_path / "site"
    canonical = _stored(article_id=1, url="story-wire", qrcode="qrcodes/shared.png")
    sharing = _stored(article_id=2, url="story-partner", qrcode="qrcodes/shared.png")  # same image path
    foreign = _stored(article_id=3, url="story-blog", qrcode="qrcodes/blog.png")  # its image: another item's
    linked = _stored(article_id=4, url="story-linked", qrcode="../outside.png")
    export_hugo([sharing, foreign, linked], out)
    (out / "qrcodes" / "blog.png").write_bytes(b"another item's image")
    (out / "page.html").write_text("the site's own page")
    (out / "story-linked.html").unlink()
    (out / "story-linked.html").symlink_to(out / "page.html")
    result = export_hugo([canonical], out, superseded=[sharing, foreign, linked])
    assert result.removed == 2 and not result.skipped
    assert _files(out) == {"story-wire.html", "qrcodes/shared.png", "qrcodes/blog.png", "story-linked.html",
                           "page.html"}
    assert (out / "page.html").read_text() == "the site's own page"


def test_imported_documents_with_one_slug_export_their_own_qr_codes(tmp_path, db_url):
    """Documents naming the same url slug and QR code path are stored as x, x-2, x-3: a relative QR code path
    follows its item's slug, so `export --all-copies` writes each item's QR code to its own image."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for n, qrcode in ((1, "qrcodes/acme-deal.png"), (2, "qrcodes/acme-deal.png"), (3, "https://cdn.example/q.png")):
        (docs / f"{n}.md").write_text(
            f'+++\ntitle = "Acme deal {n}"\ndate = "2025-06-0{n}T10:00:00Z"\ndraft = false\nsummary = "s"\n'
            f'description = "d"\nsource_link = "https://site{n}.example/acme"\nenclosure = ""\narticle_id = {n}\n'
            f'feed_item_id = {n}\nurl = "acme-deal"\nqrcode = "{qrcode}"\nsource = "Partner"\n+++\n\n'
            f"<p>Document {n} about a different deal entirely, number {n}.</p>\n")
    pw = Presswire(write_config(tmp_path / "c.toml", db_url))
    pw("backfill", "--dir", str(docs))
    rows = [json.loads(line) for line in pw("items", "list", "--all-copies", "--json").stdout.splitlines()]
    assert sorted(r["url"] for r in rows) == ["acme-deal", "acme-deal-2", "acme-deal-3"]
    for row in rows:  # a URL is not ours to rename
        remote = row["source_link"] == "https://site3.example/acme"
        assert row["qrcode"] == ("https://cdn.example/q.png" if remote else f"qrcodes/{row['url']}.png")
    pw("export", "--all-copies", "--out", str(tmp_path / "site"))
    images = {row["qrcode"]: row["source_link"] for row in rows if not row["qrcode"].startswith("https:")}
    assert len(images) == 2 and len(list((tmp_path / "site" / "qrcodes").iterdir())) == 2
    for image, link in images.items():  # each item's own QR code, where it points
        assert (tmp_path / "site" / image).read_bytes() == qr_png(link)
