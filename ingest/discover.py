"""Where history is found: feed paging, sitemaps, OPML and URL lists. Bytes in, plain values out.

Nothing here fetches: ingest/backfill.py reads the documents (through ingest/fetch.py, or from files)
and hands the bytes over. XML is parsed with lxml without entity expansion, DTDs or network access,
and sitemaps are read with iterparse, element by element, so a 50,000-URL sitemap is never a tree.

    older pages of a feed   RFC 5005 rel="next" / rel="prev-archive" (ingest/parse.py reads them),
                            else WordPress's ?paged=N for a WordPress feed
    sitemaps                <sitemapindex> (child sitemaps) and <urlset> (pages), with <lastmod> and
                            Google News' <news:publication_date> / <news:title>; gzip is undone here
    OPML                    every <outline xmlUrl="..."> at any depth
    a site's feeds          <link rel="alternate" type="application/rss+xml|atom+xml"> of a web page
                            (`sources add` given a home page: feed autodiscovery)
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from ingest.errors import SourceError
from ingest.urls import absolute_http

MAX_SITEMAP_BYTES = 52_428_800  # the sitemap protocol's limit (50 MiB uncompressed), larger than a page's
MAX_UNZIPPED = 100_000_000  # a gzipped sitemap larger than this once unpacked is refused (a zip bomb)
# what a URL that may be a feed or a web page is asked for with (`inspect`, `sources add`)
FEED_OR_PAGE_ACCEPT = "application/rss+xml, application/atom+xml, text/html;q=0.9, */*;q=0.5"
FEED_TYPES = ("application/rss+xml", "application/atom+xml")
_W3C_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
# Dates outside these are not believed: far from the calendar's ends, as the pipeline adds and subtracts days
# to an item's date (the dedup window). Sitemap dates outside are None; imported documents' are refused.
EARLIEST, LATEST = datetime(1000, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class SitemapEntry:
    """One <sitemap> of an index (kind "sitemap") or one <url> of a urlset (kind "url")."""

    kind: str
    loc: str
    lastmod: datetime | None = None
    news_date: datetime | None = None  # <news:publication_date>
    news_title: str = ""

    @property
    def date(self) -> datetime | None:
        return self.news_date or self.lastmod


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str = ""


@dataclass(frozen=True)
class Window:
    """What a backfill keeps: a date range and URL patterns (regular expressions, searched)."""

    since: datetime | None = None
    until: datetime | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def date_ok(self, when: datetime | None) -> bool:
        """Undated things are kept: nothing says they are out of range."""
        if when is None:
            return True
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)

    def url_ok(self, url: str) -> bool:
        if self.include and not any(re.search(p, url) for p in self.include):
            return False
        return not any(re.search(p, url) for p in self.exclude)

    def accepts(self, url: str | None, when: datetime | None) -> bool:
        return self.date_ok(when) and (url is None or self.url_ok(url))


# --- feeds ----------------------------------------------------------------------------------------

def is_wordpress(generator: str) -> bool:
    return "wordpress" in generator.lower()


def wordpress_page(feed_url: str, n: int) -> str:
    """The feed URL of WordPress page `n`: the `paged` query parameter set (other parameters kept)."""
    parts = urlsplit(feed_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "paged"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("paged", str(n))])))


def wordpress_page_number(url: str) -> int:
    """The `paged` number of a feed page's URL, 1 without one. The URL may come from a feed's rel="next", so
    only up to 9 ASCII digits count: "²" (isdigit(), but int() refuses it) or 5,000 digits (over int()'s limit)
    is no page number."""
    for k, v in parse_qsl(urlsplit(url).query):
        if k == "paged" and _PAGE_NUMBER.fullmatch(v):
            return int(v)
    return 1


_PAGE_NUMBER = re.compile(r"[0-9]{1,9}")


# --- sitemaps -------------------------------------------------------------------------------------

def unzip(content: bytes, where: str) -> bytes:
    """Sitemaps are often served as .xml.gz without Content-Encoding; undo that, within a size limit."""
    if not content.startswith(b"\x1f\x8b"):
        return content
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as fh:
            data = fh.read(MAX_UNZIPPED + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"sitemap {where}: broken gzip data: {exc}") from exc
    if len(data) > MAX_UNZIPPED:
        raise SourceError(f"sitemap {where}: more than {MAX_UNZIPPED} bytes once unzipped")
    return data


def parse_sitemap(content: bytes, where: str) -> Iterator[SitemapEntry]:
    """The entries of a sitemap or sitemap index, streamed; SourceError when it is not a sitemap."""
    events = etree.iterparse(io.BytesIO(unzip(content, where)), events=("start", "end"),
                             resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    root_seen = False
    try:
        for event, el in events:
            if not root_seen:
                root_seen = True
                if _local(el.tag) not in ("urlset", "sitemapindex"):
                    raise SourceError(f"sitemap {where}: not a sitemap (root element <{_local(el.tag)}>)")
                continue
            if event == "end" and _local(el.tag) in ("url", "sitemap"):
                entry = _sitemap_entry(el)
                _drop(el)
                if entry is not None:
                    yield entry
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"sitemap {where}: not well-formed XML: {exc}") from exc


def _sitemap_entry(el: etree._Element) -> SitemapEntry | None:
    """<loc> and <lastmod> are the element's own children (an <image:loc> is not the page); the
    publication date and title come from its <news:news> block."""
    fields = {"loc": "", "lastmod": "", "publication_date": "", "title": ""}
    for child in el:
        if _local(child.tag) in ("loc", "lastmod"):
            fields[_local(child.tag)] = (child.text or "").strip()
        elif _local(child.tag) == "news":
            for part in child.iter():
                if _local(part.tag) in ("publication_date", "title"):
                    fields[_local(part.tag)] = (part.text or "").strip()
    if not fields["loc"]:
        return None
    return SitemapEntry(kind="url" if _local(el.tag) == "url" else "sitemap", loc=fields["loc"],
                        lastmod=w3c_date(fields["lastmod"]), news_date=w3c_date(fields["publication_date"]),
                        news_title=" ".join(fields["title"].split()))


def _drop(el: etree._Element) -> None:
    """Free what iterparse built so far (the finished element and its earlier siblings)."""
    el.clear()
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


def w3c_date(text: str) -> datetime | None:
    """A sitemap date (W3C datetime: 2025-05-15, 2025-05-15T15:55:19+00:00, ...Z) as aware UTC."""
    text = text.strip()
    if not text:
        return None
    if _W3C_DATE.match(text):
        text = (text + "-01-01")[:10]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        return None
    return when if EARLIEST <= when < LATEST else None


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


# --- OPML and URL lists ---------------------------------------------------------------------------

def parse_opml(content: bytes, where: str) -> list[OpmlFeed]:
    """Every feed (<outline xmlUrl=...>) of an OPML subscription list, in document order, once each."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"opml {where}: not well-formed XML: {exc}") from exc
    if root is None or _local(root.tag) != "opml":
        raise SourceError(f"opml {where}: not an OPML document")
    feeds: dict[str, OpmlFeed] = {}
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url.startswith(("http://", "https://")) and url not in feeds:
            feeds[url] = OpmlFeed(url, (outline.get("title") or outline.get("text") or "").strip())
    return list(feeds.values())


@dataclass(frozen=True)
class FeedLink:
    url: str
    title: str  # the link's title attribute ("Example » Comments Feed"), or ""


def feed_links(page: bytes | str, page_url: str) -> list[FeedLink]:
    """The feeds a web page offers (<link rel="alternate" type="application/rss+xml" or atom+xml href=...>), in
    document order, once each, resolved against the page's URL (or its <base href>, as browsers do)."""
    try:
        tree = lxml.html.document_fromstring(page)
    except (etree.ParserError, ValueError):  # no HTML at all (an empty or blank page)
        return []
    base = next((urljoin(page_url, b.get("href").strip()) for b in tree.iter("base") if b.get("href")), page_url)
    found: dict[str, FeedLink] = {}
    for link in tree.iter("link"):
        kind = (link.get("type") or "").partition(";")[0].strip().lower()
        if "alternate" in (link.get("rel") or "").lower().split() and kind in FEED_TYPES:
            url = absolute_http(link.get("href"), base)
            if url and url not in found:
                found[url] = FeedLink(url, (link.get("title") or "").strip())
    return list(found.values())


def url_lines(lines: Iterable[str]) -> Iterator[str]:
    """The http(s) URLs of a text file, one a line (the scheme in any case); blank lines and # comments skipped."""
    for line in lines:
        url = line.strip()
        if url.lower().startswith(("http://", "https://")):
            yield lower_scheme(url)


def lower_scheme(url: str) -> str:
    """A URL with its scheme in lowercase: schemes are case-insensitive (HTTPS://x/a is https://x/a), and a
    source or a link is known by its URL as written."""
    scheme, _, rest = url.partition(":")
    return f"{scheme.lower()}:{rest}"
