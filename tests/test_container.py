"""ingest.container: the article container read directly keeps what trafilatura's fast mode keeps there,
on every fixture page and generated bench page that has a container, and drops page chrome by name,
visibility and link density."""

from __future__ import annotations

import re
import sys
from copy import deepcopy

import lxml.html
import pytest
from lxml import etree

from conftest import ROOT
from ingest import container
from ingest.extract import _clean_tree, _content_root, _strip_chrome, _trafilatura_body, extract_page

URL = "https://news.example/2025/story"
LONG = "The utility signed a contract for forty megawatts of battery storage at the new site this spring. " * 3


def _pages() -> list[tuple[str, bytes, str]]:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from backfill import page  # the bench's generated article pages: four layouts
    finally:
        sys.path.remove(str(ROOT / "bench"))
    fixtures = [(str(path.relative_to(ROOT)), path.read_bytes(), "https://wire.example/news/story")
                for path in sorted((ROOT / "fixtures").rglob("*.html"))]
    return fixtures + [(f"bench page {n}", page(n), f"http://127.0.0.1/news/{n}/") for n in range(1, 41)]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.mark.parametrize("name, content, url", _pages(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_container_gives_the_words_trafilatura_fast_mode_gives_there(name, content, url):
    from trafilatura.utils import load_html
    tree = load_html(content)
    _clean_tree(tree)
    _strip_chrome(tree)
    root = _content_root(tree)
    if root is None:
        pytest.skip("no clear article container")
    for line in [p for p in root.iter("p") if p.find("a") is not None and container.ADDRESS.fullmatch(p.text_content().strip())]:
        line.drop_tree()  # a line that is a linked address ("www.acme.com"): trafilatura drops it, ours keeps it
    # what extract did before it read containers itself: trafilatura's fast mode on a copy, as a document
    doc = lxml.html.Element("html")
    copy = deepcopy(root)
    copy.tag, copy.tail = "div", None
    etree.SubElement(etree.SubElement(doc, "body"), "article").append(copy)
    for menu in [el for el in copy.iter("ul", "ol", "table") if container._menu(el, len(el.text_content().strip()))]:
        menu.drop_tree()  # short lists and tables of short links: ours drops them, trafilatura keeps tables
    title = (tree.findtext(".//h1") or "").strip()
    theirs, _ = _trafilatura_body(doc, url, "fast", title)
    ours = "\n\n".join(text for _, text, _ in container.blocks(root, url, title))
    # the same words in the same order; spacing differs only where trafilatura puts a space between an
    # inline element and the text around it ("( BUSINESS WIRE )", "Corp. ,")
    assert _words(ours) == _words(theirs)
    assert len(ours.split("\n\n")) == len(theirs.split("\n\n"))


def blocks(body: str, title: str = "") -> list[tuple[str, str, str]]:
    root = lxml.html.fromstring(f"<html><body><div class='story'>{body}</div></body></html>").find(".//div")
    return container.blocks(root, URL, title)


def texts(body: str, title: str = "") -> list[str]:
    return [text for _, text, _ in blocks(body, title)]


def test_block_kinds_and_their_markup():
    got = blocks(f"<h1>Headline</h1><p>{LONG}</p><h3>Details</h3><ul><li>One <b>bold</b></li><li>Two</li></ul>"
                 "<ol><li>First</li></ol><blockquote><p>Quoted.</p><p>Twice.</p></blockquote>"
                 "<table><tr><th>Year</th><th>MW</th></tr><tr><td>2025</td><td>40</td></tr></table>"
                 "<dl><dt>Term</dt><dd>Meaning</dd></dl><pre>code  block</pre>", title="Headline")
    assert [(tag, text) for tag, text, _ in got] == [
        ("p", LONG.strip()), ("h3", "Details"), ("ul", "- One bold\n- Two"), ("ol", "- First"),
        ("blockquote", "Quoted. Twice."), ("p", "Year | MW"), ("p", "2025 | 40"), ("p", "Term"), ("p", "Meaning"),
        ("p", "code block")]
    assert got[2][2] == "<ul><li>One bold</li><li>Two</li></ul>"


def test_text_before_a_block_inside_a_list_item_or_cell_stays_a_word_of_its_own():
    """Minified pages put a nested list or a paragraph right after an item's or a cell's text; trafilatura's
    path reads "Two Nested a", so must the container's (not "TwoNested a")."""
    body = ("<ol><li>Two<ul><li>Nested a</li><li>Nested <a href='/b'>b</a></li></ul>after</li></ol>"
            "<table><tr><td>Cell<p>para</p></td><td>x</td></tr></table>")
    got = blocks(f"<p>{LONG}</p>{body}")
    assert [(tag, text) for tag, text, _ in got[1:]] == [("ol", "- Two Nested a Nested b after"),
                                                       ("p", "Cell para | x")]
    assert got[1][2] == '<ol><li>Two Nested a Nested <a href="https://news.example/b">b</a> after</li></ol>'
    page = f"<html><body><article><p>{LONG}</p>{body}<p>{LONG}</p></article></body></html>"
    assert _words(extract_page(page, URL).text) == _words(f"{LONG} Two Nested a Nested b after Cell para x {LONG}")


def test_links_are_absolute_and_other_schemes_are_text():
    [(_, text, markup)] = blocks('<p>See <a href="/report.pdf">the report</a>, <a href="javascript:void(0)">this</a>'
                                 ' and <a href="mailto:ir@x.example">us</a> &amp; more.</p>')
    assert text == "See the report, this and us & more."
    assert markup == '<p>See <a href="https://news.example/report.pdf">the report</a>, this and us &amp; more.</p>'


def test_a_link_wrapped_in_the_markup_is_the_url_browsers_read_on_both_paths():
    """An href broken over lines is one URL to a browser (tabs and line breaks dropped). The body's link must be
    that URL, not one with a space where the line broke (a broken link), on the container's path and on
    trafilatura's."""
    links = ('See <a href="https://ir.example/reports/2025/\nq3-results.pdf">the report</a> and '
             '<a href=" /files/2025/\r\n\tq3-deck.pdf ">the deck</a>.')
    hrefs = ['https://ir.example/reports/2025/q3-results.pdf', 'https://news.example/files/2025/q3-deck.pdf']
    article = f"<html><body><article><p>{LONG} {links}</p><p>{LONG}</p></article></body></html>"
    spread = f"<html><body><div><p>{LONG} {links}</p></div>" + f"<div><p>{LONG}</p></div>" * 2 + "</body></html>"
    for page, method in ((article, "container"), (spread, "fast")):
        got = extract_page(page, URL)
        assert got.method == method
        assert re.findall(r'href="([^"]*)"', got.body_html) == hrefs


def test_loose_text_and_inline_elements_between_blocks_are_paragraphs():
    assert texts(f"Dateline text <b>bold</b> here.<p>{LONG}</p>A tail <i>line</i>.<br>After the break.") == [
        "Dateline text bold here.", LONG.strip(), "A tail line. After the break."]


def test_chrome_by_name_and_hidden_elements_are_dropped():
    got = texts(f"<p>{LONG}</p>"
                "<div class='post-share-bar'><p>Share this on every network you like to use today</p></div>"
                "<div class='related-posts'><p>Other stories you might like to read after this one</p></div>"
                "<div class='td-ad'><p>Advertisement copy for a product that is long enough to be kept</p></div>"
                "<div id='newsletter-signup'><p>Get the briefing in your inbox every single morning</p></div>"
                "<p class='byline'>By A. Reporter, staff writer of the paper</p>"
                "<div style='display: none'><p>Hidden text that is only there for crawlers to find</p></div>"
                "<div aria-hidden='true'><p>Also hidden from every reader of the article</p></div>"
                "<p style='visibility:hidden'>Invisible, though it takes its place on the page</p>"
                "<div hidden><p>The hidden attribute hides this one as well, of course</p></div>"
                "<ul class='tags'><li>energy</li><li>storage</li></ul>"
                "<figure><img src='x.jpg'><figcaption>A caption under the photo</figcaption></figure>"
                "<p>The closing paragraph stays in, as it is part of the article text.</p>")
    assert got == [LONG.strip(), "The closing paragraph stays in, as it is part of the article text."]


def test_names_are_read_by_class_token_not_by_substring():
    # Drupal's "field--label-hidden" hides the label, not the field; "metaverse" and "shareholders" are words
    got = texts(f"<div class='field field--label-hidden'><p>{LONG}</p></div>"
                "<div class='metaverse-news shareholders'><p>Shareholders approved the plan on Monday.</p></div>"
                "<h2 id='accuracy-and-consent'>Accuracy and consent</h2><p>Consent is asked for every visit.</p>")
    assert got == [LONG.strip(), "Shareholders approved the plan on Monday.", "Accuracy and consent",
                   "Consent is asked for every visit."]


def test_link_farms_and_short_linked_divisions_are_dropped():
    got = texts(f"<p>{LONG}</p>"
                "<ul><li><a href='/a'>First other story</a></li><li><a href='/b'>Second other story</a></li></ul>"
                "<div><p>Enjoying the site? <a href='/signup'>Sign up</a> now.</p></div>"
                "<div class='lee'><span>Read also</span><ul><li><a href='/c'>A third story with a long headline"
                "</a></li><li><a href='/d'>And a fourth story with a long headline too</a></li></ul></div>"
                "<p>A paragraph with <a href='/e'>one link</a> in it is kept as the article's own text.</p>")
    assert got == [LONG.strip(), "A paragraph with one link in it is kept as the article's own text."]


def test_a_line_that_is_a_linked_address_is_the_release_s_own_and_kept():
    """A release's contact lines are often a link alone: its web site or an e-mail address written out. They
    were dropped as link farms; a link whose text is a headline or a path is still one."""
    got = texts(f"<p>{LONG}</p><p>For further information, please contact:</p>"
                "<p><a href='mailto:info@silverpeak.example'>info@silverpeak.example</a></p>"
                "<p><a href='https://www.silverpeak.example'>www.silverpeak.example</a></p>"
                "<p><a href='https://ir.acme.example/'>https://ir.acme.example/</a></p>"
                "<p><a href='/other'>Silverpeak closes its financing</a></p>"
                "<p>Photo - <a href='https://mma.example/media/1/photo.jpg'>https://mma.example/media/1/photo.jpg</a></p>")
    assert got == [LONG.strip(), "For further information, please contact:", "info@silverpeak.example",
                   "www.silverpeak.example", "https://ir.acme.example/"]


def test_short_lists_and_tables_of_short_links_are_menus_and_dropped():
    menu_table = ("<table><tr><td><a href='/'><img src='logo.gif'></a></td><td><a href='/'>Home</a> | "
                  "<a href='/news/'>News</a> | <a href='/contact'>Contact</a></td></tr></table>")
    menu_list = "<ul><li><a href='/'>Home</a></li><li><a href='/ir'>Investors</a></li><li>Careers</li></ul>"
    kept = ("<ul><li>Sales of <a href='/q4'>$612M</a> (<a href='/table'>the results table</a>)</li><li>Dividend</li></ul>"
            "<table><tr><td><a href='/filings'>10-K</a></td><td>Annual report</td></tr></table>")
    got = texts(f"{menu_table}<p>{LONG}</p>{menu_list}{kept}<p>End.</p>")
    # one short link is not a menu; nor are links that are not mostly short ones
    assert got == [LONG.strip(), "- Sales of $612M (the results table)\n- Dividend", "10-K | Annual report", "End."]
    # from 100 characters on (300 as the last block), short links are the list's, as in trafilatura's test
    def items(n: int) -> str:
        return "".join(f"<li><a href='/{i}'>Q{i}</a> revenue was up</li>" for i in range(1, n + 1))
    assert len(texts(f"<p>{LONG}</p><ul>{items(8)}</ul><p>End.</p>")) == 3  # 142 characters
    assert len(texts(f"<p>{LONG}</p><ul>{items(3)}</ul><p>End.</p>")) == 2  # 52


def test_label_divisions_are_dropped_and_divisions_of_lines_kept():
    got = texts(f"<p>{LONG}</p><div class='werbung'><span>Anzeige</span></div>"
                "<div>Line one of an address<br>Line two of it</div><p>End.</p>")
    assert got == [LONG.strip(), "Line one of an address Line two of it", "End."]


def test_title_heading_first_and_trailing_headings_are_dropped():
    assert texts(f"<h2>The Title</h2><p>{LONG}</p><h2>More from us</h2>", title="The title") == [LONG.strip()]
    assert texts(f"<h2>Another heading</h2><p>{LONG}</p>", title="The title")[0] == "Another heading"


def test_a_comment_thread_container_gives_nothing_and_the_chain_goes_on():
    thread = "".join(f"<p>Reader comment {i}: {LONG}</p>" for i in range(4))
    page_html = (f"<html><body><article><h1>T</h1><p>{LONG}</p><p>Second paragraph of the article itself, "
                 f"long enough.</p></article><div class='comments-area'>{thread}</div></body></html>")
    got = extract_page(page_html, URL)
    assert got.trail.startswith('container <div class="comments-area">: 0 chars; fast: ')
    assert "Reader comment" not in got.text and "Second paragraph of the article" in got.text


def test_the_extraction_is_sanitized_and_the_page_tree_left_as_it_was():
    root = lxml.html.fromstring(f"<div><p onclick='x()'>{LONG}<script>alert(1)</script></p>"
                                "<p><a href='https://x.example/a?b=1&amp;c=2' style='color:red'>link</a> "
                                "&lt;script&gt;</p></div>")
    before = lxml.html.tostring(root)
    got = container.blocks(root, URL)
    assert lxml.html.tostring(root) == before
    assert got[1][2] == '<p><a href="https://x.example/a?b=1&amp;c=2">link</a> &lt;script&gt;</p>'
    assert got[0][1] == LONG.strip() and got[1][1] == "link <script>"
