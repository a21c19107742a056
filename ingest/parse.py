"""feedparser behind an adapter: bytes in, a ParsedFeed out. FeedParserDict never leaves this file.

Like feedparser itself, a malformed feed that is partly readable is not an error: the entries that
could be read are returned with `problem` saying what was wrong. Bytes that are not a feed at all
(an HTML page, an empty body) raise FeedError naming the URL and what was found instead.

Hostile bytes, before feedparser sees them: the feed is decoded to UTF-8 here, once, the way feedparser
decodes (HTTP charset, BOM, XML declaration, fallbacks; UTF-8 with stray legacy bytes is repaired byte by
byte, but bytes that are all in the charset the XML declaration names are read as that), and feedparser
parses exactly those bytes. A DTD that declares entities is refused (FeedError):
feedparser would expand "safe" internal entities itself and hand a one-line DTD to expat, so a small feed
could grow to gigabytes (billion laughs, quadratic blowup); external entities are never fetched either way.
Character references to characters XML forbids (&#0;, surrogates, beyond U+10FFFF), which crash
feedparser, and raw control characters are removed. What comes out is clean text (no control characters),
and links are absolute http(s) URLs: a javascript:, data: or file: link is dropped. Each entry says which of
its keys (GUID, canonical link) identify it: not one the feed gives to different entries too.
"""

from __future__ import annotations

import calendar
import codecs
import html
import io
import re
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.datetimes.rfc822 import _parse_date_rfc822
from feedparser.encodings import convert_to_utf8, parse_content_type
from feedparser.mixin import _FeedParserMixin

from ingest.decoding import clean_text, repair_utf8
from ingest.errors import FeedError
from ingest.extract import html_blocks
from ingest.model import FeedEntry, ParsedFeed
from ingest.urls import canonicalize, href_as_browsers_read

_PAGING_RELS = ("next", "prev-archive")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")
_UTF8_XML = "application/xml; charset=utf-8"
_PLAIN = {"type": "text/plain"}
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_XML_DECLARED = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_SPACE_BEFORE_XML = re.compile(rb"\A(\xef\xbb\xbf)?\s+(?=<\?xml)")  # a BOM is kept; white space before <?xml is not
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")
_BAD_XML_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")

# feedparser resolves every GUID not marked isPermaLink="false" (and every Atom <id>) against the feed's URL, as if
# it were a relative link: <guid>12345</guid> read from https://wire.example/news/rss.xml became
# https://wire.example/news/12345, a key that changes when the feed moves (every entry stored again) and a
# page that does not exist. A GUID is a name: it is read as the feed wrote it (see _entry_link for the link).
_FeedParserMixin.can_be_relative_uri = _FeedParserMixin.can_be_relative_uri - {"id"}


def _start_media_description(parser: Any, _attrs: Any) -> None:
    parser.push("media_description", 1)


def _end_media_description(parser: Any) -> None:
    parser.pop("media_description")


# feedparser reads a Media RSS <media:description> (an image's caption, inside <media:content>) as the item's
# <description>: before it, the caption became the summary and the description the content; after it, the caption
# became the content (the item's body when its page fails). It is kept apart, as `media_description`: an item's
# summary only when it has no summary or content of its own.
_FeedParserMixin._start_media_description = _start_media_description
_FeedParserMixin._end_media_description = _end_media_description

# Zone names feedparser does not know, which it reads as UTC ("Thu, 15 May 2025 00:55:19 JST" was 00:55 UTC,
# nine hours late): those that name one offset (BST as British Summer Time). IST (India, Ireland or Israel) names
# none, and is left as feedparser reads it.
_ZONE_OFFSETS = {"WET": "+0000", "WEST": "+0100", "BST": "+0100", "CET": "+0100", "CEST": "+0200", "EET": "+0200",
                 "EEST": "+0300", "MSK": "+0300", "HKT": "+0800", "SGT": "+0800", "AWST": "+0800", "JST": "+0900",
                 "KST": "+0900", "ACST": "+0930", "ACDT": "+1030", "AEST": "+1000", "AEDT": "+1100", "NZST": "+1200",
                 "NZDT": "+1300", "HST": "-1000", "AKST": "-0900", "AKDT": "-0800", "NST": "-0330", "NDT": "-0230"}


def _date_in_named_zone(value: str) -> Any:
    """An RFC 822 date whose zone is one of _ZONE_OFFSETS, read with that offset (feedparser's date handler
    for these; None leaves any other date to feedparser's own)."""
    head, _, zone = value.strip().rpartition(" ")
    offset = _ZONE_OFFSETS.get(zone.upper())
    return _parse_date_rfc822(f"{head} {offset}") if head and offset else None


feedparser.registerDateHandler(_date_in_named_zone)


def parse_feed(content: bytes, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse feed bytes fetched from `url` (relative links resolve against it)."""
    if not content.strip():
        raise FeedError(f"parse {url}: empty response body, not a feed")
    response_headers = {"content-location": url}
    if headers and headers.get("content-type"):
        response_headers["content-type"] = headers["content-type"]
    data, charset_problem = _utf8(content, response_headers)
    _refuse_entities(data, url)
    try:
        # as a stream: feedparser tries any bytes or str it is given as a local file name first (and a str as
        # a URL to fetch), and a feed's bytes are the network's
        parsed = feedparser.parse(io.BytesIO(_valid_xml(data)), response_headers={"content-location": url,
                                                                                  "content-type": _UTF8_XML},
                                  sanitize_html=True, resolve_relative_uris=True)
    except Exception as exc:  # noqa: BLE001 - feedparser's own bugs on hostile bytes (e.g. a namespace URI with
        # a space makes its strict parser unpack expat's name wrongly): that feed's error, not the poll's
        raise FeedError(f"parse {url}: unreadable feed ({type(exc).__name__}: {_line(str(exc))[:200]})") from exc
    if not parsed.version and not parsed.entries:
        raise FeedError(f"parse {url}: not an RSS or Atom feed ({_what_it_is(parsed, data)})")
    problem = f"malformed feed: {_describe(parsed.get('bozo_exception'))}" if parsed.bozo else charset_problem
    problem = _line(problem) or None  # it may quote the feed's bytes: one clean line
    feed = parsed.feed
    title = " ".join(html_blocks(_html(feed.get("title"), feed.get("title_detail"))))  # as entry titles are read
    return ParsedFeed(
        title=title,
        link=_link(feed.get("link"), url),
        entries=_identified([_entry(e, url, title) for e in parsed.entries]),
        problem=problem,
        ttl_minutes=_ttl_minutes(feed.get("ttl")),
        older_pages=_older_pages(feed, url),
        generator=_line(feed.get("generator")),
    )


def _utf8(content: bytes, headers: dict[str, str]) -> tuple[bytes, str | None]:
    """The feed as UTF-8 bytes (with its XML declaration saying so), decoded as feedparser decodes,
    and what was wrong with its charset. UTF-8 with stray bytes of a legacy charset is read byte sequence by
    sequence first (feedparser would read the whole feed as Windows-1252, garbling every correct character),
    unless the charset its XML declaration names reads all of it: then the UTF-8 was a server's default.
    (UTF-8 declared as Latin-1 needs nothing: feedparser reads its text as UTF-8 already.)"""
    content = _SPACE_BEFORE_XML.sub(rb"\1", content, count=1)  # else feedparser misses the declaration, expat fails
    charset = _declared_charset(content, headers)
    repaired = repair_utf8(content) if charset in ("utf-8", "ascii") else None
    declared = _fitting_xml_charset(content.removeprefix(codecs.BOM_UTF8)) if repaired is not None else None
    if declared:  # not UTF-8 at all: the HTTP charset was a server's default, or the BOM a stray one
        content, repaired = content.removeprefix(codecs.BOM_UTF8), None
        headers = {**headers, "content-type": f"application/xml; charset={declared}"}
    result: dict[str, Any] = {}
    try:
        if repaired is None:
            data = convert_to_utf8(headers, content, result)
            if declared:
                result["bozo_exception"] = f"declared as {charset}, read as {declared} (its XML declaration)"
        else:
            data = convert_to_utf8({**headers, "content-type": _UTF8_XML}, repaired, result)
            result["bozo_exception"] = "invalid UTF-8 bytes, read as Windows-1252"
    except (UnicodeError, ValueError, LookupError) as exc:  # feedparser chokes on a mangled XML declaration
        result = {"bozo_exception": f"unreadable encoding declaration ({type(exc).__name__}: {exc})"}
    if not result.get("encoding"):  # no charset fitted: feedparser's own last resort
        data = content.decode("utf-8", "replace").encode("utf-8")
    exc = result.get("bozo_exception")
    return data, f"malformed feed: {exc if isinstance(exc, str) else _describe(exc)}" if exc else None


def _declared_charset(content: bytes, headers: Mapping[str, str]) -> str | None:
    """The codec the feed declares (HTTP charset, else a UTF-8 BOM, else its XML declaration; UTF-8 when none
    does); None for UTF-16/32, which feedparser tells by the first bytes, and for names Python does not know."""
    if b"\x00" in content[:4] or content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    bom = "utf-8" if content.startswith(codecs.BOM_UTF8) else None
    return _codec(parse_content_type(headers.get("content-type", ""))[1] or bom or _xml_declared(content) or "utf-8")


def _fitting_xml_charset(content: bytes) -> str | None:
    """The codec the XML declaration names, when it decodes all of `content` (the declaration too: not UTF-16)."""
    codec = _codec(_xml_declared(content))
    try:
        return codec if codec and content.decode(codec).startswith("<?xml") else None
    except UnicodeDecodeError:
        return None


def _xml_declared(content: bytes) -> str | None:
    """The encoding the XML declaration names (after a UTF-8 BOM)."""
    declared = _XML_DECLARED.match(content.removeprefix(codecs.BOM_UTF8))
    return declared.group(1).decode("ascii") if declared else None


def _codec(name: str | None) -> str | None:
    """Python's name for the codec `name`; None for no name, or one Python does not know."""
    try:
        return codecs.lookup(name).name if name else None
    except LookupError:
        return None


def _refuse_entities(data: bytes, url: str) -> None:
    """A feed whose DTD declares entities is refused: presswire never expands XML entities."""
    doctype = _DOCTYPE.search(data)
    if doctype and _ENTITY.search(data, doctype.start()):
        raise FeedError(f"parse {url}: refused: the feed's DTD declares XML entities (<!ENTITY ...>), which "
                        "presswire never expands (external entities, entity expansion bombs)")


def _valid_xml(data: bytes) -> bytes:
    """UTF-8 `data` without the characters XML forbids, raw or as character references."""
    return _CHAR_REF.sub(_keep_valid_ref, _BAD_XML_BYTES.sub(b"", data))


def _keep_valid_ref(match: re.Match[bytes]) -> bytes:
    hex_digits, digits = match.groups()
    number = (hex_digits or digits).lstrip(b"0")
    if len(number) > 8:
        return b""
    code = int(number or b"0", 16 if hex_digits else 10)
    valid = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
    return match.group() if valid else b""


def _entry(e: Mapping[str, Any], base: str, feed_title: str) -> FeedEntry:
    content = e.get("content") or []
    return FeedEntry(
        guid=_text(e.get("id"), newlines=False) or None,
        link=_entry_link(e, base),
        title=_html(e.get("title"), e.get("title_detail")),
        summary_html=_html(e.get("summary"), e.get("summary_detail")) or _html(e.get("media_description"), _PLAIN),
        content_html=_html(content[0].get("value"), content[0]) if content else "",
        published=_datetime(e.get("published_parsed") or dict.get(e, "updated_parsed")),  # no deprecated alias
        enclosure=_enclosure(e, base),
        author=_text(e.get("author")),
        feed_title=feed_title,
    )


def _entry_link(e: Mapping[str, Any], base: str) -> str | None:
    """The entry's link. For an entry without one, feedparser takes its GUID, which RSS calls a permalink unless
    isPermaLink="false"; but many feeds leave that out of GUIDs that are no URL at all ("12345"): such a GUID
    names the entry and links nowhere (resolved against the feed's URL it would be a page that does not exist)."""
    link = e.get("link")
    if e.get("guidislink") and link == e.get("id") and not _has_scheme(link):
        return None
    return _link(link, base)


def _has_scheme(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(urlsplit(value.strip()).scheme)
    except ValueError:  # "Invalid IPv6 URL"
        return False


def _html(value: Any, detail: Mapping[str, Any] | None) -> str:
    """A text construct as HTML: one feedparser calls text/plain (Atom type="text", most RSS titles) is escaped,
    so that "Apple <AAPL.O> shares" or "AT&T <T>" stays text when read as HTML downstream."""
    text = _text(value)
    return html.escape(text, quote=False) if (detail or {}).get("type") == "text/plain" else text


def _identified(entries: list[FeedEntry]) -> tuple[FeedEntry, ...]:
    """The entries, each marked with the keys that identify it in this feed. A key shared by entries whose
    other keys differ names none of them: a broken feed gives every item one GUID (its own URL) but their own
    links, or their own GUIDs but one link (a newsroom page: /news#release-2 is /news canonicalized), so each
    is identified by its other key. An entry whose keys are both shared keeps both (the same GUID and link
    twice is a repeat)."""
    pairs = [(e.guid, canonicalize(e.link)) if e.guid and e.link else None for e in entries]
    links_of_guid, guids_of_link = defaultdict(set), defaultdict(set)
    for guid, link in filter(None, pairs):
        links_of_guid[guid].add(link)
        guids_of_link[link].add(guid)
    out = []
    for entry, pair in zip(entries, pairs):
        if pair:
            shared_guid, shared_link = len(links_of_guid[pair[0]]) > 1, len(guids_of_link[pair[1]]) > 1
            if shared_guid != shared_link:
                entry = replace(entry, identity="link" if shared_guid else "guid")
        out.append(entry)
    return tuple(out)


def _older_pages(feed: Mapping[str, Any], base: str) -> tuple[str, ...]:
    """RFC 5005: the next page of a paged feed and the previous archive document, resolved to absolute URLs."""
    links = [_link(link.get("href"), base) for link in feed.get("links") or [] if link.get("rel") in _PAGING_RELS]
    return tuple(dict.fromkeys(href for href in links if href))


def _enclosure(e: Mapping[str, Any], base: str) -> str | None:
    """The entry's image: an image enclosure, then media:content, then media:thumbnail (an image whatever its
    URL looks like: Media RSS thumbnails are images, and have no type to say so)."""
    for link in e.get("links") or []:
        if link.get("rel") == "enclosure" and _is_image(link.get("type"), link.get("href")):
            return _link(link.get("href"), base)
    thumbnails = [{**thumbnail, "medium": "image"} for thumbnail in e.get("media_thumbnail") or []]
    for media in (e.get("media_content") or []) + thumbnails:
        if media.get("url") and _is_image(media.get("type") or media.get("medium"), media.get("url")):
            return _link(media["url"], base)
    return None


def _link(value: Any, base: str) -> str | None:
    """An absolute http(s) URL (file: too in a local file's feed, for backfill's archive pages), else None."""
    href = href_as_browsers_read(_text(value))  # "Q3 2025.html" is "Q3%202025.html", not "Q32025.html"
    if not href:
        return None
    try:
        absolute = urljoin(base, href)
        parts = urlsplit(absolute)
    except ValueError:  # "Invalid IPv6 URL", a host with characters NFKC changes
        return None
    allowed = ("http", "https", "file") if urlsplit(base).scheme == "file" else ("http", "https")
    return absolute if parts.scheme in allowed and (parts.netloc or parts.scheme == "file") else None


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


def _text(value: Any, *, newlines: bool = True) -> str:
    return clean_text(value, newlines=newlines).strip() if isinstance(value, str) else ""


def _line(value: Any) -> str:
    """One line of text (a feed's title, its generator), white space runs made single spaces."""
    return " ".join(_text(value).split())


def _ttl_minutes(value: Any) -> int | None:
    """RSS <ttl>: minutes, None when it is no number; at most a year (the schedule caps every floor at
    [poll] max_backoff anyway), so that a 400-digit TTL does not overflow the float of seconds made of it."""
    try:
        return min(int(str(value).strip()), _YEAR_MINUTES)
    except (TypeError, ValueError):
        return None


_YEAR_MINUTES = 366 * 24 * 60


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
