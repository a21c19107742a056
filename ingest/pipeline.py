"""The orchestrators. One poll of one source reads top to bottom as the whole story:

    fetch the feed (conditional GET) -> 304? record and stop -> parse -> identity keys
    -> ask the store which entries are new -> for each new entry: fetch page, extract, normalize,
       fingerprint (ingest.dedup)
    -> one short transaction: save items (each joins the cluster of a stored copy, found and verified
       inside the transaction, or a new one), record the poll -> one log line for the poll

A failure on one entry never aborts the source: the item keeps what the feed gave and the reason,
and a transient failure is tried again on a later poll.

Polling and backfill (ingest/backfill.py) share one path from entry to stored item:
new_entries (skip what the store has) -> build_item (fetch, extract, normalize) -> save_items
(+ write_qrcodes), so a backfilled item and a polled one are indistinguishable.
"""

from __future__ import annotations

import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from ingest.dedup import DedupParams, Deduplicator
from ingest.errors import FetchError, SourceError, TransientFetchError
from ingest.extract import extract_page, feed_read_more, follow_read_more, from_feed
from ingest.fetch import Fetcher
from ingest.model import ExtractRules, Extraction, FeedEntry, Item, PollResult, Response, SourceState
from ingest.normalize import entry_keys, normalize
from ingest.parse import parse_feed
from ingest.promo import Rules
from ingest.qr import write_qrcode
from ingest.settings import DedupSettings, Settings
from store import repository

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
RETRY_BATCH = 20  # failed article pages tried again per poll of a source


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Context:
    """Everything a poll needs, built once at the CLI edge and passed down."""

    settings: Settings
    fetcher: Fetcher
    sessions: sessionmaker[Session]
    log: object  # a structlog BoundLogger
    extract: Callable[..., Extraction] = extract_page  # (content, url[, rules]); ingest.workers.Extractor in the CLI
    clock: Callable[[], datetime] = utcnow
    worker: str = "presswire"
    promo_rules: Rules | None = None  # ingest.promo rules, loaded once by the CLI; None = don't classify

    @property
    def dedup(self) -> Deduplicator | None:
        return deduplicator(self.settings.dedup)


def deduplicator(settings: DedupSettings) -> Deduplicator | None:
    """The dedup policy from [dedup]; None when it is off. The fingerprint geometry (shingle size,
    head words, bands x rows) is fixed in ingest.dedup: stored band keys depend on it."""
    if not settings.enabled:
        return None
    params = DedupParams(lead_threshold=settings.lead_threshold, jaccard_threshold=settings.jaccard_threshold,
                         containment_threshold=settings.containment_threshold, min_shingles=settings.min_shingles,
                         title_window_days=settings.title_window_days)
    return Deduplicator(params=params, wire_domains=frozenset(d.lower() for d in settings.wire_domains),
                        max_candidates=settings.max_candidates)


def poll_source(ctx: Context, source: SourceState) -> PollResult:
    """Poll one source end to end; never raises for the source's own failures."""
    started = time.monotonic()
    now = ctx.clock()
    try:
        response = ctx.fetcher.get(source.url, _conditional_headers(ctx, source), accept=FEED_ACCEPT)
        if response.not_modified:
            return _finish(ctx, source, started, now, PollResult(source.id, source.url, "not_modified"),
                           keep_validators=True)
        feed = parse_feed(response.content, response.final_url, response.headers)
    except (FetchError, SourceError) as exc:
        return _finish(ctx, source, started, now, PollResult(source.id, source.url, "error", error=str(exc)))
    entries = _unique_entries(feed.entries)
    fresh = new_entries(ctx, source.id, entries)
    items = _build_items(ctx, source, fresh, now)
    retried = _retry_pages(ctx, source, now)
    result = PollResult(source.id, source.url, "ok", duplicate=len(entries) - len(fresh),
                        failed=sum(1 for i in items if i.failure), retried=retried, problem=feed.problem)
    return _finish(ctx, source, started, now, result, items=items, response=response)


def poll_sources(ctx: Context, sources: Iterable[SourceState]) -> list[PollResult]:
    return [poll_source(ctx, source) for source in sources]


def poll_due(ctx: Context, limit: int = 100) -> list[PollResult]:
    """Claim the sources whose poll is due (with a lease, so other workers skip them) and poll them."""
    now = ctx.clock()
    lease_until = now + timedelta(seconds=ctx.settings.poll.lease)
    with ctx.sessions.begin() as s:
        due = repository.claim_due_sources(s, now, ctx.worker, lease_until, limit)
    return poll_sources(ctx, [d.state for d in due])


def new_entries(ctx: Context, source_id: int, entries: list[FeedEntry]) -> list[FeedEntry]:
    """The entries the source does not have yet (by GUID or canonical link)."""
    if not entries:
        return []
    with ctx.sessions.begin() as s:
        known = repository.known_keys(s, source_id, [entry_keys(e) for e in entries])
    return [e for e in entries if entry_keys(e) not in known]


def save_items(ctx: Context, s: Session, source_id: int, items: Iterable[Item], now: datetime
               ) -> repository.SaveResult:
    """Save items in the caller's transaction; a stored entry is a duplicate, a copy of a stored story joins
    its cluster. Then call write_qrcodes."""
    dedup = ctx.dedup
    if dedup is not None:  # items built elsewhere (imported documents) are fingerprinted here
        items = [i if i.fingerprint is not None else replace(i, fingerprint=dedup.fingerprint(i)) for i in items]
    return repository.save_items(s, source_id, items, now=now, qrcode_prefix=ctx.settings.output.qrcode_prefix,
                                 judge=dedup)


def build_item(ctx: Context, source: SourceState, entry: FeedEntry, seen_at: datetime) -> Item:
    """Fetch the entry's page and extract its body (when that fails, the feed's content stands in),
    classify it, then compute its dedup fingerprint."""
    page, page_url, retryable = fetch_and_extract(ctx, entry, ctx.settings.rules_for(source.url))
    item = normalize(entry, page, source_name=source.name, seen_at=seen_at, feed_body=from_feed(entry),
                     page_url=page_url, rules=ctx.promo_rules)
    dedup = ctx.dedup
    return replace(item, retryable=retryable, draft=_draft(ctx, item),
                   fingerprint=dedup.fingerprint(item) if dedup else None)


def _draft(ctx: Context, item: Item) -> bool:
    """[promo] policy = "draft" stores promotional items with draft = true."""
    promotional = item.promo is not None and item.promo.label == "promotional"
    return item.draft or (promotional and ctx.settings.promo.policy == "draft")


def fetch_and_extract(ctx: Context, entry: FeedEntry, rules: ExtractRules | None = None
                      ) -> tuple[Extraction, str | None, bool]:
    """(extraction, final page URL, whether a failure is worth another try later). A teaser page's
    read-more link (on the page, or in the feed item) is followed once, through the same fetcher."""
    if not ctx.settings.poll.fetch_articles:
        return Extraction(failure="article fetching is off ([poll] fetch_articles = false)"), None, False
    if not entry.link:
        return Extraction(failure="entry has no link"), None, False
    try:
        response = ctx.fetcher.get(entry.link, accept=PAGE_ACCEPT)
    except FetchError as exc:
        return Extraction(failure=str(exc)), None, isinstance(exc, TransientFetchError)
    return extract_and_follow(ctx, entry, response.content, response.final_url, rules), response.final_url, False


def extract_and_follow(ctx: Context, entry: FeedEntry, content: bytes, page_url: str,
                       rules: ExtractRules | None = None) -> Extraction:
    """Extract a fetched page; a teaser's read-more link (on the page, or in the feed item) is followed once."""
    page = ctx.extract(content, page_url, rules)
    link = _read_more_link(ctx, entry, page, page_url)
    if link:
        page = follow_read_more(page, link, lambda url: _fetch_page(ctx, url), lambda c, u: ctx.extract(c, u))
    return page


def _read_more_link(ctx: Context, entry: FeedEntry, page: Extraction, page_url: str) -> str | None:
    """The page's own read-more link, else (for a short page) one in the feed item."""
    if not ctx.settings.extract.follow_read_more:
        return None
    if page.read_more:
        return page.read_more
    return feed_read_more(entry, page_url) if len(page.text) < ctx.settings.extract.teaser_chars else None


def _fetch_page(ctx: Context, url: str) -> tuple[bytes, str] | str:
    try:
        response = ctx.fetcher.get(url, accept=PAGE_ACCEPT)
    except FetchError as exc:
        return exc.reason
    return response.content, response.final_url


def _build_items(ctx: Context, source: SourceState, entries: list[FeedEntry], now: datetime) -> list[Item]:
    if not entries:
        return []
    workers = max(1, min(ctx.settings.poll.article_workers, len(entries)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="article") as pool:
        return list(pool.map(lambda e: build_item(ctx, source, e, now), entries))


def _retry_pages(ctx: Context, source: SourceState, now: datetime) -> int:
    """Try again the article pages that failed transiently on earlier polls; returns how many now worked."""
    if not ctx.settings.poll.fetch_articles:
        return 0
    with ctx.sessions.begin() as s:
        pending = repository.pages_to_retry(s, source.id, ctx.settings.poll.max_article_attempts, RETRY_BATCH)
    worked = 0
    for article_id, entry in pending:
        item = build_item(ctx, source, entry, now)
        with ctx.sessions.begin() as s:
            repository.update_page(s, article_id, item, now=now)
        worked += item.failure is None
    return worked


def _finish(ctx: Context, source: SourceState, started: float, now: datetime, result: PollResult, *,
            items: list[Item] = (), response: Response | None = None, keep_validators: bool = False) -> PollResult:
    """One short transaction: save the items, record the poll. Then the poll's one log line."""
    next_poll = now + timedelta(seconds=ctx.settings.poll.interval)
    headers = response.headers if response else {}
    with ctx.sessions.begin() as s:
        saved = save_items(ctx, s, source.id, items, now)
        repository.record_poll(s, source.id, now=now, next_poll_at=next_poll, error=result.error,
                               etag=headers.get("etag"), last_modified=headers.get("last-modified"),
                               keep_validators=keep_validators)
    write_qrcodes(ctx, saved.saved)
    result = replace(result, new=saved.new, duplicate=result.duplicate + saved.duplicate, copies=saved.copies,
                     elapsed_ms=int((time.monotonic() - started) * 1000))
    _log_poll(ctx, result)
    return result


def write_qrcodes(ctx: Context, saved: Iterable[tuple[int, str, str]]) -> None:
    directory = ctx.settings.output.qrcode_dir
    for _article_id, url, link in saved if directory else ():
        write_qrcode(Path(directory), url, link)


def _log_poll(ctx: Context, r: PollResult) -> None:
    fields = dict(source=r.source_id, url=r.url, status=r.status, new=r.new, duplicate=r.duplicate,
                  copies=r.copies, failed=r.failed, retried=r.retried, elapsed_ms=r.elapsed_ms)
    if r.error:
        ctx.log.warning("poll", error=r.error, **fields)
    elif r.problem:
        ctx.log.warning("poll", problem=r.problem, **fields)
    else:
        ctx.log.info("poll", **fields)


def _conditional_headers(ctx: Context, source: SourceState) -> dict[str, str]:
    with ctx.sessions.begin() as s:
        etag, last_modified = repository.poll_state(s, source.id)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _unique_entries(entries: Iterable[FeedEntry]) -> list[FeedEntry]:
    """Drop entries repeated within one feed (same GUID or canonical link), keeping the first."""
    seen: set[str] = set()
    out = []
    for entry in entries:
        keys = entry_keys(entry)
        marks = {f"g:{keys.guid}" if keys.guid else "", f"l:{keys.link}" if keys.link else ""} - {""}
        if marks & seen:
            continue
        seen |= marks
        out.append(entry)
    return out
