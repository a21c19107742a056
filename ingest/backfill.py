"""`presswire backfill`: fill the store with history in one run, then exit.

The run reads as a story:

    for each input (feeds and their older pages, sitemaps, URL lists, directories of documents):
        skip the units a previous run with the same arguments finished (backfill_progress)
        stream its candidates -> keep those in the date window / URL patterns
        -> ask the store which are new -> fetch their pages in a thread pool -> extract + normalize
           them in the process pool of ingest/workers.py (in batches, as they come) -> save in batches
        -> when a unit's items are all saved, record the unit as done

Items take the same path as polled ones (pipeline.build_item's steps -> pipeline.save_items), so a backfilled
item and a polled one are indistinguishable. Resuming is two things: finished units are recorded in the
database (keyed by a hash of the arguments) and skipped, and everything inside an unfinished unit is
checked against the store before it is fetched; the UNIQUE constraints make any re-save a duplicate.

Sources: a feed URL is its own source (added as an active source, so polling carries on from where the
backfill stopped); every other input gets an archive source that is never polled: a sitemap its URL,
a local feed file, URL list or directory its file:// URL. A front-matter document belongs to the source
its `source` field names (an existing source of that name, else an archive source `import:<name>`).

Memory stays flat: inputs are streamed, at most `concurrency * 4` pages are in flight, items are saved
every `batch_size`, and nothing is kept per item (except the keys seen, in a --dry-run).
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

from ingest.discover import (MAX_SITEMAP_BYTES, Window, is_wordpress, lower_scheme, parse_opml, parse_sitemap,
                             url_lines, wordpress_page, wordpress_page_number)
from ingest.errors import FetchError, PresswireError, SourceError
from ingest.importer import document_files, import_file
from ingest.model import EntryKeys, Extraction, FeedEntry, Item, Response, SourceState
from ingest.normalize import entry_keys
from ingest.parse import parse_feed
from ingest.pipeline import (FEED_ACCEPT, Context, build_item, extract_later, fetch_page, finish_item, page_stand_ins,
                             save_items, write_qrcodes)
from ingest.pipeline import _draft as promo_draft
from ingest.qr import write_qrcode_batch
from store import repository

SITEMAP_ACCEPT = "application/xml, text/xml;q=0.9, */*;q=0.5"
LOCAL_CONTENT_TYPE = "application/xml"  # a local feed file's: its XML declaration gives the charset
CHUNK = 200  # candidates checked against the store at once
MAX_SITEMAP_DEPTH = 3  # sitemap index -> sitemap index -> ... -> urlset


class Interrupted(PresswireError):
    exit_code = 130


# --- what to backfill ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """What a backfill reads. Its hash keys the resumable progress: the same request resumes."""

    feeds: tuple[str, ...] = ()  # feed URLs, or local feed files (absolute paths)
    sitemaps: tuple[str, ...] = ()  # sitemap / sitemap index URLs or files
    url_lists: tuple[str, ...] = ()  # text files of article URLs
    directories: tuple[str, ...] = ()  # directories of documents in the seed formats
    opml: tuple[str, ...] = ()  # OPML files whose feeds become sources
    backfill_sources: bool = False  # also backfill the OPML files' feeds
    max_pages: int = 100
    wordpress: str = "auto"  # ?paged=N paging: auto (WordPress feeds), always, never
    window: Window = field(default_factory=Window)
    date: datetime | None = None  # the date of plain-text documents (default: the file's mtime)
    source_name: str = ""  # display name of the archive sources this run creates

    def key(self) -> str:
        return hashlib.sha256(self.arguments().encode()).hexdigest()

    def arguments(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)


@dataclass(frozen=True)
class Options:
    """How a backfill runs (not part of its identity)."""

    concurrency: int = 8
    batch_size: int = 100
    dry_run: bool = False
    restart: bool = False  # forget the progress of an earlier run with the same request


@dataclass(frozen=True)
class SourceSpec:
    url: str
    name: str
    status: str = "archive"  # "active" for feed URLs
    by_name: bool = False  # an existing source with this name is used when there is one


@dataclass(frozen=True)
class Candidate:
    """Something that may become an item: a (possibly synthesized) feed entry, or an imported document."""

    source: SourceSpec
    entry: FeedEntry | None = None
    fallback_date: datetime | None = None  # the date when neither entry nor page has one (sitemap lastmod)
    item: Item | None = None

    @cached_property  # read two or three times per candidate; canonicalizing the link is not free
    def keys(self) -> EntryKeys:
        return self.item.keys if self.item is not None else entry_keys(self.entry)

    @property
    def date(self) -> datetime | None:
        return self.item.date if self.item is not None else self.entry.published or self.fallback_date

    @property
    def link(self) -> str | None:
        return self.item.entry.link if self.item is not None else self.entry.link


@dataclass(frozen=True)
class Unit:
    """A piece of work whose completion is recorded: a feed page, a sitemap, a URL list, a directory."""

    name: str
    candidates: Iterable[Candidate]
    detail: str = ""  # JSON kept with the progress row (a page's older-page links)


@dataclass
class Tally:
    """The counters of one run (only the main thread writes them)."""

    discovered: int = 0  # candidates in the window
    seen: int = 0  # candidates finished (stored, duplicate or failed)
    stored: int = 0  # new items (would be stored, in a dry run)
    duplicates: int = 0
    promotional: int = 0
    failed: int = 0  # items whose page gave no body (kept with what the input said), or that broke
    filtered: int = 0  # outside --since/--until or the URL patterns
    errors: int = 0  # inputs, pages or sitemaps that could not be read
    units: int = 0  # units finished (and OPML files read)
    retried: int = 0  # pages that failed transiently in an earlier run, tried again
    recovered: int = 0  # of those, the ones that gave a body this time
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def nothing_read(self) -> bool:
        """Inputs failed and no unit could be read: the command exits 1 (partial failures only count errors)."""
        return self.errors > 0 and self.units == 0

    @property
    def rate(self) -> float:
        return self.seen / self.elapsed if self.elapsed > 0 else 0.0

    def fields(self) -> dict:
        return dict(seen=self.seen, stored=self.stored, duplicates=self.duplicates, promotional=self.promotional,
                    failed=self.failed, filtered=self.filtered, errors=self.errors, units=self.units,
                    retried=self.retried, recovered=self.recovered, discovered=self.discovered,
                    elapsed_s=round(self.elapsed, 2), items_per_s=round(self.rate, 2))


class Reporter(Protocol):
    def update(self, tally: Tally) -> None: ...

    def item(self, item: Item, source: SourceState) -> None: ...  # a --dry-run's would-be-stored item

    def close(self, tally: Tally) -> None: ...


# --- the run ---------------------------------------------------------------------------------------

class Offload(Protocol):
    """Where CPU-bound side jobs run (ingest.workers.Extractor.submit: the extraction process pool)."""

    def submit(self, fn, /, *args) -> Future: ...


def backfill(ctx: Context, request: Request, options: Options, reporter: Reporter,
             offload: Offload | None = None) -> Tally:
    """Run the backfill; raises Interrupted on Ctrl-C (what was saved stays saved; rerun to resume).

    With `offload`, QR codes are drawn there rather than in this process (which fetches and saves)."""
    run = _Run(ctx, request, options, reporter, offload)
    return run.execute()


def import_opml(ctx: Context, paths: Iterable[str], *, dry_run: bool = False) -> list[tuple[str, str, bool]]:
    """Add the feeds of OPML files as (active) sources: [(url, title, created)]."""
    out = []
    for path in paths:
        for feed in parse_opml(read_file(Path(path)), path):
            if dry_run:
                out.append((feed.url, feed.title, False))
                continue
            with ctx.sessions.begin() as s:
                _source, created = repository.add_source(s, feed.url, feed.title, ctx.clock())
            out.append((feed.url, feed.title, created))
    return out


class _Run:
    def __init__(self, ctx: Context, request: Request, options: Options, reporter: Reporter,
                 offload: Offload | None):
        self.ctx, self.request, self.options, self.reporter, self.offload = ctx, request, options, reporter, offload
        # candidates in flight at most: the pages being fetched, those waiting for the workers, and enough more to
        # keep both busy while a batch is saved in this thread
        self.window = 4 * max(1, options.concurrency) + options.batch_size
        self.qr_jobs: deque[Future] = deque()
        self.now = ctx.clock()
        self.tally = Tally()
        self.run_id: int | None = None
        self.sources: dict[str, SourceState | None] = {}
        self.in_flight: deque[tuple[Candidate, Future] | Unit] = deque()
        self.pending: list[tuple[SourceState, Item]] = []
        self.dry_keys: set[tuple[str, str | None, str | None]] = set()
        self.sitemaps_read: set[str] = set()  # an index may list itself, or a sitemap twice

    def execute(self) -> Tally:
        self._start()
        feeds = list(self.request.feeds) + self._import_opml()
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="backfill") as pool:
            try:
                for unit in self._units(feeds):
                    self._process(unit, pool)
                while self.in_flight:
                    self._collect()
                self._retry_pages(pool)
                self._wait_qrcodes(0)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                self.reporter.close(self.tally)
                raise Interrupted("backfill interrupted: what was saved stays saved; "
                                  "run the same command again to resume") from None
        self._finish()
        return self.tally

    def _import_opml(self) -> list[str]:
        """Add the OPML files' feeds as sources; their URLs, to backfill with --backfill-sources. A file that
        cannot be read is an error of its own, as a broken sitemap is: the other inputs are still read."""
        feeds = []
        for path in self.request.opml:
            try:
                imported = import_opml(self.ctx, [path], dry_run=self.options.dry_run)
            except (SourceError, OSError) as exc:
                self._error("opml", path, exc)
                continue
            self.tally.units += 1
            feeds += [url for url, _title, _created in imported] if self.request.backfill_sources else []
        return feeds

    def _start(self) -> None:
        if self.options.dry_run:
            return
        with self.ctx.sessions.begin() as s:
            interrupted = repository.interrupted_backfill(s, self.request.key())
        if interrupted is not None:  # before this run's start is recorded: a kill while drawing leaves it to the next
            self._redraw_qrcodes(interrupted)
        with self.ctx.sessions.begin() as s:
            if self.options.restart:
                repository.forget_backfill_run(s, self.request.key())
            self.run_id, resumed = repository.start_backfill_run(s, self.request.key(), self.request.arguments(),
                                                                 self.now)
        self.ctx.log.info("backfill started", run=self.run_id, resumed=resumed, key=self.request.key()[:12])

    def _redraw_qrcodes(self, since: datetime) -> None:
        """The QR code images that an interrupted run of this request left undrawn: those of the items stored
        since it started (its items' created_at) whose file is missing. Drawn here, before any new work."""
        directory = self.ctx.settings.output.qrcode_dir
        if not directory:
            return
        folder = Path(directory)
        with self.ctx.sessions() as s:
            missing = [(url, link) for url, link in repository.qrcode_links_since(s, since)
                       if not (folder / f"{url}.png").exists()]
        if missing:
            write_qrcodes(self.ctx, [(0, url, link) for url, link in missing])
            self.ctx.log.info("backfill qrcodes redrawn", count=len(missing), since=since.isoformat())

    def _finish(self) -> None:
        if self.run_id is not None:
            with self.ctx.sessions.begin() as s:
                repository.finish_backfill_run(s, self.run_id, self.ctx.clock())
        self.reporter.close(self.tally)
        self.ctx.log.info("backfill finished", run=self.run_id, dry_run=self.options.dry_run, **self.tally.fields())

    # --- inputs -> units ---

    def _units(self, feeds: list[str]) -> Iterator[Unit]:
        """Each input once, though it may be named twice (a feed given with --feed and listed in OPML files):
        a unit is recorded done only once its items are saved, so a second reading would fetch it all again."""
        for feed in dict.fromkeys(map(_location, feeds)):
            yield from self._feed_units(feed)
        for sitemap in dict.fromkeys(self.request.sitemaps):
            spec = SourceSpec(_location(sitemap), self.request.source_name or _host_or_name(sitemap))
            yield from self._sitemap_units(_location(sitemap), spec, 0)
        for path in dict.fromkeys(self.request.url_lists):
            yield from self._unless_done(f"urls {path}", lambda p=path: self._url_list(Path(p)))
        for path in dict.fromkeys(self.request.directories):
            yield from self._unless_done(f"dir {path}", lambda p=path: self._directory(Path(p)))

    def _unless_done(self, name: str, candidates: Callable[[], Iterable[Candidate]]) -> Iterator[Unit]:
        if self._done(name) is None:
            yield Unit(name, candidates())

    def _feed_units(self, start: str) -> Iterator[Unit]:
        """The feed's pages, newest first: the start page, then rel="next"/"prev-archive" (or ?paged=N)."""
        location = _location(start)
        spec = SourceSpec(location, self.request.source_name, "active" if location.startswith("http") else "archive")
        queue, queued, pages, walked = deque([location]), {location}, 0, set()
        while queue and pages < self.request.max_pages:
            url = queue.popleft()
            pages += 1
            done = self._done(f"page {url}")
            if done is not None:
                older = json.loads(done or "{}").get("older", [])
            else:
                page = self._feed_page(url, spec, walked)
                if page is None:
                    continue
                unit, older = page
                yield unit
            for link in map(_file_url, older):
                if link not in queued and _may_follow(url, link):
                    queued.add(link)
                    queue.append(link)

    def _feed_page(self, url: str, spec: SourceSpec, walked: set[EntryKeys]) -> tuple[Unit, list[str]] | None:
        """One page as a unit, and the older pages it links to (none when it is past --since, or when it
        only repeats entries of pages already read: a site that ignores ?paged=N)."""
        try:
            response = self._read(url, FEED_ACCEPT, self.ctx.settings.http.max_bytes)
            feed = parse_feed(response.content, _parse_base(response.final_url), response.headers)
        except (FetchError, SourceError, OSError) as exc:
            if _past_the_last_page(url, exc):
                self.ctx.log.info("backfill feed ended", page=url)
            else:
                self._error("feed page", url, exc)
            return None
        if feed.problem:
            self.ctx.log.warning("backfill feed page", page=url, problem=feed.problem)
        spec = replace(spec, name=spec.name or feed.title)
        entries = [Candidate(spec, entry=e) for e in feed.entries]
        older = list(feed.older_pages) or self._wordpress_next(url, feed.generator, entries)
        since, keys = self.request.window.since, {c.keys for c in entries}
        if entries and keys <= walked:  # nothing new (a site that ignores ?paged=N): nothing to fetch again
            entries, older = [], []
        elif since and entries and all(c.date and c.date < since for c in entries):
            older = []
        walked |= keys
        return Unit(f"page {url}", entries, json.dumps({"older": older})), older

    def _wordpress_next(self, url: str, generator: str, entries: list[Candidate]) -> list[str]:
        mode = self.request.wordpress
        if not entries or mode == "never" or not url.startswith("http"):
            return []
        if mode == "always" or is_wordpress(generator):
            return [wordpress_page(url, wordpress_page_number(url) + 1)]
        return []

    def _sitemap_units(self, url: str, spec: SourceSpec, depth: int) -> Iterator[Unit]:
        name = f"sitemap {url}"
        if url in self.sitemaps_read or self._done(name) is not None:
            return
        self.sitemaps_read.add(url)
        try:
            response = self._read(url, SITEMAP_ACCEPT, max(self.ctx.settings.http.max_bytes, MAX_SITEMAP_BYTES))
            entries = parse_sitemap(response.content, url)
            first = next(entries, None)
        except (FetchError, SourceError, OSError) as exc:
            self._error("sitemap", url, exc)
            return
        base = response.final_url  # relative <loc>s resolve against where the sitemap was found
        if first is None:
            yield Unit(name, ())
        elif first.kind == "url":
            yield Unit(name, (self._sitemap_candidate(spec, e, base) for e in itertools.chain([first], entries)
                              if e.kind == "url"))
        elif depth < MAX_SITEMAP_DEPTH:
            yield from self._sitemap_index(itertools.chain([first], entries), url, base, spec, depth)
        else:
            self._error("sitemap", url, f"sitemap index nested deeper than {MAX_SITEMAP_DEPTH} levels: not read")

    def _sitemap_index(self, entries, url: str, base: str, spec: SourceSpec, depth: int) -> Iterator[Unit]:
        since = self.request.window.since
        try:
            for child in entries:
                loc = urljoin(base, child.loc)
                if child.kind == "sitemap" and (since is None or child.lastmod is None or child.lastmod >= since) \
                        and _may_follow(url, loc):
                    yield from self._sitemap_units(loc, spec, depth + 1)
        except SourceError as exc:
            self._error("sitemap", url, exc)

    def _sitemap_candidate(self, spec: SourceSpec, e, base: str) -> Candidate:
        """An entry as a feed would give it: its title is HTML there, and <news:title> is plain text."""
        entry = FeedEntry(guid=None, link=urljoin(base, e.loc), title=html.escape(e.news_title, quote=False),
                          published=e.news_date)
        return Candidate(spec, entry=entry, fallback_date=e.lastmod)

    def _url_list(self, path: Path) -> Iterator[Candidate]:
        spec = SourceSpec(path.resolve().as_uri(), self.request.source_name or path.name)
        with path.open(encoding="utf-8-sig", errors="replace") as fh:  # a BOM is not part of the first URL
            for url in url_lines(fh):
                yield Candidate(spec, entry=FeedEntry(guid=None, link=url, title=""))

    def _directory(self, directory: Path) -> Iterator[Candidate]:
        spec = SourceSpec(directory.resolve().as_uri(), self.request.source_name or directory.name)
        for path in document_files(directory):
            imported = import_file(path, source_name=spec.name, date=self.request.date, rules=self.ctx.promo_rules)
            if imported.problem:
                self._error("document", str(path), imported.problem)
                continue
            item = replace(imported.item, draft=promo_draft(self.ctx, imported.item))  # [promo] policy, as polled
            if imported.source_name:
                named = SourceSpec(f"import:{quote(imported.source_name)}", imported.source_name, by_name=True)
                yield Candidate(named, item=item)
            else:
                yield Candidate(spec, item=item)

    # --- units -> items ---

    def _process(self, unit: Unit, pool: ThreadPoolExecutor) -> None:
        """Stream a unit's candidates through the pool; the unit is recorded done once its items are saved."""
        try:
            for chunk in _chunks(unit.candidates, CHUNK):
                for cand in self._fresh(self._in_window(chunk)):
                    self.in_flight.append((cand, self._build(cand, pool)))
                    while len(self.in_flight) > self.window:
                        self._collect()
        except (SourceError, OSError) as exc:  # a sitemap broken half-way, an unreadable file
            self._error("input", unit.name, exc)
            return
        self.in_flight.append(unit)

    def _in_window(self, chunk: list[Candidate]) -> list[Candidate]:
        kept = [c for c in chunk if self.request.window.accepts(c.link, c.date)]
        self.tally.filtered += len(chunk) - len(kept)
        self.tally.discovered += len(kept)
        return kept

    def _fresh(self, chunk: list[Candidate]) -> list[Candidate]:
        """The candidates the store does not have yet; the others are counted as duplicates."""
        fresh = []
        for spec, group in itertools.groupby(chunk, key=lambda c: c.source):
            group = list(group)
            source = self._source(spec)
            known: set[EntryKeys] = set()
            if source.id:
                with self.ctx.sessions.begin() as s:
                    known = repository.known_keys(s, source.id, [c.keys for c in group])
            fresh += [c for c in group if c.keys not in known and self._first_in_dry_run(spec, c.keys)]
        self.tally.duplicates += len(chunk) - len(fresh)
        self.tally.seen += len(chunk) - len(fresh)
        self.reporter.update(self.tally)
        return fresh

    def _first_in_dry_run(self, spec: SourceSpec, keys: EntryKeys) -> bool:
        """A dry run saves nothing, so it remembers the keys it would have stored."""
        if not self.options.dry_run:
            return True
        marks = {(spec.url, "g", keys.guid), (spec.url, "l", keys.link)} - {(spec.url, "g", None), (spec.url, "l", None)}
        if marks & self.dry_keys:
            return False
        self.dry_keys |= marks
        return True

    def _build(self, cand: Candidate, pool: ThreadPoolExecutor) -> Future:
        """The candidate's item, as a future: the imported item, or the polling path's steps (pipeline.build_item)
        run apart, so that no thread waits for the workers: the page is fetched in a pool thread and handed to
        the workers from there; their answer is finished where it arrives, or, a teaser to follow (or a failed
        page to assemble), in a pool thread again."""
        item: Future = Future()
        if cand.item is not None:
            item.set_result(cand.item)
            return item
        source, seen_at = self.sources[cand.source.url], cand.fallback_date or self.now

        def finish(fetched, answer: Item | Extraction) -> None:
            item.set_result(_titled(finish_item(self.ctx, source, cand.entry, seen_at, fetched, answer)))

        def on_answer(fetched, answered: Future) -> None:  # in the thread the workers' answer arrived in
            answer = answered.result()
            if isinstance(answer, Extraction):  # waits for the network and the workers: not in this thread
                pool.submit(finish, fetched, answer).add_done_callback(_guarded(Future.result, item))
            else:
                finish(fetched, answer)

        def on_fetched(done: Future) -> None:  # in the pool thread that fetched the page
            fetched = done.result()
            extract_later(self.ctx, source, cand.entry, seen_at, fetched).add_done_callback(
                _guarded(lambda answered: on_answer(fetched, answered), item))

        pool.submit(fetch_page, self.ctx, cand.entry).add_done_callback(_guarded(on_fetched, item))
        return item

    def _collect(self) -> None:
        head = self.in_flight.popleft()
        if isinstance(head, Unit):
            self._save()
            self._mark_done(head)
            return
        cand, future = head
        try:
            item = future.result()
        except Exception as exc:  # noqa: BLE001 - one broken page never ends a backfill of thousands
            self.tally.failed += 1
            self.tally.seen += 1
            self.ctx.log.error("backfill item", link=cand.link, error=f"{type(exc).__name__}: {exc}")
            return
        self.pending.append((self.sources[cand.source.url], item))
        if len(self.pending) >= self.options.batch_size:
            self._save()

    def _save(self) -> None:
        """One transaction for the pending items (grouped by source), then their QR codes."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        saved: list[tuple[int, str, str]] = []
        if self.options.dry_run:
            self.tally.stored += len(batch)
            self.tally.failed += sum(1 for _, item in batch if item.failure)
            self.tally.promotional += sum(1 for _, item in batch if item.promo and item.promo.label == "promotional")
            for source, item in batch:
                self.reporter.item(item, source)
        else:  # failed and promotional count the items stored: a duplicate found here is neither
            with self.ctx.sessions.begin() as s:
                for source, group in itertools.groupby(batch, key=lambda pair: pair[0]):
                    result = save_items(self.ctx, s, source.id, [item for _, item in group], self.now)
                    self.tally.stored += result.new
                    self.tally.duplicates += result.duplicate
                    self.tally.failed += result.failed
                    self.tally.promotional += result.promotional
                    saved += result.saved
            self._qrcodes(saved)
        self.tally.seen += len(batch)
        self.reporter.update(self.tally)

    def _qrcodes(self, saved: list[tuple[int, str, str]]) -> None:
        """The batch's QR codes, drawn in one job in the extraction pool when there is one, after the batch's
        commit (waiting for the job in the transaction cost ~9% of the backfill's throughput: it queues behind
        the pages in flight). A kill before they are drawn leaves stored items without their images: the next
        run of the same request draws them first (_redraw_qrcodes)."""
        directory = self.ctx.settings.output.qrcode_dir
        if self.offload is None or not directory or not saved:
            write_qrcodes(self.ctx, saved)
            return
        self.qr_jobs.append(self.offload.submit(write_qrcode_batch, Path(directory), [(u, l) for _, u, l in saved]))
        self._wait_qrcodes(4)

    def _wait_qrcodes(self, keep: int) -> None:
        """Wait for QR code jobs (a batch each) until at most `keep` are pending; failures are logged."""
        while self.qr_jobs and (len(self.qr_jobs) > keep or self.qr_jobs[0].done()):
            job = self.qr_jobs.popleft()
            for error in [str(job.exception())] if job.exception() is not None else job.result():
                self.ctx.log.warning("backfill qrcode", error=error)

    def _retry_pages(self, pool: ThreadPoolExecutor) -> None:
        """Try once more the pages of this request's sources that failed transiently in an earlier run (a
        timeout, a 503, a host's Retry-After), as each poll does for its source: an archive source (a sitemap, a
        URL list) is never polled, and a rerun finds those items stored, so they kept no body for good. Those
        stored or tried in this run are left to the next one; at most [poll] max_article_attempts tries each."""
        if self.options.dry_run or self.run_id is None:
            return
        attempts = self.ctx.settings.poll.max_article_attempts
        for source in self._request_sources():
            after = 0
            while True:
                with self.ctx.sessions.begin() as s:
                    pending = repository.pages_to_retry(s, source.id, attempts, CHUNK, after=after, before=self.now)
                if not pending:
                    break
                after = pending[-1][0]
                items = list(pool.map(lambda entry, src=source: self._retried(src, entry), [e for _, e in pending]))
                with self.ctx.sessions.begin() as s:
                    moved = [repository.update_page(s, article_id, item, now=self.now,
                                                    **page_stand_ins(entry, item, self.now))
                             for (article_id, entry), item in zip(pending, items) if item is not None]
                    write_qrcodes(self.ctx, [link for link in moved if link])
                self.tally.retried += len(pending)
                self.tally.recovered += sum(1 for item in items if item is not None and item.failure is None)
                self.reporter.update(self.tally)

    def _retried(self, source: SourceState, entry: FeedEntry) -> Item | None:
        """In a pool thread: the item of a page tried again; None when it broke (logged, as in _collect)."""
        try:
            return build_item(self.ctx, source, entry, self.now)
        except Exception as exc:  # noqa: BLE001 - one broken page never ends a backfill
            self.ctx.log.error("backfill retry", link=entry.link, error=f"{type(exc).__name__}: {exc}")
            return None

    def _request_sources(self) -> list[SourceState]:
        """The stored sources of the request's feeds, sitemaps and URL lists (the inputs whose pages are fetched),
        looked up whether or not this run read them (a rerun of a finished request reads nothing)."""
        urls = [_location(feed) for feed in self.request.feeds] + [_location(m) for m in self.request.sitemaps] \
            + [Path(p).resolve().as_uri() for p in self.request.url_lists]
        with self.ctx.sessions.begin() as s:
            found = [repository.find_source(s, url) for url in dict.fromkeys(urls)]
        return [source.state for source in found if source is not None]

    def _mark_done(self, unit: Unit) -> None:
        self.tally.units += 1
        if self.run_id is None:
            return
        with self.ctx.sessions.begin() as s:
            repository.mark_unit_done(s, self.run_id, unit.name, unit.detail, self.ctx.clock())

    # --- helpers ---

    def _done(self, unit: str) -> str | None:
        if self.run_id is None:
            return None
        with self.ctx.sessions.begin() as s:
            return repository.unit_done(s, self.run_id, unit)

    def _source(self, spec: SourceSpec) -> SourceState:
        """The stored source for a spec (created on first use; looked up only, in a dry run)."""
        if spec.url not in self.sources:
            self.sources[spec.url] = self._resolve(spec)
        return self.sources[spec.url]

    def _resolve(self, spec: SourceSpec) -> SourceState:
        if self.ctx.sessions is None:  # a dry run without a database: every source is new
            return SourceState(id=0, url=spec.url, name=spec.name)
        with self.ctx.sessions.begin() as s:
            found = (repository.source_named(s, spec.name) if spec.by_name else None) \
                or repository.find_source(s, spec.url)
            if found is None and not self.options.dry_run:
                found, _created = repository.add_source(s, spec.url, spec.name, self.now, status=spec.status)
        return found.state if found else SourceState(id=0, url=spec.url, name=spec.name)

    def _read(self, location: str, accept: str, limit: int) -> Response:
        """A feed page or sitemap of at most `limit` bytes, with what parsing it needs as in polling: the URL
        after redirects (relative links resolve against it) and the headers (a charset given only in
        Content-Type)."""
        if location.startswith("file:"):
            content = read_file(Path(unquote(urlsplit(location).path)), limit)
            return Response(location, location, 200, content, {"content-type": LOCAL_CONTENT_TYPE})
        return self.ctx.fetcher.get(location, accept=accept, page=False, max_bytes=limit)

    def _error(self, what: str, where: str, exc: object) -> None:
        self.tally.errors += 1
        self.ctx.log.warning("backfill error", what=what, where=where, error=str(exc))


def _guarded(step: Callable[[Future], None], item: Future) -> Callable[[Future], None]:
    """A done-callback that hands any exception (of the future it is given, or its own) to `item`: an exception
    raised in a callback is only logged by concurrent.futures, and `item` would never be done."""
    def callback(done: Future) -> None:
        try:
            step(done)
        except BaseException as exc:  # noqa: BLE001 - the page's failure, counted where `item` is collected
            if not item.done():
                item.set_exception(exc)
    return callback


def _titled(item: Item) -> Item:
    """A URL from a sitemap or a list gives no entry title: the entry takes the page's (as HTML). A page that
    failed leaves it untitled, so that a retry knows to take the page's."""
    if item.entry.title or item.failure is not None:
        return item
    return replace(item, entry=replace(item.entry, title=html.escape(item.title, quote=False)))


def read_file(path: Path, limit: int = 100_000_000) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise SourceError(f"read {path}: larger than {limit} bytes")
    return data


def _location(ref: str) -> str:
    """A URL stays a URL (with its scheme in lowercase: HTTPS://x/feed is no file named "HTTPS:"); a local
    path becomes an absolute file:// URL."""
    if ref.lower().startswith(("http://", "https://", "file:")):
        return lower_scheme(ref)
    return Path(ref).resolve().as_uri()


def _may_follow(parent: str, link: str) -> bool:
    """http(s) links always (the fetcher's guard checks where they go); file: links only from a local file,
    so a remote feed or sitemap can never make presswire read local files."""
    scheme = urlsplit(link).scheme
    return scheme in ("http", "https") or (scheme == "file" and urlsplit(parent).scheme == "file")


def _parse_base(url: str) -> str:
    """feedparser resolves relative links against file:///x as file://x (a slash lost); file://localhost/x works."""
    return "file://localhost/" + url.removeprefix("file:///") if url.startswith("file:///") else url


def _file_url(url: str) -> str:
    """file://localhost/x (how _parse_base's links come back) as file:///x, so a page is queued once."""
    return "file:///" + url.removeprefix("file://localhost/") if url.startswith("file://localhost/") else url


def _host_or_name(ref: str) -> str:
    parts = urlsplit(ref)
    return parts.hostname or Path(parts.path or ref).name


def _past_the_last_page(url: str, exc: object) -> bool:
    """WordPress answers 404 (or 410) for a ?paged=N beyond the last page: the normal end, not an error."""
    return wordpress_page_number(url) > 1 and getattr(exc, "status", None) in (404, 410)


def _chunks(items: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
