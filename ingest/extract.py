"""trafilatura behind an adapter: page bytes in, an Extraction (clean body + metadata, or a reason) out.

The body HTML is built by us from trafilatura's XML tree, so it only ever holds <p>, <h2>, lists,
block quotes and links with absolute URLs, and it goes through nh3 as a last safety net. trafilatura
Documents and lxml trees never leave this module.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import lxml.html
import nh3
import trafilatura
from lxml import etree

from ingest.model import Extraction, FeedEntry

ALLOWED_TAGS = {"p", "h2", "h3", "h4", "ul", "ol", "li", "blockquote", "a"}
_ALLOWED_ATTRIBUTES = {"a": {"href"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_SPACE = re.compile(r"\s+")
_BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "tr", "section", "article"}


def extract_page(content: bytes | str, url: str) -> Extraction:
    """Extract the article body and page metadata; an empty body comes back with `failure` set."""
    try:
        doc = trafilatura.bare_extraction(content, url=url, include_links=True, include_comments=False,
                                          with_metadata=True, favor_precision=False)
    except Exception as exc:  # noqa: BLE001 - trafilatura raises assorted lxml/parser errors on hostile pages
        return Extraction(failure=f"extract {url}: {type(exc).__name__}: {exc}")
    if doc is None or doc.body is None:
        return Extraction(failure=f"extract {url}: no article text found")
    blocks = list(_blocks(doc.body, url, skip_heading=doc.title or ""))
    text = "\n\n".join(t for _, t, _ in blocks)
    if not text.strip():
        return Extraction(failure=f"extract {url}: no article text found", **_metadata(doc))
    body = clean_html("".join(h for _, _, h in blocks))
    return Extraction(text=text, body_html=body, method="trafilatura", **_metadata(doc))


def from_feed(entry: FeedEntry, base_url: str | None = None) -> Extraction:
    """The feed's own content (or summary) as a body, for when the page gives none."""
    fragment = entry.content_html or entry.summary_html
    blocks = html_blocks(fragment, base_url or entry.link or "")
    text = "\n\n".join(blocks)
    body = "".join(f"<p>{html.escape(b, quote=False)}</p>" for b in blocks)
    return Extraction(text=text, body_html=clean_html(body), method="feed" if text else "")


def clean_html(fragment: str) -> str:
    """Sanitize with nh3: only our block tags and absolute http(s) links survive."""
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES, url_schemes=_URL_SCHEMES,
                     link_rel=None, strip_comments=True)


def html_blocks(fragment: str, base_url: str = "") -> list[str]:
    """Plain-text paragraphs of an HTML fragment (feed summaries and contents)."""
    if not fragment or not fragment.strip():
        return []
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return [_norm(fragment)] if _norm(fragment) else []
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    pieces: list[str] = []
    _collect_text(root, pieces)
    joined = "".join(pieces)
    return [p for p in (_norm(part) for part in re.split(r"\n\s*\n|\n", joined)) if p]


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


def _blocks(body: etree._Element, base_url: str, skip_heading: str):
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
                yield "h2", text, f"<h2>{_inline_html(el, base_url)}</h2>"
        elif tag == "list":
            items = [(_norm(_inline_text(i)), _inline_html(i, base_url)) for i in el.iter("item")]
            items = [(t, h) for t, h in items if t]
            if items:
                kind = "ol" if (el.get("rend") or "").startswith("ol") else "ul"
                yield kind, "\n".join(f"- {t}" for t, _ in items), \
                    f"<{kind}>" + "".join(f"<li>{h}</li>" for _, h in items) + f"</{kind}>"
        elif tag == "table":
            for row in el.iter("row"):
                cells = [_norm(_inline_text(c)) for c in row.iter("cell")]
                text = " | ".join(c for c in cells if c)
                if text:
                    yield "p", text, f"<p>{html.escape(text, quote=False)}</p>"
        else:
            text = _norm(_inline_text(el))
            if text:
                wrap = "blockquote" if tag == "quote" else "p"
                yield wrap, text, f"<{wrap}>{_inline_html(el, base_url)}</{wrap}>"
        first = False


def _inline_text(el: etree._Element) -> str:
    return " ".join(el.itertext())


def _inline_html(el: etree._Element, base_url: str) -> str:
    """The element's text with <ref> kept as absolute links and every other inline tag flattened."""
    parts = [html.escape(el.text or "", quote=False)]
    for child in el:
        inner = _inline_html(child, base_url)
        href = _absolute(child.get("target"), base_url) if child.tag == "ref" else None
        parts.append(f'<a href="{html.escape(href)}">{inner}</a>' if href else inner)
        if child.tag == "lb":
            parts.append(" ")
        parts.append(html.escape(child.tail or "", quote=False))
    return _SPACE.sub(" ", "".join(parts)).strip()


def _absolute(href: str | None, base_url: str) -> str | None:
    if not href:
        return None
    absolute = urljoin(base_url, href.strip())
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _metadata(doc: trafilatura.settings.Document) -> dict:
    return {
        "title": _norm(doc.title or ""),
        "date": _date(doc.date),
        "image": doc.image or None,
        "canonical": doc.url or None,
        "description": _norm(doc.description or ""),
        "language": doc.language or None,
    }


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()
