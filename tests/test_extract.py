"""Article extraction: the fast -> fallback -> feed chain, page metadata, per-source selector rules,
teaser detection, and the body HTML whitelist, on the hand-written pages of fixtures/extract."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import lxml.html
import pytest

from conftest import ROOT
from ingest.errors import ConfigError
from ingest.extract import ALLOWED_TAGS, extract_page, feed_read_more, from_feed, merge_read_more
from ingest.model import ExtractRules, FeedEntry
from ingest.normalize import normalize
from ingest.settings import ExtractSettings, load_settings
from ingest.workers import Extractor

FIXTURES = ROOT / "fixtures" / "extract"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["pages"]
BY_NAME = {e["file"].removeprefix("pages/").removesuffix(".html"): e for e in MANIFEST}
SEEN = datetime(2025, 12, 1, tzinfo=timezone.utc)


def page(name: str) -> bytes:
    return (FIXTURES / BY_NAME[name]["file"]).read_bytes()


def expected(name: str) -> str:
    return (FIXTURES / BY_NAME[name]["expected_text"]).read_text().strip()


def extract(name: str, rules: ExtractRules = ExtractRules(), **kw):
    return extract_page(page(name), BY_NAME[name]["url"], rules, **kw)


def paragraphs(text: str) -> list[str]:
    """Blocks of a body text; list items (one "- item" line each in Extraction.text) count as blocks."""
    return [line.removeprefix("- ") for line in text.splitlines() if line.strip()]


# --- the chain ------------------------------------------------------------------------------------

def test_the_article_container_gives_the_body_when_it_is_long_enough():
    got = extract("target_battery")
    assert got.method == "container" and got.ok
    assert got.trail == f'container <div class="entry-content">: {len(got.text)} chars'  # the content root
    assert paragraphs(got.text) == paragraphs(expected("target_battery"))


@pytest.mark.parametrize("name", ["plain_print_view", "plain_static_release"])
def test_a_page_whose_paragraphs_sit_in_body_is_read_whole_from_body(name):
    """A print view or a hand-made static page has no article element: <body> is the container. trafilatura's
    fast mode on the whole page (what these pages got before) lost the print view's list and table."""
    got = extract(name)
    assert got.method == "container" and got.trail == f"container <body>: {len(got.text)} chars"
    assert paragraphs(got.text) == paragraphs(expected(name))  # without the menu table, the title or "Back"


def test_paragraphs_spread_over_containers_go_to_trafilatura_whole():
    got = extract("comments_news_custom")  # the readers' comments hold 46% of the page's paragraph text
    assert got.trail == f"fast: {len(got.text)} chars" and got.method == "fast"


@pytest.mark.parametrize("name", ["bw_software", "bw_energy"])
def test_a_business_wire_release_keeps_the_contacts_printed_after_its_story(name):
    """Business Wire prints a release's contacts in <div class="bw-release-contact"> right after the story's
    container; they are part of the release (they were lost). Its "Social Media Profiles" and "More News From"
    blocks after them stay out."""
    got = extract(name)
    assert got.method == "container" and paragraphs(got.text) == paragraphs(expected(name))
    assert got.text.endswith("press@stackline.io +1 206-555-0104" if name == "bw_software" else "ir@veridianpower.com")
    assert "<h2>Contacts</h2>" in got.body_html


def test_a_contact_box_away_from_the_container_stays_out():
    """GlobeNewswire's "Contact Data" box, below the tags and attachments, repeats the release's own contacts."""
    assert "Contact Data" not in extract("gnw_mining").text

NEWS = ["Regulators on Tuesday approved the merger of two regional banks, ending a review that lasted eleven months.",
        "The combined bank will have about 240 branches and $48 billion in deposits, according to the filings.",
        "Consumer advocates had argued that the deal would reduce competition in rural counties of three states.",
        "The banks agreed to sell 14 branches to a smaller competitor as a condition of the approval, it said.",
        "Shares of both banks rose in after-hours trading, and analysts said the deal could close this quarter."]


@pytest.mark.parametrize("split", [False, True], ids=["container", "trafilatura"])
@pytest.mark.parametrize("slot", ["<p>Advertisement</p>", "<div>- ADVERTISEMENT -</div>",
                                  "<p>Story continues below advertisement</p>", "<h4>Sponsored</h4>"])
def test_ad_slot_markers_between_paragraphs_leave_the_body_and_do_not_make_it_promotional(slot, split):
    """An ad slot's marker between paragraphs is not the story's own paid label: without this, promo's
    paid_content rule found "Advertisement" on a line of its own and labelled the news story promotional."""
    from ingest.promo import load_rules
    paragraphs_html = [f"<p>{p}</p>" + (slot if i in (1, 3) else "") for i, p in enumerate(NEWS)]
    if split:  # no element holds most of the text: trafilatura's fast mode reads the page
        body = "".join(f"<div class='part{i}'>{p}</div>" for i, p in enumerate(paragraphs_html))
    else:
        body = "<article>" + "".join(paragraphs_html) + "</article>"
    page = f"<html><head><title>Regulators approve merger</title></head><body><main>{body}</main></body></html>"
    url = "http://127.0.0.1/news/merger"
    got = extract_page(page.encode(), url)
    assert got.method == ("fast" if split else "container")
    assert paragraphs(got.text) == NEWS and "dvertis" not in got.body_html
    entry = FeedEntry(guid=None, link=url, title="Regulators approve merger")
    item = normalize(entry, got, source_name="s", seen_at=datetime.now(timezone.utc), feed_body=from_feed(entry),
                     page_url=url, rules=load_rules(None))
    assert item.promo.label == "news"


@pytest.mark.parametrize("where", ["first", "last"])
def test_an_advertisement_label_over_or_under_the_piece_stays_and_is_decisive(where):
    from ingest.promo import load_rules
    label = "<p>ADVERTISEMENT</p>"
    body = "".join(f"<p>{p}</p>" for p in NEWS)
    body = label + body if where == "first" else body + label
    page = f"<html><head><title>Merger</title></head><body><article>{body}</article></body></html>"
    url = "http://127.0.0.1/news/merger"
    got = extract_page(page.encode(), url)
    assert "ADVERTISEMENT" in paragraphs(got.text)
    entry = FeedEntry(guid=None, link=url, title="Merger")
    item = normalize(entry, got, source_name="s", seen_at=datetime.now(timezone.utc), feed_body=from_feed(entry),
                     page_url=url, rules=load_rules(None))
    assert item.promo.label == "promotional" and item.promo.reasons[0].rule == "paid_content"


def test_trafilatura_bodies_keep_inline_markup_inside_words_and_space_at_breaks_and_blocks():
    filler = "<p>" + "Analysts said the quarter was strong and margins improved across every region. " * 2 + "</p>"
    lead = ("<p>Demand for <a href='/x'>lithium</a>-ion cells grew.<br>Shares closed higher on the news in New York "
            "trading today.</p><blockquote><p>We are pleased.</p><p>Very pleased.</p></blockquote>")
    page = (f"<html><body><div class='a'>{lead}{filler}</div><div class='b'>{filler}{filler}</div>"
            f"<div class='c'>{filler}{filler}</div></body></html>")  # no container holds 60%: trafilatura
    got = extract_page(page, "https://news.example/acme")
    assert got.method == "fast"
    first, quote = paragraphs(got.text)[:2]
    assert first == "Demand for lithium-ion cells grew. Shares closed higher on the news in New York trading today."
    assert quote == "We are pleased. Very pleased."
    assert got.body_html.startswith('<p>Demand for <a href="https://news.example/x">lithium</a>-ion cells grew. '
                                    'Shares closed higher on the news in New York trading today.</p>'
                                    '<blockquote>We are pleased. Very pleased.</blockquote>')


def test_content_root_leaves_comments_out():
    got = extract("comments_drupal")
    assert paragraphs(got.text) == paragraphs(expected("comments_drupal"))
    assert got.trail.startswith('container <div class="clearfix text-formatted field field--name-body '
                                'field--type-text-with-summary field--label-hidden field__item">: ')


def test_fallbacks_run_when_fast_mode_finds_nothing():
    got = extract("news_tech_chip")  # paragraphs are <div>s with hashed classes: fast mode finds nothing
    assert got.method == "fallback" and got.ok
    assert got.trail.startswith("fast: 0 chars, empty; fallback: ")
    assert "Lumina Fabric, a two-year-old startup" in got.text


def test_a_comment_thread_holding_most_paragraphs_is_not_taken_for_the_article():
    article = "".join(f"<p>Article paragraph {i} about the council vote on the new library branch and its "
                      "budget of several million.</p>" for i in range(3))
    thread = "".join(f"<p>Reader comment number {i}: the council is wasting money on this project and should "
                     "fix the roads first instead.</p>" for i in range(12))
    page_html = (f"<html><body><article><h1>Council votes</h1>{article}</article>"
                 f"<div id='comments' class='comments-area'>{thread}</div></body></html>")
    got = extract_page(page_html, "https://news.example/council")
    assert got.trail.startswith('container <div class="comments-area">: 0 chars; fast: ')
    assert "Article paragraph 2" in got.text and "Reader comment" not in got.text


def test_a_short_body_goes_on_to_fast_mode_then_fallbacks_and_the_reasons_are_recorded():
    got = extract("target_cannabis", min_chars=5000)
    assert got.trail.startswith('container <div class="mcj-text">: 1674 chars; fast: 1674 chars, shorter than 5000; '
                                'fallback: ')
    assert got.method in ("fast", "fallback") and got.ok


def test_no_text_anywhere_is_a_failure_and_the_feed_content_stands_in():
    shell = b"<html><body><div id='root'></div><noscript>Enable JavaScript.</noscript></body></html>"
    got = extract_page(shell, "https://wire.example/app")
    assert not got.ok and "no article text found" in got.failure
    entry = FeedEntry(guid="g", link="https://wire.example/app", title="T",
                      summary_html="<p>The feed's own summary of the release, long enough to stand in.</p>")
    item = normalize(entry, got, source_name="S", seen_at=SEEN, feed_body=from_feed(entry))
    assert item.method == "feed" and item.body_text.startswith("The feed's own summary")
    assert item.trail == f"fast: 0 chars, empty; fallback: 0 chars; feed: {len(item.body_text)} chars"


@pytest.mark.parametrize("fragment, blocks", [
    ("<!DOCTYPE><SCRIPT", []),  # looks like a document and has no body: lxml's fragment parser asserted
    ("<!doctype html><p>First</p><p>Second</p>", ["First", "Second"]),
    ("<html><body><p>One</p></body></html>", ["One"]),
    ("<p>x</p></div><p>y</p>tail<br>line", ["x", "y", "tail", "line"]),
])
def test_feed_content_shaped_like_a_document_or_broken_still_gives_its_text(fragment, blocks):
    entry = FeedEntry(guid="g", link="https://wire.example/a", title="T", summary_html=fragment)
    assert from_feed(entry).text == "\n\n".join(blocks)
    assert feed_read_more(replace(entry, content_html=f"{fragment} <a href='https://full.example/s'>x</a>")) is None
    teaser = "<!doctype html><p>Lead.</p><p><a href='https://full.example/story'>Read the full story</a></p>"
    assert feed_read_more(replace(entry, content_html=teaser)) == "https://full.example/story"


def test_body_html_holds_only_allowed_tags_and_absolute_links():
    for name in BY_NAME:
        got = extract(name)
        if not got.body_html:
            continue
        root = lxml.html.fragment_fromstring(got.body_html, create_parent="div")
        assert {el.tag for el in root.iter()} - {"div"} <= ALLOWED_TAGS, name
        for a in root.iter("a"):
            assert set(a.attrib) == {"href"} and a.get("href").startswith(("http://", "https://")), name
        assert "<h2>" in extract("target_battery").body_html and "<ul>" in extract("target_battery").body_html


# --- metadata --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n, e in BY_NAME.items() if e["group"] != "wire_teaser"])
def test_page_metadata_matches_the_manifest(name):
    want, got = BY_NAME[name], extract(name)
    assert got.title == want["title"]
    assert got.image == want["image"]
    assert got.canonical == want["canonical"]
    assert got.language == want["language"]
    if name != "news_local_council":  # its only date is in free text: htmldate's quick search skips that
        assert got.date is not None and got.date.strftime("%Y-%m-%d") == want["date"]


def meta(head: str, body: str = "<p>x</p>", url: str = "https://wsj.example/a", html_attrs: str = ""):
    from ingest.pagemeta import page_metadata
    return page_metadata(lxml.html.fromstring(f"<html {html_attrs}><head>{head}</head><body>{body}</body></html>"), url)


@pytest.mark.parametrize(("head", "url", "title"), [
    # the site's own name (og:site_name, the JSON-LD publisher, the host) is dropped, on either side
    ('<title>Fed holds rates steady | The Wall Street Journal</title>'
     '<meta property="og:site_name" content="The Wall Street Journal">', "https://wsj.example/a",
     "Fed holds rates steady"),
    ('<title>The Daily Ledger of Commerce - Rates up</title><script type="application/ld+json">'
     '{"@type": "NewsArticle", "publisher": {"name": "The Daily Ledger of Commerce"}}</script>',
     "https://ledger.example/a", "Rates up"),
    ('<title>Rates up | ValleyCourier.com</title>', "https://www.valleycourier.com/a", "Rates up"),
    # otherwise the part with the most words, a tie going to the first ("Headline | Site" is the usual order),
    # between separators seldom inside a headline: a dash may be ("Q3 Results - Revised")
    ('<title>Fed holds rates steady | The Wall Street Journal</title>', "https://news.example/a",
     "Fed holds rates steady"),
    ('<title>Q3 Results - Revised</title>', "https://news.example/a", "Q3 Results - Revised"),
    ('<title>Acme - the company that makes widgets</title>', "https://news.example/a",
     "Acme - the company that makes widgets"),
    # og:title too, when it carries the site's name
    ('<meta property="og:title" content="Rates up \u2013 ValleyCourier">', "https://www.valleycourier.com/a", "Rates up"),
])
def test_title_from_the_title_element_drops_the_site_name(head, url, title):
    assert meta(head, url=url).title == title


def test_an_undetermined_language_is_no_language():
    assert meta("", html_attrs='lang="und"').language is None
    assert meta('<meta property="og:locale" content="en_US">', html_attrs='lang="und"').language == "en"


def test_an_unpublished_time_is_not_the_publication_date():
    body = '<p>x</p><time class="unpublished" datetime="2031-01-01">x</time>'
    assert meta("", body=body).date is None
    assert meta("", body=body + '<time class="entry-date published" datetime="2025-05-15">x</time>').date.year == 2025


# --- teasers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(BY_NAME))
def test_read_more_link_found_on_teasers_and_nowhere_else(name):
    assert extract(name).read_more == BY_NAME[name]["read_more"]


def test_no_teaser_when_the_body_is_long():
    assert extract("ibn_teaser_battery", teaser_chars=500).read_more is None


def test_merge_keeps_the_full_article_and_both_urls():
    teaser, full = extract("ibn_teaser_ai"), extract("target_ai")
    merged = merge_read_more(teaser, full, BY_NAME["target_ai"]["url"])
    assert merged.text == expected("target_ai") and merged.followed_url == BY_NAME["target_ai"]["url"]
    assert merged.title == teaser.title and merged.canonical == full.canonical
    assert "; read-more https://www.healthitdispatch.com/ai-scribes-hospitals-burnout: container " in merged.trail


def test_merge_keeps_the_teaser_when_the_linked_page_is_no_better():
    teaser = extract("ibn_teaser_ai")
    merged = merge_read_more(teaser, extract_page(b"<html><body></body></html>", "https://x.example/"),
                             "https://x.example/")
    assert merged.text == teaser.text and merged.followed_url is None and "kept the teaser" in merged.trail


def test_read_more_link_in_the_feed_item():
    entry = FeedEntry(guid="g", link="https://rss.example/bdc/teaser/", title="T",
                      summary_html='<p>Lead.</p><p><a href="https://full.example/story">Read the full story</a></p>'
                                   '<p><a href="https://rss.example/bdc/teaser/">Continue reading</a></p>')
    assert feed_read_more(entry) == "https://full.example/story"
    same = FeedEntry(guid="g", link="https://rss.example/a/", title="T",
                     content_html='<p>Lead <a href="/a/">Continue reading</a></p>')
    assert feed_read_more(same) is None  # a link back to the item's own page is not a teaser's


# --- per-source rules (one test per kind of override) ----------------------------------------------

def test_css_body_selector():
    got = extract("news_tech_chip", ExtractRules(body_selector="div[class^='Story_body']"))
    assert got.method == "selector" and got.text == expected("news_tech_chip")
    assert got.trail == f"selector \"div[class^='Story_body']\": 1 element(s), {len(got.text)} chars"


def test_xpath_body_selector():
    got = extract("target_cannabis", ExtractRules(body_selector="//div[@class='mcj-text']"))
    assert got.method == "selector" and got.text == expected("target_cannabis")


def test_body_selector_over_loose_text_keeps_every_paragraph():
    got = extract("news_local_council", ExtractRules(body_selector="td.maincol > font[size='3']"))
    assert got.method == "selector" and got.text == expected("news_local_council")


def test_css_drop_selectors():
    generic = extract("comments_news_custom")
    assert "cafeteria manager" in generic.text  # reader comments outside any comment markup trafilatura knows
    got = extract("comments_news_custom", ExtractRules(drop_selectors=("#user-comments", ".cr-republish")))
    assert got.text == expected("comments_news_custom")


def test_xpath_drop_selectors():
    generic = extract("news_tech_chip")
    assert "Theo Marchetti" in generic.text  # the headline block, taken in by trafilatura's fallbacks
    got = extract("news_tech_chip", ExtractRules(drop_selectors=("//div[starts-with(@class, 'Story_head')]",)))
    assert "Theo Marchetti" not in got.text and "Lumina Fabric, a two-year-old startup" in got.text
    assert got.method == "fallback"


def test_body_selector_that_matches_nothing_falls_back_to_the_chain():
    got = extract("target_battery", ExtractRules(body_selector="article.gone"))
    assert got.method == "container" and paragraphs(got.text) == paragraphs(expected("target_battery"))
    assert got.trail.startswith("selector 'article.gone': matched nothing; container ")


def test_bad_selectors_are_config_errors(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[[sources]]\nurl = "https://a.example/feed"\n[sources.extract]\nbody_selector = "div[["\n')
    with pytest.raises(ConfigError, match=r"sources\[0\]\.extract: invalid CSS selector 'div\[\['"):
        load_settings(config, environ={})
    config.write_text('[[sources]]\nurl = "https://a.example/feed"\n[sources.extract]\n'
                      'drop_selectors = ["//div[@class="]\n')
    with pytest.raises(ConfigError, match="invalid XPath"):
        load_settings(config, environ={})


def test_rules_are_read_per_source(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[[sources]]\nurl = "https://a.example/feed"\n[sources.extract]\n'
                      'body_selector = "div.story"\ndrop_selectors = [".ad", "//aside"]\n'
                      '[[sources]]\nurl = "https://b.example/feed"\n')
    settings = load_settings(config, environ={})
    assert settings.rules_for("https://a.example/feed") == ExtractRules("div.story", (".ad", "//aside"))
    assert settings.rules_for("https://b.example/feed") == ExtractRules()


def test_rules_and_limits_reach_the_worker_processes():
    pool = Extractor(ExtractSettings(processes=1, recycle_after=5, min_chars=250))
    rules = ExtractRules(body_selector="//div[@class='mcj-text']")
    try:
        got = pool(page("target_cannabis"), BY_NAME["target_cannabis"]["url"], rules)
    finally:
        pool.close()
    assert got == extract("target_cannabis", rules) and got.method == "selector"


@pytest.mark.parametrize("where", ["text", "tail", "nested text", "nested tail", "comment", "comment tail",
                                   "root tail", "head"])
def test_clean_tree_finds_a_control_character_anywhere(where: str) -> None:
    """_clean_tree looks at the whole tree at once first; a control character in any text or tail (or in a
    comment) is still removed."""
    from ingest.extract import _clean_tree

    def c(key: str) -> str:
        return "&#1;" if key == where else ""

    page = (f"<html><head><title>T{c('head')}</title></head><body><p>a{c('text')}<b>x{c('nested text')}"
            f"<i>y</i>{c('nested tail')}</b></p>{c('tail')}<!-- note{c('comment')} -->{c('comment tail')}z</body></html>")
    if where == "comment":  # no character references in a comment: a raw control character
        tree = lxml.html.fromstring(page.replace("note", "note\x01").encode())
    elif where == "root tail":  # the tree walked is an element with a tail
        tree = lxml.html.fragment_fromstring("<div><p>a</p>t&#1;</div>").find("p")
    else:
        tree = lxml.html.fromstring(page)

    def strings() -> list[str]:
        return [s for el in tree.iter() for s in (el.text, el.tail) if s]
    assert "\x01" in "".join(strings())
    _clean_tree(tree)
    assert "\x01" not in "".join(strings())


def test_clean_tree_leaves_a_clean_tree_as_it_is() -> None:
    from ingest.extract import _clean_tree

    tree = lxml.html.fromstring("<html><body><p>a\t<b>b</b>c\n</p><!-- d --> e</body></html>")
    before = lxml.html.tostring(tree)
    _clean_tree(tree)
    assert lxml.html.tostring(tree) == before


def test_paragraph_text_length_by_serialization_equals_text_content() -> None:
    """_content_root measures a paragraph by libxml2's text serialization: the length of text_content()."""
    from lxml import etree
    from trafilatura.utils import load_html

    pages = sorted((ROOT / "fixtures").rglob("*.html"))
    assert len(pages) > 30
    docs = [p.read_bytes() for p in pages] + [
        b"<html><body><p>a<!-- c --><b>b&amp;<i>\xc3\xa9</i></b>t<br>u<script>s()</script><![CDATA[x]]></p>"
        b"<p>&#160; <span>\xf0\x9f\x98\x80</span></p><p></p></body></html>"]
    measured = 0
    for doc in docs:
        for p in load_html(doc).iter("p"):
            assert len(etree.tostring(p, method="text", encoding="unicode", with_tail=False)) == len(p.text_content())
            measured += 1
    assert measured > 300


def test_utf8_bytes_skip_the_decompression_attempts_and_compressed_or_legacy_bytes_still_get_them(monkeypatch):
    """A UTF-8 page reaches trafilatura's load_html as text: its attempts to decompress (brotli, then zlib, ~25 us
    a page) are for bytes that are not UTF-8, such as a gzip file served without Content-Encoding or a page in a
    legacy charset, which still get them and still extract."""
    import gzip

    import trafilatura.utils
    calls = []
    real = trafilatura.utils.handle_compressed_file
    monkeypatch.setattr(trafilatura.utils, "handle_compressed_file",
                        lambda data, *args: calls.append(data) or real(data, *args))
    html = page(MANIFEST[0]["file"].removeprefix("pages/").removesuffix(".html"))
    plain = extract_page(html, MANIFEST[0]["url"])
    assert plain.ok and calls == []
    assert extract_page(gzip.compress(html), MANIFEST[0]["url"]) == plain and len(calls) == 1
    legacy = "<html><body><article>" + "<p>Caf\u00e9 cr\u00e8me au march\u00e9, encore une fois.</p>" * 20
    got = extract_page((legacy + "</article></body></html>").encode("cp1252"), "https://example.com/x")
    assert len(calls) == 2 and "Caf\u00e9" in got.text and "march\u00e9" in got.text  # (its \u00e8 reads as cp1250's)
