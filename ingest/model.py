"""Plain frozen values that the stages pass to each other. Imports nothing of ours or third parties'."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping


@dataclass(frozen=True)
class SourceState:
    """What a poll needs to know about a stored source: its identity and its poll state."""

    id: int
    url: str
    name: str
    etag: str | None = None
    last_modified: str | None = None
    poll_interval: float | None = None  # the source's own interval (config / `sources add --interval`)
    interval: float | None = None  # the interval its last poll chose
    error_count: int = 0
    last_full_fetch_at: datetime | None = None
    redirect_url: str | None = None  # a permanent redirect seen on the last `redirect_count` polls in a row
    redirect_count: int = 0


@dataclass(frozen=True)
class Response:
    """A completed HTTP response whose body was read within the limits."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed_ms: int = 0
    permanent_redirect: str | None = None  # where 301/308 redirects from `url` led, when the chain began so

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class FeedEntry:
    """One entry as the feed gave it. Title, summary and content are HTML (feedparser-sanitized, not yet ours;
    plain-text ones escaped)."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str = ""
    content_html: str = ""
    published: datetime | None = None  # timezone-aware UTC
    enclosure: str | None = None
    author: str = ""
    # which keys identify it: "both", or only "guid" / "link" when its feed gives the other key to
    # different entries as well (set by parse_feed; see ingest.normalize.entry_keys)
    identity: str = "both"
    feed_title: str = ""  # its feed's own <title> (set by parse_feed): a site's name its titles may end with


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str | None
    entries: tuple[FeedEntry, ...]
    problem: str | None = None  # set when the feed was malformed but partly readable
    ttl_minutes: int | None = None
    older_pages: tuple[str, ...] = ()  # RFC 5005 paging/archive links: rel="next", rel="prev-archive"
    generator: str = ""  # the feed's <generator> (tells a WordPress feed, which pages with ?paged=N)


@dataclass(frozen=True)
class ExtractRules:
    """A source's own extraction rules (config `[sources.extract]`), for sites where generic extraction
    fails: selectors are CSS, or XPath when they start with "/" or "(" (like Miniflux's scraper rules)."""

    body_selector: str = ""  # the element(s) holding the article body; the rest of the page is ignored
    drop_selectors: tuple[str, ...] = ()  # elements removed before anything else


@dataclass(frozen=True)
class Extraction:
    """The article body and page metadata found on a page, or why there is none."""

    text: str = ""  # plain text, paragraphs separated by blank lines
    body_html: str = ""  # clean HTML: <p>, <h2>-<h4>, lists, quotes, links; never raw page HTML
    method: str = ""  # which step produced the body: "fast", "fallback", "selector", "feed"
    failure: str | None = None  # why the page gave no body, when it did not
    title: str = ""
    date: datetime | None = None
    image: str | None = None
    canonical: str | None = None
    description: str = ""
    language: str | None = None
    site_name: str = ""  # what the page's site calls itself (og:site_name ...): feed titles may end with it
    trail: str = ""  # each step tried and what it gave, e.g. "fast: 0 chars, too short; fallback: 1904 chars"
    read_more: str | None = None  # a teaser's "Read More" link to the full article (absolute URL)
    followed_url: str | None = None  # the page the body came from, when a read-more link was followed

    @property
    def ok(self) -> bool:
        return bool(self.text) and self.failure is None


@dataclass(frozen=True)
class EntryKeys:
    """Identity of an entry within its source: the GUID, and the canonical link. One may be None."""

    guid: str | None
    link: str | None


@dataclass(frozen=True, order=True)
class Span:
    """A boilerplate region text[start:end]; kind is a tail-section kind or a rule name."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Reason:
    """One fired promo rule: its weight as counted and the exact text it matched.

    `field` says where start/end point: "text" (the body text), "summary", "title",
    "source_name" or "source_url".
    """

    rule: str
    score: str  # "promo" or "press_release"
    weight: float
    match: str
    start: int
    end: int
    field: str = "text"


@dataclass(frozen=True)
class PromoResult:
    """What ingest.promo.classify says about an item: label, the two scores and why, and the
    boilerplate spans of its body text (and of its feed summary) that summaries must leave out."""

    label: str  # "promotional", "press_release" or "news"
    promo_score: float
    pr_score: float
    reasons: tuple[Reason, ...]
    boilerplate: tuple[Span, ...]
    tickers: tuple[str, ...]  # "NASDAQ:QS"
    lead_end: int
    tail_start: int
    summary_boilerplate: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Provenance:
    """An imported document's identity in the system it came from (its article_id / feed_item_id)."""

    article_id: int | None = None
    feed_item_id: int | None = None
    path: str = ""  # the file it was read from


@dataclass(frozen=True)
class Fingerprint:
    """What the store keeps to find copies of an item (computed by ingest.dedup)."""

    content_hash: str  # BLAKE2b-128 hex of the normalized text, wrapper removed
    band_keys: tuple[int, ...]  # LSH keys of the MinHash signature; () for short texts
    title_key: str  # BLAKE2b-128 hex of the normalized title (the short-text fallback)
    shingle_count: int
    wire: bool = False  # the copy comes from an original wire (preferred as the cluster's canonical copy)

    @property
    def is_short(self) -> bool:
        return not self.band_keys


@dataclass(frozen=True)
class Match:
    """Why an item joined another's cluster. method: content_hash, jaccard, containment or title_date."""

    method: str
    similarity: float
    matched_id: int


@dataclass(frozen=True)
class Candidate:
    """A stored item that may be a copy of a new one, with what exact verification needs."""

    id: int
    cluster_id: int
    title: str
    body_text: str
    date: datetime
    content_hash: str
    shingle_count: int


@dataclass(frozen=True)
class Item:
    """A normalized item in the seed front-matter schema, before the store gives it its ids."""

    keys: EntryKeys
    entry: FeedEntry
    title: str
    date: datetime  # UTC
    draft: bool
    summary: str
    description: str
    source_link: str
    enclosure: str
    slug: str  # "YYYY-MM-DD-" + slug of the title; the store may add a suffix to keep it unique
    source: str  # the source's display name
    body_html: str
    body_text: str
    method: str  # which step produced the body
    failure: str | None = None  # why the article page gave no body (kept with the feed's content)
    retryable: bool = False  # whether a later poll should try the page again
    promo: PromoResult | None = None  # label, scores, reasons, tickers, boilerplate spans of body_text
    trail: str = ""  # the extraction steps tried and what each gave
    read_more_url: str | None = None  # the full article followed from a teaser page (source_link is the teaser)
    qrcode: str | None = None  # an imported document's (renamed if its url slug takes a suffix); None: from url
    origin: Provenance | None = None  # where an imported document came from (another system's ids)
    fingerprint: Fingerprint | None = None  # set by the pipeline (ingest.dedup); None: no dedup keys


@dataclass(frozen=True)
class PollResult:
    """The outcome of one poll of one source: the canonical log line's fields."""

    source_id: int
    url: str
    status: str  # "ok", "not_modified", "error", "gone" (410: retired), "abandoned" (shutdown)
    new: int = 0
    duplicate: int = 0
    copies: int = 0  # new items that joined the cluster of an item stored before (syndicated copies)
    failed: int = 0
    retried: int = 0
    promotional: int = 0  # new items labeled promotional
    error: str | None = None
    problem: str | None = None
    elapsed_ms: int = 0
    next_poll_at: datetime | None = None
    interval: float | None = None  # the interval chosen for the next poll, before jitter (seconds)
    moved_to: str | None = None  # the source's new URL, when this poll moved it (permanent redirect)


@dataclass(frozen=True)
class StoredSource:
    id: int
    url: str
    name: str
    status: str  # "active", "paused" (sources pause), "retired" (410 Gone) or "archive" (backfill's, never polled)
    created_at: datetime
    last_polled_at: datetime | None = None
    next_poll_at: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    item_count: int = 0
    poll_interval: float | None = None
    interval: float | None = None
    last_status: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_full_fetch_at: datetime | None = None
    redirect_url: str | None = None
    redirect_count: int = 0
    previous_url: str | None = None

    @property
    def state(self) -> SourceState:
        return SourceState(id=self.id, url=self.url, name=self.name, etag=self.etag,
                           last_modified=self.last_modified, poll_interval=self.poll_interval,
                           interval=self.interval, error_count=self.error_count,
                           last_full_fetch_at=self.last_full_fetch_at, redirect_url=self.redirect_url,
                           redirect_count=self.redirect_count)


@dataclass(frozen=True)
class StoredItem:
    """An item as stored: the seed's 12 fields plus what presswire knows about how it got them."""

    article_id: int
    feed_item_id: int
    source_id: int
    title: str
    date: datetime
    draft: bool
    summary: str
    description: str
    source_link: str
    enclosure: str
    url: str
    qrcode: str
    source: str
    body_html: str
    body_text: str = ""
    method: str = ""
    failure: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None  # last change: stored, or its page fetched on a later poll
    promo: PromoResult | None = None  # None for items stored before classification existed
    trail: str = ""
    read_more_url: str | None = None
    origin_article_id: int | None = None  # an imported document's ids in the system it came from
    origin_feed_item_id: int | None = None
    cluster_id: int | None = None
    copies: int = 1  # stored copies in the item's cluster, this one included
    canonical: bool = True  # this item is its cluster's canonical copy
    match: Match | None = None  # how it joined its cluster; None for the cluster's first item


@dataclass(frozen=True)
class Judgement:
    """A stored item as `presswire items reclassify` reads and rewrites it: what the promotional
    classification is given (ingest.normalize: body text, title, the feed entry's summary, the source's
    name and the item's link) and what depends on it (label and spans, draft, summary, description)."""

    article_id: int
    title: str
    body_text: str
    feed_summary_html: str  # the feed entry's summary, as stored
    source_name: str
    source_link: str
    method: str  # "import": a front-matter document, whose summary and description are kept as written
    draft: bool
    summary: str
    description: str
    promo: PromoResult | None  # None for items stored before classification existed


@dataclass(frozen=True)
class Copy:
    """One stored copy of a story, as `items show` lists it."""

    article_id: int
    source: str
    source_link: str
    date: datetime
    canonical: bool
    match: Match | None


@dataclass(frozen=True)
class ItemQuery:
    """Which stored items to read: the filters shared by `items list`, export, the JSON API and Atom.

    Items come newest first; with `search`, best match first (then newest).
    """

    source_id: int | None = None
    since: datetime | None = None  # item date >= since
    until: datetime | None = None  # item date < until
    search: str = ""  # full-text over title, summary and body; any text (never FTS syntax)
    changed_since: datetime | None = None  # stored or updated at or after (incremental exports)
    label: str | None = None  # only this promo label ("promotional", "press_release", "news")
    exclude_labels: tuple[str, ...] = ()  # leave these labels out (unclassified items stay)
    ticker: str | None = None  # "NASDAQ:QS" (that listing) or "QS" (on any exchange); case-insensitive
    all_copies: bool = False  # every stored copy; else one row per story (its canonical copy), unless source_id
    limit: int | None = 50  # None: all
    offset: int = 0
    max_id: int | None = None  # only items stored up to this article id: a paginated walk's snapshot
