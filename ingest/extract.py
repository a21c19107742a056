"""Article extraction behind one function: page bytes in, an Extraction (clean body + metadata, or a reason) out.

The body comes from the first step of this chain that gives one, and `trail` says what each step gave:

    selector   the source's own `body_selector` (config), when it has one and it matches
    container  the page's article container, when it has a clear one (the element holding most of its
               paragraph text; <body> itself on a page without wrappers, such as a print view), read
               directly by ingest.container: what trafilatura's fast mode keeps there, for a sixth of the CPU
    fast       trafilatura's fast mode (no readability/justext comparison), favouring precision, on the
               whole page: when there is no clear container, or it gave less than `min_chars`
    fallback   trafilatura with its fallbacks, when the fast body is empty or shorter than `min_chars`
    (feed)     the feed's own content: not here, normalize() uses `from_feed` when the page gave nothing

The page is parsed once; metadata comes from ingest.pagemeta. A page whose body is short and that has a
"Read More" / "Continue reading" / "Full story" link next to its lead is a teaser: `read_more` carries the
link and `follow_read_more` (given a way to fetch) extracts the full article there.

The body HTML is built by us (from the container, or from trafilatura's XML tree), so it only ever
holds <p>, <h2>-<h4>, lists, block quotes and links with absolute URLs, and it goes through nh3 as a last
safety net. trafilatura Documents and lxml trees never leave this module.
"""

from __future__ import annotations

import html
import re
from copy import copy, deepcopy
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Callable, Iterator
from urllib.parse import urlsplit

import lxml.html
import nh3
from lxml import etree

from ingest import container
from ingest.decoding import clean_strings, clean_text
from ingest.model import ExtractRules, Extraction, FeedEntry
from ingest.pagemeta import PageMeta, page_metadata
from ingest.selectors import select
from ingest.urls import absolute_http

if TYPE_CHECKING:
    from trafilatura.settings import Extractor

ALLOWED_TAGS = {"p", "h2", "h3", "h4", "ul", "ol", "li", "blockquote", "a"}
MIN_CHARS = 250  # a container or fast-mode body shorter than this goes on to the next step of the chain
TEASER_CHARS = 2500  # only a body shorter than this can be a teaser
LEAD_CHARS = (80, 1500)  # a teaser's lead before its read-more link is this long
NO_RULES = ExtractRules()
READ_MORE = re.compile(
    r"\b(?:read\s+(?:the\s+)?(?:more|full|rest|complete|original)|continue\s+reading|"
    r"full\s+(?:story|article|release|text)|view\s+(?:the\s+)?(?:full|original)\s+(?:story|article|release))\b",
    re.IGNORECASE)
_ALLOWED_ATTRIBUTES = {"a": {"href"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "tr", "section", "article"}
# removed before extraction (trafilatura would drop them too, but after walking them several times)
_NEVER_CONTENT = ("head", "script", "style", "noscript", "template", "svg", "iframe", "nav", "aside", "footer",
                  "button", "select", "input", "textarea")
ROOT_SHARE = 0.6  # a content root holds at least this share of the page's paragraph text
ROOT_MIN_CHARS = 500  # below this much paragraph text, the whole page is given to trafilatura
_HEADER_CHARS = 600  # a <header> with less text than this is a title block, not (part of) the article
_NOT_TEXT = (etree.Comment, etree.ProcessingInstruction, etree.Entity)  # their own text is not in method="text"
_HEADINGS = {"h1": "h2", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h4", "h6": "h4"}
# Inside a block of trafilatura's XML (or of the HTML its fallbacks return), these break the text: a space
# goes where they are; every other element (hi, ref, b, a, span, ...) is inline and joins its text as it is.
_SEPARATING = _BLOCK_TAGS | {"lb", "br", "head", "quote", "list", "item", "table", "row", "cell", "ul", "ol",
                             "dl", "dt", "dd", "td", "th", "hr", "figure", "figcaption"}
# the HTML ones of them that clean_html drops (keeping their text): a space goes before each, or nh3 would glue
# the words they separated ("line<br>break", "<td>a</td><td>b</td>")
_SPACED = re.compile(r"<(?=/?(?:%s)\b)" % "|".join(sorted(_SEPARATING - ALLOWED_TAGS)), re.IGNORECASE)

# trafilatura's option sets, by name: templates, copied for each page (never changed in place)
# An ad slot's marker, a block of its own between paragraphs: "Advertisement", "- ADVERTISEMENT -", "Skip
# Advertisement", "Story continues below advertisement", "Advertisement - scroll to continue". Left in the
# body it reads as the item's own paid label (promo rule paid_content) and turns a news story promotional.
AD_SLOT = re.compile(
    r"[\W_]*(?:(?:skip\s+)?advertisements?|advertising|ads?|sponsored|"
    r"(?:(?:the\s+)?(?:story|article|content|text)\s+continues|continue\s+reading)\s+(?:below|after)"
    r"(?:\s+(?:this\s+|the\s+)?(?:advertisement|ad))?)"
    r"(?:[\W_]+scroll\s+(?:down\s+)?to\s+continue(?:\s+(?:reading|with\s+content))?)?[\W_]*",
    re.IGNORECASE)
AD_SLOT_AFTER = 150  # characters of body before a marker that make it a slot; nearer the top, it may label the item

_OPTIONS = {"fast": dict(fast=True, precision=True), "fallback": dict(fast=False),
            "selected": dict(fast=True, recall=True)}

Fetch = Callable[[str], "tuple[bytes | str, str] | str"]  # url -> (content, final url), or why not


def extract_page(content: bytes | str, url: str, rules: ExtractRules = NO_RULES, *,
                 min_chars: int = MIN_CHARS, teaser_chars: int = TEASER_CHARS) -> Extraction:
    """Extract the article body and page metadata; an empty body comes back with `failure` set."""
    from trafilatura.utils import load_html  # trafilatura is imported where pages are extracted (ingest.workers),
    # not by every process that reads this module for clean_html or teaser_link (~0.1 s of imports)
    try:
        tree = load_html(_utf8_text(content))
    except (ValueError, TypeError, etree.LxmlError) as exc:
        return Extraction(failure=f"extract {url}: unreadable HTML: {exc}", trail="parse: unreadable HTML")
    if tree is None:
        return Extraction(failure=f"extract {url}: not an HTML page", trail="parse: not an HTML page")
    _clean_tree(tree)
    meta = page_metadata(tree, url)
    _drop(tree, rules.drop_selectors)
    _strip_chrome(tree)
    body = _by_selector(tree, url, rules.body_selector, meta) if rules.body_selector else None
    if body is None or not body.text:
        chain = _generic(tree, url, meta, min_chars)
        body = replace(chain, trail=f"{body.trail}; {chain.trail}") if body else chain
    link = find_read_more(tree, url, body.text, teaser_chars) if body.text else None
    return clean_strings(replace(body, title=meta.title, date=meta.date, image=meta.image, canonical=meta.canonical,
                                 description=meta.description, language=meta.language, site_name=meta.site_name,
                                 read_more=link))


def _utf8_text(content: bytes | str) -> bytes | str:
    """The page as text when its bytes are UTF-8 (what trafilatura's load_html decodes first too), else as it
    is. load_html tries to decompress bytes before it decodes them: brotli, then zlib, on any page without a
    gzip or zstd magic number, ~25 us a page of CPU. The fetcher has undone any Content-Encoding, and compressed
    data is not UTF-8 (gzip's and zstd's magic numbers are not), so such pages still reach load_html as bytes."""
    if isinstance(content, bytes):
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return content


def follow_read_more(teaser: Extraction, link: str, fetch: Fetch, extract: Callable[[bytes | str, str], Extraction]
                     ) -> Extraction:
    """Fetch a teaser's read-more link once and keep the full article found there, when it is longer."""
    got = fetch(link)
    if isinstance(got, str):
        return replace(teaser, trail=f"{teaser.trail}; read-more {link}: not fetched ({got})")
    content, final_url = got
    return merge_read_more(teaser, extract(content, final_url), final_url)


def merge_read_more(teaser: Extraction, full: Extraction, full_url: str) -> Extraction:
    """The full article's body with the teaser page's metadata filling in what the full page lacks.
    The canonical URL is the full article's: it names the story wherever the teaser was syndicated."""
    trail = f"{teaser.trail}; read-more {full_url}: {full.trail}"
    if not full.ok or len(full.text) <= len(teaser.text):
        return replace(teaser, trail=f"{trail}; kept the teaser (the linked page gave no longer body)")
    return replace(full, title=teaser.title or full.title, date=teaser.date or full.date,
                   image=teaser.image or full.image, canonical=full.canonical or teaser.canonical,
                   description=teaser.description or full.description, language=full.language or teaser.language,
                   site_name=teaser.site_name or full.site_name, trail=f"{trail}; used the linked page",
                   read_more=None, followed_url=full_url)


# --- the chain ------------------------------------------------------------------------------------

def _generic(tree: lxml.html.HtmlElement, url: str, meta: PageMeta, min_chars: int) -> Extraction:
    """The page's article container read directly (ingest.container), when it has a clear one; else, or
    when that gives too little, trafilatura's fast mode on the whole page, then trafilatura with its
    fallbacks when that body is empty or too short."""
    trail = ""
    root = _content_root(tree)
    if root is not None:
        blocks = without_ad_slots(container.blocks(root, url, skip_heading=meta.title)
                                  + container.contacts_after(root, url))
        text = "\n\n".join(t for _, t, _ in blocks)
        where = f"<{root.tag}" + (f' class="{root.get("class")}"' if root.get("class") else "") + ">"
        if len(text) >= min_chars:
            return Extraction(text=text, body_html=_sanitized("".join(h for _, _, h in blocks)), method="container",
                              trail=f"container {where}: {len(text)} chars")
        trail = f"container {where}: {len(text)} chars; "
    fast_text, fast_html = _trafilatura_body(tree, url, "fast", meta.title)
    if len(fast_text) >= min_chars:
        return Extraction(text=fast_text, body_html=fast_html, method="fast",
                          trail=f"{trail}fast: {len(fast_text)} chars")
    trail += f"fast: {len(fast_text)} chars, " + ("empty" if not fast_text else f"shorter than {min_chars}")
    text, body_html = _trafilatura_body(tree, url, "fallback", meta.title)
    trail += f"; fallback: {len(text)} chars"
    if len(text) > len(fast_text):
        return Extraction(text=text, body_html=body_html, method="fallback", trail=trail)
    if fast_text:
        return Extraction(text=fast_text, body_html=fast_html, method="fast", trail=f"{trail}; kept fast")
    return Extraction(failure=f"extract {url}: no article text found", trail=trail)


def _content_root(tree: lxml.html.HtmlElement) -> etree._Element | None:
    """The element that holds most of the page's paragraph text (ROOT_SHARE of it or more): the article's
    container; <body> when the paragraphs sit right in it (a print view, a hand-made page), where trafilatura's
    fast mode on the whole page falls back to collecting loose text and drops lists, tables and paragraphs
    that it keeps in a container. None when the paragraphs are spread out, or few."""
    chars: dict[etree._Element, int] = {}
    total = 0
    for paragraph in tree.iter("p"):
        # = len(paragraph.text_content()), without an XPath call per paragraph (~29 -> ~17 us per bench page)
        n = len(etree.tostring(paragraph, method="text", encoding="unicode", with_tail=False))
        total += n
        parent = paragraph.getparent()
        if parent is not None:
            chars[parent] = chars.get(parent, 0) + n
    if total < ROOT_MIN_CHARS or not chars:
        return None
    best, best_chars = max(chars.items(), key=lambda kv: kv[1])
    if best_chars < ROOT_SHARE * total or best.tag == "html":
        return None
    return best


def _by_selector(tree: lxml.html.HtmlElement, url: str, selector: str, meta: PageMeta) -> Extraction:
    """The body from the source's own selector: everything it matches, in page order. trafilatura turns
    it into our HTML (headings, lists, links); when that loses text the selector holds (loose text in
    <font> or <td> soup), plain paragraphs of all of it are kept instead."""
    nodes = select(tree, selector)
    if not nodes:
        return Extraction(trail=f"selector {selector!r}: matched nothing")
    page = lxml.html.Element("html")
    article = etree.SubElement(etree.SubElement(page, "body"), "article")
    for node in nodes:
        article.append(deepcopy(node))
    text, body_html = _trafilatura_body(page, url, "selected", meta.title)
    blocks = [b for n in nodes for b in html_blocks(lxml.html.tostring(n, encoding="unicode"), url)]
    plain_text = "\n\n".join(blocks)
    if len(text) < 0.9 * len(plain_text):
        text, body_html = plain_text, _sanitized("".join(f"<p>{html.escape(b, quote=False)}</p>" for b in blocks))
    trail = f"selector {selector!r}: {len(nodes)} element(s), {len(text)} chars"
    return Extraction(text=text, body_html=body_html, method="selector" if text else "", trail=trail)


def _trafilatura_body(tree: lxml.html.HtmlElement, url: str, kind: str, title: str) -> tuple[str, str]:
    """(plain text, clean HTML) of the body trafilatura finds with these options (_OPTIONS); empty when none."""
    import trafilatura
    options = copy(_template(kind))
    options.source = url  # not options.url: trafilatura would resolve every link of the page against it;
    # we make absolute only the links that end up in the body (_inline_html)
    try:
        doc = trafilatura.bare_extraction(tree, options=options)
    except Exception:  # noqa: BLE001 - trafilatura raises assorted lxml/parser errors on hostile pages
        return "", ""
    if doc is None or doc.body is None:
        return "", ""
    blocks = without_ad_slots(list(_blocks(doc.body, url, skip_heading=title)))
    return "\n\n".join(t for _, t, _ in blocks), _sanitized("".join(h for _, _, h in blocks))


def without_ad_slots(blocks: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The (tag, text, html) blocks without the markers of ad slots (AD_SLOT) that sit between paragraphs:
    after AD_SLOT_AFTER characters of body, and before its last block. At the top or the bottom, such a
    line may be the item's own label ("ADVERTISEMENT" over a paid piece): it stays for ingest.promo."""
    kept: list[tuple[str, str, str]] = []
    chars = 0
    for i, block in enumerate(blocks):
        text = block[1]
        if (len(text) > 60 or chars < AD_SLOT_AFTER or i == len(blocks) - 1
                or block[0] not in ("p", "h2", "h3", "h4") or not AD_SLOT.fullmatch(text)):
            kept.append(block)
        chars += len(text)
    return kept


@cache
def _template(kind: str) -> Extractor:
    from trafilatura.settings import Extractor
    return Extractor(output_format="xml", comments=False, links=True, **_OPTIONS[kind])


def _strip_chrome(tree: lxml.html.HtmlElement) -> None:
    """Remove what is never article text before trafilatura walks the tree (several times): scripts,
    navigation, forms' controls, asides, footers, and <header>s that are only a title and a byline."""
    etree.strip_elements(tree, *_NEVER_CONTENT, with_tail=False)
    for header in list(tree.iter("header")):
        if header.getparent() is not None and len(header.text_content()) < _HEADER_CHARS:
            header.drop_tree()


def _clean_tree(tree: etree._Element) -> None:
    """Remove control characters from the tree's text. lxml parses "&#1;" into text it then refuses to set
    again (ValueError), which dropping an element does with its tail."""
    # A clean tree (nearly every page) is not walked in Python: its text and tails in one string (serialized by
    # libxml2), then its comments' own text: ~70 -> ~12 us of CPU per bench page (process_time, 1,000 pages).
    whole = etree.tostring(tree, method="text", encoding="unicode", with_tail=True)
    whole += "".join(node.text or "" for node in tree.iter(*_NOT_TEXT))
    if clean_text(whole) == whole:
        return
    for el in tree.iter():
        for name in ("text", "tail"):
            value = getattr(el, name)
            if value and (cleaned := clean_text(value)) != value:
                setattr(el, name, cleaned)


def _drop(tree: lxml.html.HtmlElement, selectors: tuple[str, ...]) -> None:
    for selector in selectors:
        for el in select(tree, selector):
            if el.getparent() is not None:
                el.drop_tree()


# --- teasers --------------------------------------------------------------------------------------

def find_read_more(tree: lxml.html.HtmlElement, url: str, body_text: str, teaser_chars: int = TEASER_CHARS
                   ) -> str | None:
    """The link of a teaser page to its full article: a short body, and a "Read More"-style link right
    after a lead paragraph that is part of that body. None for anything else."""
    if not body_text or len(body_text) >= teaser_chars:
        return None
    body = _norm(body_text)
    for anchor in tree.iter("a"):
        if not anchor.get("href") or not _says_read_more(anchor):
            continue
        target = absolute_http(anchor.get("href"), url)
        if not target or _same_page(target, url):
            continue
        lead = _lead_before(anchor)
        if LEAD_CHARS[0] <= len(lead) <= LEAD_CHARS[1] and lead[-60:] in body:
            return target
    return None


def teaser_link(page: Extraction, entry: FeedEntry, page_url: str, teaser_chars: int = TEASER_CHARS) -> str | None:
    """The read-more link a teaser page is to be followed to: the page's own, else (for a page shorter
    than `teaser_chars`) one in the feed item."""
    if page.read_more:
        return page.read_more
    return feed_read_more(entry, page_url) if len(page.text) < teaser_chars else None


def feed_read_more(entry: FeedEntry, page_url: str = "") -> str | None:
    """A "Read More"-style link in the feed item's own content or summary to another page than the item's."""
    base_url = page_url or entry.link or ""
    for fragment in (entry.content_html, entry.summary_html):
        if not fragment or "<a" not in fragment:
            continue
        try:
            root = _fragment_root(fragment)
        except (etree.ParserError, ValueError):
            continue
        for anchor in root.iter("a"):
            target = absolute_http(anchor.get("href"), base_url)
            if target and _says_read_more(anchor) and not any(_same_page(target, u) for u in (base_url, entry.link)
                                                               if u):
                return target
    return None


def _says_read_more(anchor: etree._Element) -> bool:
    """The anchor's text, or the words just before it ("Read More>> <a>https://ibn.fm/x</a>"), say so."""
    label = anchor.text if len(anchor) == 0 else "".join(anchor.itertext())
    label = label or ""
    if _may_say_read_more(label) and READ_MORE.search(label):
        return True
    previous, parent = anchor.getprevious(), anchor.getparent()
    before = ((previous.tail if previous is not None else parent.text if parent is not None else None) or "")[-40:]
    return len(label) < 100 and _may_say_read_more(before) and bool(READ_MORE.search(before))


def _may_say_read_more(text: str) -> bool:
    """A cheap first test (substrings) before the regular expression, which is slow on every link."""
    low = text.lower()
    return "read" in low or "continue" in low or "full" in low


def _lead_before(anchor: etree._Element) -> str:
    """The text before the anchor in the nearest enclosing block that has a lead's worth of it, with the
    read-more words themselves cut off."""
    for level, block in enumerate(anchor.iterancestors()):
        if level > 3 or block.tag in ("body", "html"):
            break
        text = _norm(_text_before(block, anchor))
        if len(text) >= LEAD_CHARS[0]:
            return READ_MORE.split(text)[0].rstrip(" >»:-–—|") if READ_MORE.search(text[-40:]) else text
    return ""


def _text_before(container: etree._Element, stop: etree._Element) -> str:
    """All text inside `container` that comes before the element `stop`, in document order."""
    parts: list[str] = []
    for event, el in etree.iterwalk(container, events=("start", "end")):
        if el is stop:
            break
        if event == "start" and isinstance(el.tag, str) and el.tag not in ("script", "style"):
            parts.append(el.text or "")
        elif event == "end" and el is not container:
            parts.append(el.tail or "")
        if event == "start" and el.tag == "br":
            parts.append(" ")
    return "".join(parts)


def _same_page(target: str, url: str) -> bool:
    def key(u: str) -> str:
        parts = urlsplit(u)
        return f"{parts.netloc.lower()}{parts.path.rstrip('/')}"
    return key(target) == key(url)


# --- feed content ---------------------------------------------------------------------------------

def from_feed(entry: FeedEntry, base_url: str | None = None) -> Extraction:
    """The feed's own content (or summary) as a body, for when the page gives none."""
    fragment = entry.content_html or entry.summary_html
    blocks = html_blocks(fragment, base_url or entry.link or "")
    text = "\n\n".join(blocks)
    body = "".join(f"<p>{html.escape(b, quote=False)}</p>" for b in blocks)
    return Extraction(text=text, body_html=clean_html(body) if body else "", method="feed" if text else "")


def clean_html(fragment: str) -> str:
    """Sanitize with nh3: only our block tags and absolute http(s) links survive; the text of the tags it drops
    stays, apart from its neighbours where they were blocks or line breaks (_SPACED)."""
    return _sanitized(_SPACED.sub(" <", fragment))


def _sanitized(fragment: str) -> str:
    """nh3's pass alone, for the bodies built here from blocks: they hold only our tags, so there is nothing to
    space apart (_SPACED's pass would cost ~14 us a page for nothing)."""
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES, url_schemes=_URL_SCHEMES,
                     link_rel=None, strip_comments=True)


def html_blocks(fragment: str, base_url: str = "") -> list[str]:
    """Plain-text paragraphs of an HTML fragment (feed summaries and contents)."""
    if not fragment or not fragment.strip():
        return []
    fragment = clean_text(fragment)
    try:
        root = _fragment_root(fragment)
    except (etree.ParserError, ValueError):
        return [_norm(fragment)] if _norm(fragment) else []
    _clean_tree(root)
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    pieces: list[str] = []
    _collect_text(root, pieces)
    joined = "".join(pieces)
    return [p for p in (_norm(part) for part in re.split(r"\n\s*\n|\n", joined)) if p]


def _fragment_root(fragment: str) -> etree._Element:
    """An HTML fragment parsed into a <body>. Not lxml's fragment_fromstring: a fragment that starts like a
    document ("<!DOCTYPE", "<html") is parsed as one there, and one without a body ("<!DOCTYPE><SCRIPT")
    fails its assertion; in a body, a stray doctype or <html> tag is dropped by the parser."""
    return lxml.html.document_fromstring(f"<html><body>{fragment}</body></html>").body


def _collect_text(el: etree._Element, out: list[str]) -> None:
    if not isinstance(el.tag, str):
        out.append(el.tail or "")
        return
    block = el.tag.lower() in _BLOCK_TAGS
    if block:
        out.append("\n\n")
    out.append(el.text or "")
    for child in el:
        _collect_text(child, out)
    if block:
        out.append("\n\n")
    out.append(el.tail or "")


# --- trafilatura XML -> our HTML ------------------------------------------------------------------

def _blocks(body: etree._Element, base_url: str, skip_heading: str) -> Iterator[tuple[str, str, str]]:
    """(tag, text, html) for each block of trafilatura's XML body."""
    first = True
    for el in body:
        tag = el.tag
        if tag == "head":
            text = _norm(_inline_text(el))
            if first and _norm(skip_heading).lower() == text.lower():
                first = False
                continue
            if text:
                level = _HEADINGS.get((el.get("rend") or "h2").lower(), "h2")
                yield level, text, f"<{level}>{_text_html(el, text, base_url)}</{level}>"
        elif tag == "list":
            yield from _list_block(el, base_url)
        elif tag == "table":
            yield from _table_rows(el)
        else:
            text = _norm(_inline_text(el))
            if text:
                wrap = "blockquote" if tag == "quote" else "p"
                yield wrap, text, f"<{wrap}>{_text_html(el, text, base_url)}</{wrap}>"
        first = False


def _list_block(el: etree._Element, base_url: str) -> Iterator[tuple[str, str, str]]:
    texts = [(i, _norm(_inline_text(i))) for i in el.iter("item")]
    items = [(t, _text_html(i, t, base_url)) for i, t in texts if t]
    if items:
        kind = "ol" if (el.get("rend") or "").startswith("ol") else "ul"
        yield kind, "\n".join(f"- {t}" for t, _ in items), \
            f"<{kind}>" + "".join(f"<li>{h}</li>" for _, h in items) + f"</{kind}>"


def _table_rows(el: etree._Element) -> Iterator[tuple[str, str, str]]:
    for row in el.iter("row"):
        cells = [_norm(_inline_text(c)) for c in row.iter("cell")]
        text = " | ".join(c for c in cells if c)
        if text:
            yield "p", text, f"<p>{html.escape(text, quote=False)}</p>"


def _inline_text(el: etree._Element) -> str:
    """The element's text as written ("<ref>lithium</ref>-ion" is "lithium-ion"), a space where a line break
    or a block separates it (_SEPARATING); comments' and processing instructions' own text left out."""
    if len(el) == 0:  # most blocks, cells and items: ~1.4 -> ~0.1 us each without walking children
        return el.text or ""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            space = " " if child.tag in _SEPARATING else ""
            parts += (space, _inline_text(child), space)
        parts.append(child.tail or "")
    return "".join(parts)


def _text_html(el: etree._Element, text: str, base_url: str) -> str:
    """_inline_html(el), given `text` = _norm(_inline_text(el)): an element without children (most
    paragraphs) is its text escaped (escaping leaves white space alone): _blocks ~180 -> ~150 us of CPU per
    bench page (process_time, 1,000 pages)."""
    return _inline_html(el, base_url) if len(el) else html.escape(text, quote=False)


def _inline_html(el: etree._Element, base_url: str) -> str:
    """The element's text with <ref> kept as absolute links and every other inline tag flattened; spaced
    as _inline_text."""
    return " ".join(_inline_markup(el, base_url).split())


def _inline_markup(el: etree._Element, base_url: str) -> str:
    parts = [html.escape(el.text or "", quote=False)]
    for child in el:
        if isinstance(child.tag, str):
            inner = _inline_markup(child, base_url)
            href = absolute_http(child.get("target"), base_url) if child.tag == "ref" else None
            space = " " if child.tag in _SEPARATING else ""
            parts += (space, f'<a href="{html.escape(href)}">{inner}</a>' if href else inner, space)
        parts.append(html.escape(child.tail or "", quote=False))
    return "".join(parts)


def _norm(text: str) -> str:
    return " ".join(text.split())
