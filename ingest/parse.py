"""feedparser behind an adapter: bytes in, a ParsedFeed out. FeedParserDict never leaves this file.

Like feedparser itself, a malformed feed that is partly readable is not an error: the entries that
could be read are returned with `problem` saying what was wrong. Bytes that are not a feed at all
(an HTML page, an empty body) raise FeedError naming the URL and what was found instead.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timezone
from typing import Any, Mapping

import feedparser

from ingest.errors import FeedError
from ingest.model import FeedEntry, ParsedFeed

_PAGING_RELS = ("next", "prev-archive")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")


def parse_feed(content: bytes, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse feed bytes fetched from `url` (relative links resolve against it)."""
    if not content.strip():
        raise FeedError(f"parse {url}: empty response body, not a feed")
    response_headers = {"content-location": url}
    if headers and headers.get("content-type"):
        response_headers["content-type"] = headers["content-type"]
    parsed = feedparser.parse(content, response_headers=response_headers, sanitize_html=True,
                              resolve_relative_uris=True)
    if not parsed.version and not parsed.entries:
        raise FeedError(f"parse {url}: not an RSS or Atom feed ({_what_it_is(parsed, content)})")
    problem = None
    if parsed.bozo:
        problem = f"malformed feed: {_describe(parsed.get('bozo_exception'))}"
    feed = parsed.feed
    return ParsedFeed(
        title=_text(feed.get("title")),
        link=feed.get("link") or None,
        entries=tuple(_entry(e) for e in parsed.entries),
        problem=problem,
        ttl_minutes=_int(feed.get("ttl")),
        older_pages=_older_pages(feed),
        generator=_text(feed.get("generator")),
    )


def _entry(e: Mapping[str, Any]) -> FeedEntry:
    content = e.get("content") or []
    return FeedEntry(
        guid=_text(e.get("id")) or None,
        link=_text(e.get("link")) or None,
        title=_text(e.get("title")),
        summary_html=_text(e.get("summary")),
        content_html=_text(content[0].get("value")) if content else "",
        published=_datetime(e.get("published_parsed") or e.get("updated_parsed")),
        enclosure=_enclosure(e),
        author=_text(e.get("author")),
    )


def _older_pages(feed: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 5005: the next page of a paged feed and the previous archive document, resolved to absolute URLs."""
    links = [link.get("href") for link in feed.get("links") or [] if link.get("rel") in _PAGING_RELS]
    return tuple(dict.fromkeys(href for href in links if href))


def _enclosure(e: Mapping[str, Any]) -> str | None:
    """The entry's image: an image enclosure, then media:content, then media:thumbnail."""
    for link in e.get("links") or []:
        if link.get("rel") == "enclosure" and _is_image(link.get("type"), link.get("href")):
            return link.get("href")
    for media in (e.get("media_content") or []) + (e.get("media_thumbnail") or []):
        if media.get("url") and _is_image(media.get("type") or media.get("medium"), media.get("url")):
            return media["url"]
    return None


def _is_image(kind: str | None, href: str | None) -> bool:
    if not href:
        return False
    if kind:
        return kind.startswith("image")
    return href.lower().split("?")[0].endswith(_IMAGE_EXTENSIONS)


def _datetime(parsed: Any) -> datetime | None:
    """feedparser's UTC struct_time -> aware datetime; None when absent or out of range."""
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _describe(exc: Any) -> str:
    if exc is None:
        return "unknown problem"
    line = getattr(exc, "getLineNumber", lambda: None)()
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _what_it_is(parsed: Any, content: bytes) -> str:
    head = content[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "got an HTML page"
    if parsed.bozo:
        return _describe(parsed.get("bozo_exception"))
    return "no feed elements found"
