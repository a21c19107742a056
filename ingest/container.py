"""The body of a page's article container, read directly: the first step of ingest.extract's chain.

When one element holds most of a page's paragraph text (extract._content_root), the article is that
element. trafilatura's fast mode on it costs ~1.1 ms a page, most of it XPath passes with regular
expressions over every node; reading the container once costs ~0.15 ms. It keeps what trafilatura keeps
there (paragraphs, headings, lists, block quotes, tables' rows, links) and drops what it drops:

- elements whose class or id names page chrome (sharing, related stories, ads, comments, newsletter
  sign-ups, bylines, ...: trafilatura's discard lists, abridged), hidden elements, figures;
- link farms: blocks whose text is mostly links (trafilatura's link-density test, simplified), and menus:
  short lists and tables of short links ("Home | News | Contact", the layout table of a hand-made page);
  unlike trafilatura, a link whose text is an address written out ("www.acme.com", "ir@acme.com") does not
  count: a line of it alone is a release's contact, not a link away;
- a trailing heading, and a first one that repeats the page title.

`blocks(container, base_url, skip_heading)` gives (tag, text, html) per block, as extract._blocks does
for trafilatura's XML; the caller falls back to trafilatura when this gives too little text.
"""

from __future__ import annotations

import html
import re

from lxml import etree

from ingest.urls import absolute_http

# class or id values of page chrome inside an article container (trafilatura's discard lists, abridged):
# sharing, related and most-read lists, ads, newsletter boxes, bylines and post meta, tags, navigation,
# teasers, hidden text. Read by class token: a token that is one of _WORDS (or starts with one and a "-" or
# "_": "share-bar"), or has one of _PARTS as a later part ("post-share-bar", "td-ad"), or that starts with
# a word of the third line ("advertisement", "sponsored"), or holds one of the last.
_WORDS = (r"hidden|hide|nav|menu|meta|metadata|authors?|byline|share|sharing|social|sociable|related|tags|tag-list|"
          r"teaser|consent|modal|popup|overlay|caption|sr-only|rating|ads?|widgets?|print-only|noprint")
_PARTS = r"share|sharing|social|related|ads?|advert\w*|newsletter|widgets?|teaser|caption|byline|nav|menu|meta|tags|" \
         r"authors?|rating|popup|modal"  # not "hidden": Drupal's "field--label-hidden" hides only a label
CHROME = re.compile(
    rf"(?:^|\s)(?:{_WORDS})(?=$|[\s_-])"
    rf"|[-_](?:{_PARTS})(?=$|[\s_-])"
    r"|(?:^|\s)(?:advert|subscri|sponsor|bread-?crumb|navbar|navigation|sidebar|newsletter|cookie|screen-reader)"
    r"|outbrain|taboola|criteo|most-popular|more-on",
    re.IGNORECASE)
# a release's contacts block ("bw-release-contact", "contacts"), by class or id
CONTACTS = re.compile(r"(?:^|[\s_-])contacts?(?=$|[\s_-])", re.IGNORECASE)
# a comment thread (trafilatura's), also when it is the container: the most paragraphs are readers'
COMMENT_CLASS = re.compile(r"^[Cc]omment(?!ary)|(?:article|post)-comments")
COMMENT_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)")
CHROME_TAGS = {"div", "section", "span", "p", "ul", "ol", "li", "aside", "dl"}  # what the names are tested on
HEADINGS = {"h1": "h2", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h4", "h6": "h4"}
PARAGRAPHS = {"p", "pre", "address", "dt", "dd"}
LISTS = {"ul", "ol"}
SKIPPED = {"figure", "img", "picture", "video", "audio", "object", "embed", "canvas", "map", "form", "label", "script",
           "style", "noscript", "template", "svg", "iframe", "button", "select", "textarea"}
BLOCK_TAGS = {"p", "pre", "address", "div", "section", "article", "main", "ul", "ol", "li", "dl", "dt", "dd",
              "table", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "figure", "center", "header", "hr"}
# the text of a link that is an address written out: an e-mail address, or a web site's (a host, no path)
ADDRESS = re.compile(r"(?:mailto:)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+/?",
                     re.IGNORECASE)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")
LINK_SHARE = 0.8  # a block whose link text is more than this share of its text is a link farm
MENU_SHORT = 0.8  # a short block whose links are more than this share short ones is a menu (_menu)


def blocks(container: etree._Element, base_url: str, skip_heading: str = "") -> list[tuple[str, str, str]]:
    """(tag, text, html) of each block of the container: tag one of p, h2-h4, ul, ol, blockquote; html
    its markup, with links made absolute against base_url (others flattened to their text)."""
    out: list[tuple[str, str, str]] = []
    if _is_comments(container):  # the most paragraphs are readers' comments
        return out
    _walk(container, base_url, out)
    if out and out[0][0] in ("h2", "h3", "h4") and _norm(skip_heading).lower() == out[0][1].lower():
        del out[0]  # the title again
    while out and out[-1][0] in ("h2", "h3", "h4"):
        del out[-1]  # a heading with nothing under it: the start of what follows the article
    return out


def contacts_after(container: etree._Element, base_url: str) -> list[tuple[str, str, str]]:
    """The blocks of the element right after the container when its class or id names contacts: Business
    Wire prints a release's contacts there (<div class="bw-release-contact">), outside its story, and they
    are part of the release. Empty for anything else."""
    after = container.getnext()
    while after is not None and not isinstance(after.tag, str):  # a comment between them
        after = after.getnext()
    if after is None or after.tag not in ("div", "section") or _is_comments(after):
        return []
    names = " ".join(v for v in (after.get("class"), after.get("id")) if v)
    return blocks(after, base_url) if CONTACTS.search(names) and not _is_chrome(after) else []


def _walk(el: etree._Element, base_url: str, out: list) -> None:
    """The blocks of a container: its block children in order, and the inline content between them
    (its own text, inline elements, tails) as paragraphs."""
    loose: list = [el.text]
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag not in BLOCK_TAGS:
            loose += (child, child.tail)
            continue
        _paragraph(loose, base_url, out)
        loose = [child.tail]
        if tag in SKIPPED or tag == "hr" or _is_chrome(child):
            continue
        if tag in HEADINGS:
            text, markup, _ = _inline(_content(child), base_url)
            if text:
                level = HEADINGS[tag]
                out.append((level, text, f"<{level}>{markup}</{level}>"))
        elif tag in LISTS:
            _list(child, base_url, out)
        elif tag == "table":
            _table(child, base_url, out)
        elif tag == "blockquote":
            text, markup, linked = _inline(_content(child), base_url, blocks=True)
            if text and linked <= LINK_SHARE * len(text):
                out.append(("blockquote", text, f"<blockquote>{markup}</blockquote>"))
        elif tag in PARAGRAPHS:
            _paragraph(_content(child), base_url, out)
        elif _linky_division(child):
            continue
        elif any(isinstance(c.tag, str) and c.tag in BLOCK_TAGS for c in child):
            _walk(child, base_url, out)
        elif child.find("br") is not None:  # a div of text lines is a paragraph; other divs of inline
            _paragraph(_content(child), base_url, out)  # content only are labels ("Advertisement")
    _paragraph(loose, base_url, out)


def _paragraph(content, base_url: str, out: list) -> None:
    text, markup, linked = _inline(content, base_url)
    if text and linked <= LINK_SHARE * len(text):
        out.append(("p", text, f"<p>{markup}</p>"))


def _list(el: etree._Element, base_url: str, out: list) -> None:
    items, linked = [], 0
    for item in el:
        if item.tag == "li" and not _is_chrome(item):
            text, markup, n = _inline(_content(item), base_url, blocks=True)
            if text:
                items.append((text, markup))
                linked += n
    chars = sum(len(t) for t, _ in items)
    if items and linked <= LINK_SHARE * chars and not _menu(el, chars):
        kind = "ol" if el.tag == "ol" else "ul"
        out.append((kind, "\n".join(f"- {t}" for t, _ in items),
                    f"<{kind}>" + "".join(f"<li>{m}</li>" for _, m in items) + f"</{kind}>"))


def _table(el: etree._Element, base_url: str, out: list) -> None:
    rows, linked = [], 0
    for row in el.iter("tr"):
        cells = []
        for cell in row:
            if cell.tag in ("td", "th"):
                cell_text, _, n = _inline(_content(cell), base_url, blocks=True)
                cells.append(cell_text)
                linked += n
        if text := " | ".join(c for c in cells if c):
            rows.append(text)
    chars = sum(map(len, rows))
    if rows and linked <= LINK_SHARE * chars and not _menu(el, chars):
        out.extend(("p", text, f"<p>{html.escape(text, quote=False)}</p>") for text in rows)


def _content(el: etree._Element) -> list:
    """An element's text, children and their tails, in order."""
    parts: list = [el.text]
    for child in el:
        parts += (child, child.tail)
    return parts


def _inline(content: list, base_url: str, blocks: bool = False) -> tuple[str, str, int]:
    """(text, html, characters of linked text) of inline content: links kept (absolute), every other tag
    flattened; with `blocks`, nested block elements (a list item's paragraphs) are apart by a space."""
    texts: list[str] = []
    marks: list[str] = []
    linked = _add(content, base_url, blocks, texts, marks, False)
    return _norm("".join(texts)), _norm("".join(marks)), linked


def _add(content: list, base_url: str, blocks: bool, texts: list, marks: list, in_link: bool) -> int:
    linked = 0
    for part in content:
        if part is None:
            continue
        if isinstance(part, str):
            texts.append(part)
            marks.append(html.escape(part, quote=False))
            if in_link:
                linked += len(part.strip())
            continue
        tag = part.tag
        if not isinstance(tag, str) or tag in SKIPPED or _is_chrome(part):
            continue
        href = absolute_http(part.get("href"), base_url) if tag == "a" and not in_link else None
        apart = blocks and tag in BLOCK_TAGS  # from the text before it too: "Two<ul><li>Nested" is two words
        if apart:
            texts.append(" ")
            marks.append(" ")
        if href:
            marks.append(f'<a href="{html.escape(href)}">')
        start = len(texts)
        n = _add(_content(part), base_url, blocks, texts, marks, in_link or tag == "a")
        # an address written out ("www.acme.com", "ir@acme.com") is a release's contact line, not a link away
        linked += 0 if tag == "a" and not in_link and ADDRESS.fullmatch("".join(texts[start:]).strip()) else n
        if href:
            marks.append("</a>")
        if apart or tag == "br":
            texts.append(" ")
            marks.append(" ")
    return linked


def _linky_division(el: etree._Element) -> bool:
    """A division with links and little text (less than 100 characters, 200 for the last one), or mostly
    links: a sign-up box, a "Read also" list, a share bar."""
    anchors = list(el.iter("a"))
    if not anchors:
        return False
    text = len(_norm(etree.tostring(el, method="text", encoding="unicode", with_tail=False)))
    linked = sum(len(_norm(etree.tostring(a, method="text", encoding="unicode", with_tail=False))) for a in anchors)
    return text < (200 if el.getnext() is None else 100) or linked > LINK_SHARE * text


def _menu(el: etree._Element, chars: int) -> bool:
    """A short list or table of short links ("Home | Products | News"): under 100 characters (300 for the
    last block), more than one link, and 80% of them shorter than 10 characters (trafilatura's test)."""
    if chars >= (300 if el.getnext() is None else 100):
        return False
    links = [n for n in (len(_norm(a.text_content())) for a in el.iter("a")) if n]
    return len(links) > 1 and sum(n < 10 for n in links) > MENU_SHORT * len(links)


def _is_comments(el: etree._Element) -> bool:
    return bool(COMMENT_CLASS.match(el.get("class") or "") or COMMENT_ID.match(el.get("id") or ""))


def _is_chrome(el: etree._Element) -> bool:
    attrib = el.attrib
    if not attrib or el.tag not in CHROME_TAGS:
        return False
    if "hidden" in attrib or attrib.get("aria-hidden") == "true":
        return True
    style = attrib.get("style")
    if style and ("none" in style or "hidden" in style) and HIDDEN_STYLE.search(style):
        return True
    names = " ".join(v for v in (attrib.get("class"), attrib.get("id")) if v)
    return bool(names) and (CHROME.search(names) is not None or _is_comments(el))


def _norm(text: str) -> str:
    return " ".join(text.split())
