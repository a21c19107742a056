"""An Atom feed (RFC 4287) of stored items, built with lxml: text goes in as element text and
attribute values, never spliced into markup, so any title or body serializes to well-formed XML.

Characters that XML 1.0 cannot carry at all (NUL, most C0 controls, lone surrogates) are dropped.

A feed's <id> is derived from its own URL, query included (`FeedInfo.self_url`, also its rel="self" link),
so /feed.atom?source=1 and /feed.atom?source=2 are two feeds and a feed keeps its id from one read to the
next. A feed with no known URL (an export without [web] base_url) has no self link; its id is derived from
`FeedInfo.name` instead.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from lxml import etree

from ingest.extract import clean_html
from ingest.frontmatter import rfc3339
from ingest.model import StoredItem

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
LABEL_SCHEME = "urn:presswire:label"  # <category> of an entry: its promotional-content label
_TYPES = mimetypes.MimeTypes()
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedInfo:
    title: str = "presswire"
    self_url: str = ""  # this feed's own URL, query included, when known: its self link and its id
    name: str = ""  # its id when there is no self_url: what it holds, e.g. "/feed.atom?source=3"
    site_url: str = ""  # the HTML page of the items, when known
    generator_version: str = ""


def atom_feed(items: Sequence[StoredItem], info: FeedInfo, now: datetime) -> bytes:
    """The feed document, UTF-8, with an XML declaration."""
    feed = etree.Element(_q("feed"), nsmap={None: ATOM_NS})
    _text(feed, "id", _urn(f"presswire:feed:{info.self_url or info.name or info.title}"))
    _text(feed, "title", info.title)
    _text(feed, "updated", rfc3339(max((_updated(i) for i in items), default=now)))
    _text(etree.SubElement(feed, _q("author")), "name", "presswire")
    _link(feed, info.self_url, "self", CONTENT_TYPE.split(";")[0])
    _link(feed, info.site_url, "alternate", "text/html")
    generator = _text(feed, "generator", "presswire")
    if info.generator_version:
        generator.set("version", info.generator_version)
    for item in items:
        feed.append(_entry(item, info))
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _entry(item: StoredItem, info: FeedInfo) -> etree._Element:
    entry = etree.Element(_q("entry"))
    _text(entry, "id", _urn(f"presswire:item:{item.url}"))
    _text(entry, "title", item.title or item.url)
    _text(entry, "published", rfc3339(item.date))
    _text(entry, "updated", rfc3339(_updated(item)))
    _text(etree.SubElement(entry, _q("author")), "name", item.source or "presswire")
    _link(entry, _web(item.source_link), "alternate", "text/html")
    _link(entry, _web(item.enclosure), "enclosure", _media_type(item.enclosure))  # the document's image
    if info.site_url:
        _link(entry, f"{info.site_url.rstrip('/')}/items/{item.article_id}", "related", "text/html")
    if item.promo is not None:
        etree.SubElement(entry, _q("category"), term=item.promo.label, scheme=LABEL_SCHEME)
    if item.summary:
        _text(entry, "summary", item.summary).set("type", "text")
    _text(entry, "content", clean_html(item.body_html)).set("type", "html")
    return entry


def _updated(item: StoredItem) -> datetime:
    """An entry's <updated>: the item's last change, so a reader sees the body that a later poll fetched
    (RFC 4287 4.2.15: when the entry last changed significantly); <published> stays the item's date."""
    return item.updated_at or item.created_at or item.date


def _q(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


def _text(parent: etree._Element, name: str, value: str) -> etree._Element:
    el = etree.SubElement(parent, _q(name))
    el.text = xml_safe(value)
    return el


def _link(parent: etree._Element, href: str, rel: str, mime: str) -> None:
    """A link, when there is an href; its type when known."""
    if href:
        attributes = {"rel": rel, "type": mime, "href": xml_safe(href)}
        etree.SubElement(parent, _q("link"), {k: v for k, v in attributes.items() if v})


def _web(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else ""


def _media_type(url: str) -> str:
    """The enclosure's type by its file name's extension, from Python's own table (not the machine's
    mime.types, so every machine writes the same feed); "" when unknown: the type attribute is optional."""
    return _TYPES.guess_type(url.partition("#")[0].partition("?")[0], strict=False)[0] or ""


def _urn(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)
