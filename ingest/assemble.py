"""The CPU-bound half of building an item, after its page was fetched and extracted: normalize (seed
fields), classify (ingest.promo) and fingerprint (ingest.dedup).

It runs where extraction runs, in the worker processes (ingest.workers), so that the process that
fetches and saves spends its time on the network and the database, and both cores do the parsing.
`page_item` extracts and assembles in one step (one trip to a worker per page, not two).
Everything that goes in and comes out is a plain picklable value; the rules and the dedup policy are
handed to each worker once, when it starts (`Assembly`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ingest import qr
from ingest.dedup import Deduplicator
from ingest.extract import extract_page, from_feed, teaser_link
from ingest.model import ExtractRules, Extraction, FeedEntry, Item
from ingest.normalize import normalize
from ingest.promo import Rules


@dataclass(frozen=True)
class Assembly:
    """What an item needs besides its entry and page: the promo rules (None: don't classify) and the
    dedup policy (None: no fingerprint)."""

    rules: Rules | None = None
    dedup: Deduplicator | None = None


def assemble(assembly: Assembly, entry: FeedEntry, page: Extraction, *, source_name: str, seen_at: datetime,
             page_url: str | None) -> Item:
    """The normalized, classified and fingerprinted item; the feed's own content stands in for a page
    that gave nothing."""
    item = normalize(entry, page, source_name=source_name, seen_at=seen_at, feed_body=from_feed(entry),
                     page_url=page_url, rules=assembly.rules)
    if not qr.fits(item.source_link):  # no QR code can hold the link: no image, and no path to one
        item = replace(item, qrcode="")
    return replace(item, fingerprint=assembly.dedup.fingerprint(item)) if assembly.dedup else item


def page_item(assembly: Assembly, entry: FeedEntry, content: bytes | str, page_url: str, rules: ExtractRules, *,
              follow: bool, limits: dict, source_name: str, seen_at: datetime) -> Item | Extraction:
    """Extract the fetched page and assemble its item; a teaser page whose read-more link is to be
    followed (`follow`) comes back as its Extraction instead, for the caller to fetch the link.
    `limits` are extract_page's min_chars and teaser_chars."""
    page = extract_page(content, page_url, rules, **limits)
    if follow and teaser_link(page, entry, page_url, limits["teaser_chars"]):
        return page
    return assemble(assembly, entry, page, source_name=source_name, seen_at=seen_at, page_url=page_url)
