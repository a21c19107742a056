"""Extraction off the polling threads: a pool of worker processes, recycled after N documents.

trafilatura is CPU-bound and holds the GIL, so article pages are extracted in worker processes; the
workers are replaced after `recycle_after` documents each (on average), which keeps a long-running service
flat in memory (lxml and trafilatura caches grow with every page they see). `processes = 0` extracts in
the calling thread instead (handy for debugging and for short CLI runs).

Recycling is by generation: after `processes * recycle_after` documents, the pool is shut down (its
workers finish the few pages they were given, then exit) and new documents go to a fresh pool. Not
ProcessPoolExecutor's `max_tasks_per_child`: in Python 3.11-3.14 it stops replacing workers when pages
queue up faster than they are taken (cpython gh-115634), which hung backfill and the service for good.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import TYPE_CHECKING

from ingest.model import ExtractRules, Extraction, FeedEntry, Item
from ingest.settings import ExtractSettings

if TYPE_CHECKING:
    from ingest.assemble import Assembly

# The modules the workers run, imported once by the forkserver (trafilatura, lxml, numpy and ours; and
# ingest.preload, which reads what each worker would read on its first page), not by this module: a
# process that only hands pages to the workers need not import them (~0.2 s).
WORKER_MODULES = ["trafilatura", "ingest.minhash", "ingest.extract", "ingest.assemble", "ingest.preload"]

# A worker process's own copy of the rules and the dedup policy, set once when it starts (_start_worker).
# Module state, but only ever written in a worker process, which serves one Extractor.
_worker_assembly: Assembly | None = None


def _start_worker(assembly: Assembly) -> None:
    """A worker's start: its copy of the rules and dedup policy. Ctrl-C is the parent's: a terminal sends SIGINT
    to the whole process group, and a KeyboardInterrupt raised in the page being extracted would come back
    through its future into the poll, which would end without recording or releasing its source."""
    global _worker_assembly
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_assembly = assembly


def _assemble_in_worker(entry: FeedEntry, page: Extraction, kwargs: dict) -> Item:
    from ingest.assemble import assemble
    return assemble(_worker_assembly, entry, page, **kwargs)


def _page_item_in_worker(entry: FeedEntry, content: bytes | str, url: str, rules: ExtractRules, kwargs: dict
                         ) -> Item | Extraction:
    from ingest.assemble import page_item
    return page_item(_worker_assembly, entry, content, url, rules, **kwargs)


def _extract_in_worker(content: bytes | str, url: str, rules: ExtractRules, limits: dict) -> Extraction:
    from ingest.extract import extract_page
    return extract_page(content, url, rules, **limits)


def _forkserver() -> multiprocessing.context.BaseContext:
    """Workers are forked from a server process that has trafilatura and lxml imported already, so a
    recycled worker starts in milliseconds instead of importing them again (~0.3 s of CPU each). (The
    main module, which multiprocessing runs again in each worker, is ingest/__main__.py: it imports nothing.)"""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)  # read once, at its start
    return context


def warm_up(settings: ExtractSettings) -> None:
    """Start the forkserver now, when there will be workers: it imports WORKER_MODULES (~0.5 s) on the
    other core while the caller goes on with its own imports, so the first workers fork from a ready
    server. Returns at once (the server starts in the background); nothing when processes = 0."""
    if _processes(settings) > 0:
        _forkserver()
        multiprocessing.forkserver.ensure_running()


def _processes(settings: ExtractSettings) -> int:
    return settings.processes if settings.processes >= 0 else (os.cpu_count() or 1)


class Extractor:
    """`extractor(content, url, rules) -> Extraction`, `extractor.assemble(entry, page, ...) -> Item` and
    `extractor.page_item(entry, content, url, rules, ...)` (both in one trip), inline or in the process
    pool; safe to call from threads. `assembly` is what `assemble` classifies and fingerprints with
    (ingest.assemble)."""

    def __init__(self, settings: ExtractSettings, assembly: Assembly | None = None):
        from ingest.assemble import Assembly
        self.assembly = assembly or Assembly()
        self.processes = _processes(settings)
        self._recycle_after = settings.recycle_after
        self._limits = {"min_chars": settings.min_chars, "teaser_chars": settings.teaser_chars}
        self._pool: ProcessPoolExecutor | None = None
        self._given = 0  # documents handed to the current pool
        self.generations = 0  # pools started so far: one per generation of workers
        self._lock = threading.Lock()  # threads calling at once must not each start a pool
        self._starter: threading.Thread | None = None

    def start(self) -> None:
        """Start the workers now, in the background, rather than at the first page: starting them waits
        for the forkserver to import trafilatura & co (~0.7 s), which it does on the other core while the
        caller goes on with its own start-up. Nothing when processes = 0."""
        if self.processes > 0 and self._starter is None:
            self._starter = threading.Thread(target=self._start_workers, name="presswire-workers-start", daemon=True)
            self._starter.start()

    def _start_workers(self) -> None:
        for _ in range(self.processes):  # the pool starts a worker per job until it has them all
            self._submit(os.getpid)

    def __call__(self, content: bytes | str, url: str, rules: ExtractRules | None = None) -> Extraction:
        args = (content, url, rules or ExtractRules())
        if self.processes == 0:
            from ingest.extract import extract_page
            return extract_page(*args, **self._limits)
        try:
            return self._submit(_extract_in_worker, *args, self._limits, page=True).result()
        except BrokenProcessPool as exc:  # a worker died (OOM killer, a crash in lxml); the next call starts a new pool
            return Extraction(failure=f"extract {url}: extraction worker died ({exc})")

    def assemble(self, entry: FeedEntry, page: Extraction, **kwargs) -> Item:
        """ingest.assemble.assemble with this extractor's rules and dedup policy, in a worker process; in
        this thread when there is no pool (processes = 0) or a worker died on it (the item is not lost)."""
        if self.processes > 0:
            try:
                return self._submit(_assemble_in_worker, entry, page, kwargs).result()
            except BrokenProcessPool:
                pass
        from ingest.assemble import assemble
        return assemble(self.assembly, entry, page, **kwargs)

    def page_item(self, entry: FeedEntry, content: bytes | str, url: str, rules: ExtractRules | None = None, *,
                  follow: bool, source_name: str, seen_at: datetime) -> Item | Extraction:
        """ingest.assemble.page_item: the page's item, or (a teaser to follow, or a worker that died on
        it: a failed Extraction) the page's Extraction."""
        rules = rules or ExtractRules()
        kwargs = dict(follow=follow, limits=self._limits, source_name=source_name, seen_at=seen_at)
        if self.processes == 0:
            from ingest.assemble import page_item
            return page_item(self.assembly, entry, content, url, rules, **kwargs)
        try:
            return self._submit(_page_item_in_worker, entry, content, url, rules, kwargs, page=True).result()
        except BrokenProcessPool as exc:
            return Extraction(failure=f"extract {url}: extraction worker died ({exc})")

    def submit(self, fn, /, *args) -> Future:
        """Run another CPU-bound job (a picklable top-level function) in the pool; inline when processes = 0.
        Backfill writes QR codes this way, off the process that fetches and saves."""
        if self.processes > 0:
            return self._submit(fn, *args)
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as the pool does
            done.set_exception(exc)
        return done

    def _submit(self, fn, /, *args, page: bool = False) -> Future:
        """Submit to the current pool, or to a fresh one when it has extracted its share of pages (the
        jobs that grow a worker's memory; assembling an item or drawing a QR code does not count) or is
        broken. Under the lock, so that no thread submits to a pool another thread has just shut down."""
        with self._lock:
            if self._pool is None or (self._recycle_after and self._given >= self._recycle_after * self.processes):
                self._new_pool()
            self._given += page
            try:
                return self._pool.submit(fn, *args)
            except BrokenProcessPool:  # a worker of this pool died earlier
                self._new_pool()
                return self._pool.submit(fn, *args)

    def _new_pool(self) -> None:
        if self._pool is not None:  # its workers finish what they were given (a few pages), then exit; waiting
            self._pool.shutdown(wait=True)  # for that keeps two generations of workers from being alive at once
        self._pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=_forkserver(),
                                         initializer=_start_worker, initargs=(self.assembly,))
        self._given = 0
        self.generations += 1

    def kill(self) -> None:
        """Kill the workers now, for a process that leaves without waiting for them (the service past its
        shutdown grace, ingest.schedule): an idle worker waits on its call queue forever, and with it the
        forkserver, holding the service's stdout and stderr open. (ProcessPoolExecutor has no public way
        before Python 3.14's kill_workers.)"""
        processes = dict(getattr(self._pool, "_processes", None) or {})  # no lock: a thread may hold it for long
        for process in processes.values():
            process.kill()

    def close(self) -> None:
        if self._starter is not None:  # else it could start a pool after this one is closed
            self._starter.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
