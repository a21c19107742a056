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

import random
import threading
import time
from pathlib import Path
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from ingest.dedup import DedupParams, Deduplicator
from ingest import decoding, schedule
from ingest.errors import FetchError, SourceError, TransientFetchError
from ingest.extract import follow_read_more, teaser_link
from ingest.fetch import Fetcher
from ingest.model import ExtractRules, Extraction, FeedEntry, Item, ParsedFeed, PollResult, Response, SourceState
from ingest.normalize import entry_keys
from ingest.parse import parse_feed
from ingest.promo import Rules
from ingest.qr import write_qrcode_batch
from ingest.workers import Extractor, run_now
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
    # the CPU-bound work on pages and items, in the worker processes unless [extract] processes = 0:
    # extract(content, url, rules) -> Extraction; extract.assemble(...) (normalize, classify, fingerprint);
    # extract.page_item(...) (both in one step; the page's Extraction when it is a teaser to follow)
    extract: Extractor
    clock: Callable[[], datetime] = utcnow
    worker: str = "presswire"
    promo_rules: Rules | None = None  # ingest.promo rules, loaded once by the CLI; None = don't classify
    stopping: threading.Event = field(default_factory=threading.Event)  # set: abandon polls, save nothing
    rng: random.Random = field(default_factory=random.Random)  # the schedule's jitter
    on_poll: Callable[[PollResult], None] | None = None  # told of every finished poll (metrics)

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
                         title_window_days=settings.title_window_days, near_window_days=settings.near_window_days)
    return Deduplicator(params=params, wire_domains=frozenset(d.lower() for d in settings.wire_domains),
                        max_candidates=settings.max_candidates)


class Abandoned(Exception):
    """The service is stopping: the poll in progress is given up before it saves anything."""


def poll_source(ctx: Context, source: SourceState) -> PollResult:
    """Poll one source end to end; never raises for the source's own failures."""
    started = time.monotonic()
    now = ctx.clock()
    try:
        response = ctx.fetcher.get(source.url, _conditional_headers(ctx, source, now), accept=FEED_ACCEPT,
                                   page=False)
        if response.not_modified:
            return _finish(ctx, source, started, now, PollResult(source.id, source.url, "not_modified"),
                           response=response)
        feed = parse_feed(response.content, response.final_url, response.headers)
    except FetchError as exc:
        status = "gone" if exc.status == 410 else "error"
        return _finish(ctx, source, started, now, PollResult(source.id, source.url, status, error=str(exc)),
                       failure=exc)
    except SourceError as exc:
        return _finish(ctx, source, started, now, PollResult(source.id, source.url, "error", error=str(exc)))
    entries = _unique_entries(feed.entries)
    try:
        fresh = new_entries(ctx, source.id, entries)
        items = _build_items(ctx, source, fresh, now)
        retried = _retry_pages(ctx, source, now)
    except Abandoned:
        return _abandon(ctx, source, started)
    result = PollResult(source.id, source.url, "ok", duplicate=len(entries) - len(fresh),
                        failed=sum(1 for i in items if i.failure), retried=retried, problem=feed.problem)
    return _finish(ctx, source, started, now, result, items=items, response=response, feed=feed)


def poll_sources(ctx: Context, sources: Iterable[SourceState]) -> list[PollResult]:
    """Poll these sources now, whatever their schedule, [poll] concurrency at a time; results in order."""
    sources = list(sources)
    workers = max(1, min(ctx.settings.poll.concurrency, len(sources)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
        return list(pool.map(lambda source: poll_source(ctx, source), sources))


def poll_due(ctx: Context) -> list[PollResult]:
    """Poll every source that is due now (each claimed with a lease, so other workers skip it), then return;
    SIGTERM/SIGINT stop it as they stop the service (schedule.run_once)."""
    return schedule.run_once(ctx)


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
    its cluster. Then call write_qrcodes, before the commit."""
    dedup = ctx.dedup
    if dedup is not None:  # items built elsewhere (imported documents) are fingerprinted here
        items = [i if i.fingerprint is not None else replace(i, fingerprint=dedup.fingerprint(i)) for i in items]
    return repository.save_items(s, source_id, items, now=now, qrcode_prefix=ctx.settings.output.qrcode_prefix,
                                 judge=dedup)


def build_item(ctx: Context, source: SourceState, entry: FeedEntry, seen_at: datetime) -> Item:
    """Fetch the entry's page, extract its body (when that fails, the feed's content stands in), then
    normalize, classify and fingerprint it: the fetched page goes to the worker processes once, for all
    of it (ingest.assemble.page_item); only a teaser comes back to have its read-more link followed.
    The three steps run one after the other here; backfill runs them apart (fetch_page in its threads,
    the workers' answers arriving while it fetches more, finish_item where they arrive)."""
    if ctx.stopping.is_set():
        raise Abandoned()
    fetched = fetch_page(ctx, entry)
    answer = extract_later(ctx, source, entry, seen_at, fetched).result()
    return finish_item(ctx, source, entry, seen_at, fetched, answer)


def extract_later(ctx: Context, source: SourceState, entry: FeedEntry, seen_at: datetime,
                  fetched: Response | tuple[Extraction, bool]) -> Future:
    """The workers' answer for a fetched page (ingest.assemble.page_item: its item, or a teaser's Extraction);
    without a page (fetch_page's reason instead), the item of what the feed gave, assembled now."""
    details = dict(source_name=source.name, seen_at=seen_at)
    if not isinstance(fetched, Response):
        return run_now(ctx.extract.assemble, entry, fetched[0], page_url=None, **details)
    return ctx.extract.page_item_later(entry, page_content(fetched), fetched.final_url,
                                      ctx.settings.rules_for(source.url),
                                      follow=ctx.settings.extract.follow_read_more, **details)


def finish_item(ctx: Context, source: SourceState, entry: FeedEntry, seen_at: datetime,
                fetched: Response | tuple[Extraction, bool], answer: Item | Extraction) -> Item:
    """The item, from extract_later's answer: a teaser's read-more link is followed here, then assembled (this
    waits for the network and the workers, unless `answer` is an Item)."""
    if isinstance(answer, Extraction):
        page_url = fetched.final_url if isinstance(fetched, Response) else None
        answer = ctx.extract.assemble(entry, _follow(ctx, entry, answer, page_url), page_url=page_url,
                                      source_name=source.name, seen_at=seen_at)
    retryable = not isinstance(fetched, Response) and fetched[1]
    return replace(answer, retryable=retryable, draft=_draft(ctx, answer))


def _draft(ctx: Context, item: Item) -> bool:
    """[promo] policy = "draft" stores promotional items with draft = true."""
    promotional = item.promo is not None and item.promo.label == "promotional"
    return item.draft or (promotional and ctx.settings.promo.policy == "draft")


def fetch_and_extract(ctx: Context, entry: FeedEntry, rules: ExtractRules | None = None
                      ) -> tuple[Extraction, str | None, bool]:
    """(extraction, final page URL, whether a failure is worth another try later). A teaser page's
    read-more link (on the page, or in the feed item) is followed once, through the same fetcher."""
    fetched = fetch_page(ctx, entry)
    if not isinstance(fetched, Response):
        page, retryable = fetched
        return page, None, retryable
    return extract_and_follow(ctx, entry, page_content(fetched), fetched.final_url, rules), fetched.final_url, False


def page_content(response: Response) -> bytes | str:
    """A fetched page as extraction reads it: decoded by its HTTP charset when it gives one (ingest.decoding)."""
    return decoding.page_content(response.content, response.headers.get("content-type", ""))


def fetch_page(ctx: Context, entry: FeedEntry) -> Response | tuple[Extraction, bool]:
    """The entry's article page, or why not (a failed Extraction, and whether it is worth another try later)."""
    if not ctx.settings.poll.fetch_articles:
        return Extraction(failure="article fetching is off ([poll] fetch_articles = false)"), False
    if not entry.link:
        return Extraction(failure="entry has no link"), False
    try:
        return ctx.fetcher.get(entry.link, accept=PAGE_ACCEPT)
    except FetchError as exc:
        return Extraction(failure=str(exc)), isinstance(exc, TransientFetchError)


def extract_and_follow(ctx: Context, entry: FeedEntry, content: bytes | str, page_url: str,
                       rules: ExtractRules | None = None) -> Extraction:
    """Extract a fetched page; a teaser's read-more link (on the page, or in the feed item) is followed once."""
    return _follow(ctx, entry, ctx.extract(content, page_url, rules), page_url)


def _follow(ctx: Context, entry: FeedEntry, page: Extraction, page_url: str) -> Extraction:
    """The teaser page's Extraction, with the full article its read-more link leads to when there is one."""
    link = teaser_link(page, entry, page_url, ctx.settings.extract.teaser_chars) \
        if ctx.settings.extract.follow_read_more else None
    if link:
        page = follow_read_more(page, link, lambda url: _fetch_page(ctx, url), lambda c, u: ctx.extract(c, u))
    return page


def _fetch_page(ctx: Context, url: str) -> tuple[bytes | str, str] | str:
    try:
        response = ctx.fetcher.get(url, accept=PAGE_ACCEPT)
    except FetchError as exc:
        return exc.reason
    return page_content(response), response.final_url


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
        item = build_item(ctx, source, entry, now)  # raises Abandoned when the service is stopping
        with ctx.sessions.begin() as s:
            moved = repository.update_page(s, article_id, item, now=now, **page_stand_ins(entry, item, now))
            write_qrcodes(ctx, [moved] if moved else [])  # before the commit, as a poll's new items'
        worked += item.failure is None
    return worked


def page_stand_ins(entry: FeedEntry, item: Item, seen_at: datetime) -> dict[str, bool]:
    """update_page's retitle / redate for a page tried again: the entry gave no title (the stored one is
    "(untitled)"), no date (the stored one is the day it was seen) and the page has one (not seen_at)."""
    return {"retitle": not entry.title, "redate": entry.published is None and item.date != seen_at}


def _finish(ctx: Context, source: SourceState, started: float, now: datetime, result: PollResult, *,
            items: list[Item] = (), response: Response | None = None, feed: ParsedFeed | None = None,
            failure: FetchError | None = None) -> PollResult:
    """One short transaction: save the items (and write their QR codes), record the poll and plan the next one.
    Then the poll's log line."""
    plan = _plan(ctx, source, now, result, response, feed, failure)
    redirect, move = _redirect(ctx, source, response)
    with ctx.sessions.begin() as s:
        saved = save_items(ctx, s, source.id, items, now)
        if result.status == "gone":
            repository.retire_source(s, source.id, f"retired: {result.error}", now)
        else:
            repository.record_poll(s, source.id, owner=ctx.worker, now=now, next_poll_at=plan.next_poll_at,
                                   error=result.error, status=result.status, interval=plan.interval,
                                   full_fetch=feed is not None, redirect=redirect,
                                   keep_validators=response is None, **_validators(source, response))
        refused = repository.move_source(s, source.id, move) if move else None
        write_qrcodes(ctx, saved.saved)
    result = replace(result, new=saved.new, duplicate=result.duplicate + saved.duplicate, copies=saved.copies,
                     promotional=saved.promotional, elapsed_ms=int((time.monotonic() - started) * 1000),
                     next_poll_at=None if result.status == "gone" else plan.next_poll_at, interval=plan.interval,
                     moved_to=move if move and not refused else None, problem=result.problem or refused)
    _log_poll(ctx, result)
    if ctx.on_poll:
        ctx.on_poll(result)
    return result


def _plan(ctx: Context, source: SourceState, now: datetime, result: PollResult, response: Response | None,
          feed: ParsedFeed | None, failure: FetchError | None) -> schedule.Plan:
    floor = schedule.server_floor(ttl_minutes=feed.ttl_minutes if feed else None,
                                  headers=response.headers if response else None,
                                  retry_after=failure.retry_after if failure else None)
    return schedule.plan_next_poll(ctx.settings.poll, source, now, ctx.rng,
                                   errors=source.error_count + 1 if result.error else 0,
                                   published=[e.published for e in feed.entries] if feed else None, floor=floor)


def _redirect(ctx: Context, source: SourceState, response: Response | None) -> tuple[tuple[str | None, int], str | None]:
    """(the permanent redirect seen on consecutive polls and how often, the URL to move the source to now)."""
    target = response.permanent_redirect if response else None
    if target is None or target == source.url:
        return (None, 0), None
    seen = source.redirect_count + 1 if source.redirect_url == target else 1
    if seen >= ctx.settings.poll.redirect_repeats:
        return (None, 0), target
    return (target, seen), None


def _validators(source: SourceState, response: Response | None) -> dict:
    """The ETag / Last-Modified to send next time: a 200's own (none if it sent none); a 304 may renew them."""
    headers = response.headers if response else {}
    if response is not None and response.not_modified:
        return {"etag": headers.get("etag") or source.etag,
                "last_modified": headers.get("last-modified") or source.last_modified}
    return {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}


def _abandon(ctx: Context, source: SourceState, started: float) -> PollResult:
    """A poll cut short by shutdown: nothing saved; the source is released, so it is due again at once."""
    with ctx.sessions.begin() as s:
        repository.release_leases(s, ctx.worker, [source.id])
    result = PollResult(source.id, source.url, "abandoned", elapsed_ms=int((time.monotonic() - started) * 1000))
    _log_poll(ctx, result)
    return result


def write_qrcodes(ctx: Context, saved: Iterable[tuple[int, str, str]]) -> None:
    """Write the saved items' QR codes to [output] qrcode_dir; one that cannot be written (a full disk, a
    link too long for a QR code) is logged and the others are written: the items are stored without it.

    A poll calls it in the transaction that saves the items, before its commit: after it, a kill in between
    left items without their images for good (the next poll finds them stored, a duplicate, and draws nothing).
    A kill before the commit leaves images of items not stored yet, which the next poll stores and draws again.
    (A backfill draws them after each batch's commit, and its next run draws what a kill left undrawn.)"""
    directory = ctx.settings.output.qrcode_dir
    if not directory:
        return
    for error in write_qrcode_batch(Path(directory), [(url, link) for _article_id, url, link in saved]):
        ctx.log.warning("qrcode", error=error)


def _log_poll(ctx: Context, r: PollResult) -> None:
    fields = dict(source=r.source_id, url=r.url, status=r.status, new=r.new, duplicate=r.duplicate,
                  copies=r.copies, promotional=r.promotional, failed=r.failed, retried=r.retried,
                  elapsed_ms=r.elapsed_ms, next_poll=r.next_poll_at.isoformat() if r.next_poll_at else None)
    if r.moved_to:
        fields["moved_to"] = r.moved_to
    if r.error:
        ctx.log.warning("poll", error=r.error, **fields)
    elif r.problem:
        ctx.log.warning("poll", problem=r.problem, **fields)
    else:
        ctx.log.info("poll", **fields)


def _conditional_headers(ctx: Context, source: SourceState, now: datetime) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from the last fetch, unless a full fetch is due
    ([poll] full_fetch_every: servers whose validators never change are read whole now and then)."""
    every = ctx.settings.poll.full_fetch_every
    if every and (source.last_full_fetch_at is None or (now - source.last_full_fetch_at).total_seconds() >= every):
        return {}
    headers = {}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    return headers


def _unique_entries(entries: Iterable[FeedEntry]) -> list[FeedEntry]:
    """Drop entries repeated within one feed (same GUID or canonical link), keeping the first. (A key the
    feed gives different entries is no key of theirs: see entry_keys.)"""
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
