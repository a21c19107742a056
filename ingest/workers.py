"""Extraction off the polling threads: a pool of worker processes, recycled after N documents.

trafilatura is CPU-bound and holds the GIL, so article pages are extracted in worker processes; the
workers are replaced after `recycle_after` documents each (on average), which keeps a long-running service
flat in memory (lxml and trafilatura caches grow with every page they see). `processes = 0` extracts in
the calling thread instead (handy for debugging and for short CLI runs). Pages handed over while the
workers are busy go to them together, up to MAX_BATCH in one trip (_Batches).

Recycling is by generation: after `processes * recycle_after` documents, the pool is shut down (its
workers finish the few pages they were given, then exit) and new documents go to a fresh pool. Not
ProcessPoolExecutor's `max_tasks_per_child`: in Python 3.11-3.14 it stops replacing workers when pages
queue up faster than they are taken (cpython gh-115634), which hung backfill and the service for good.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import TYPE_CHECKING

from ingest.model import ExtractRules, Extraction, FeedEntry, Item
from ingest.settings import ExtractSettings

if TYPE_CHECKING:
    from ingest.assemble import Assembly

MAX_BATCH = 16  # page_item jobs in one trip to a worker, at most (_Batches)

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


def _page_items_in_worker(jobs: list[tuple[FeedEntry, bytes | str, str, ExtractRules, dict]]
                          ) -> list[tuple[bool, object]]:
    """A batch of page_item jobs: each one's result, or the exception it raised (which a single job would have
    raised through its future), so that one bad page fails only its own item."""
    from ingest.assemble import page_item
    done: list[tuple[bool, object]] = []
    for entry, content, url, rules, kwargs in jobs:
        try:
            done.append((True, page_item(_worker_assembly, entry, content, url, rules, **kwargs)))
        except Exception as exc:  # noqa: BLE001 - handed back to the job's caller
            done.append((False, _picklable(exc)))
    return done


def _picklable(exc: Exception) -> Exception:
    """The exception, or one that says the same if it cannot travel back (it would fail the whole batch)."""
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - any failure to pickle
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


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


def run_now(fn, /, *args, **kwargs) -> Future:
    """A future of fn's result (or exception), run now in this thread: what a pool's future gives, without a pool."""
    done: Future = Future()
    try:
        done.set_result(fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as the pool does
        done.set_exception(exc)
    return done


class _Batches:
    """page_item jobs go to the workers in batches: one trip to a worker for several pages. A trip costs both
    processes ~0.2 ms of CPU, and a worker left idle between trips comes back to cold caches: sent one page a
    trip, a page cost a worker 2.0-3.3 ms of CPU; 4 to 16 a trip, 1.6-2.6 ms (the pages of bench/backfill.py, in
    memory, on a noisy machine; issue 6's note of stop 20). A job leaves at once while fewer than two batches
    per worker are out, so a quiet service waits for nothing; under a backlog, jobs wait for the next batch to
    come back and leave together, up to MAX_BATCH of them. A thread of its own sends them: a batch's completion
    runs in the pool's management thread, which must not be the one to start a new pool."""

    def __init__(self, submit: Callable[..., Future], processes: int):
        self._submit = submit  # Extractor._submit
        self._limit = 2 * processes  # batches out at once
        self._cond = threading.Condition()
        self._waiting: list[tuple[tuple, Future]] = []
        self._out = 0
        self.sent = 0  # batches sent so far
        self._closed = False
        self._sender: threading.Thread | None = None

    def put(self, job: tuple) -> Future:
        future: Future = Future()
        with self._cond:
            self._waiting.append((job, future))
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_all, name="presswire-batches", daemon=True)
                self._sender.start()
            self._cond.notify()
        return future

    def _send_all(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not (self._waiting and self._out < self._limit):
                    self._cond.wait()
                if not self._waiting:  # closed, and nothing left to send
                    return
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                self._out += 1
                self.sent += 1
            try:
                sent = self._submit(_page_items_in_worker, [job for job, _ in batch], page=len(batch))
            except BaseException as exc:  # noqa: BLE001 - a pool that cannot start: each job's caller hears why
                self._returned(batch, exc)
                continue
            sent.add_done_callback(lambda done, batch=batch: self._returned(batch, done))

    def _returned(self, batch: list[tuple[tuple, Future]], done: Future | BaseException) -> None:
        results = None
        try:
            results = done.result() if isinstance(done, Future) else None
        except BaseException as exc:  # noqa: BLE001 - a worker died (BrokenProcessPool), the pool was closed
            done = exc
        try:
            for (job, future), (ok, value) in zip(batch, results or [(False, done)] * len(batch)):
                if isinstance(value, BrokenProcessPool):  # a worker died (the OOM killer, a crash in lxml): the
                    ok, value = True, _died(job[2], value)  # page fails, the next batch starts a new pool
                future.set_result(value) if ok else future.set_exception(value)
        finally:  # whatever happened above, the batch is back: else the sender would wait for it for ever
            with self._cond:
                self._out -= 1
                self._cond.notify()

    def close(self) -> None:
        """Send what is waiting and stop the sender (the pool, still open, takes the last batches). A job put
        after this starts a new sender, as a page given to a closed Extractor starts a new pool."""
        with self._cond:
            sender, self._sender, self._closed = self._sender, None, True
            self._cond.notify()
        if sender is not None:
            sender.join()
        with self._cond:
            self._closed = False


def _died(url: str, exc: BaseException) -> Extraction:
    return Extraction(failure=f"extract {url}: extraction worker died ({exc})")


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
        self._batches = _Batches(self._submit, self.processes)

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
            return self._submit(_extract_in_worker, *args, self._limits, page=1).result()
        except BrokenProcessPool as exc:  # a worker died (OOM killer, a crash in lxml); the next call starts a new pool
            return _died(url, exc)

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
        return self.page_item_later(entry, content, url, rules, follow=follow, source_name=source_name,
                                    seen_at=seen_at).result()

    def page_item_later(self, entry: FeedEntry, content: bytes | str, url: str, rules: ExtractRules | None = None,
                        *, follow: bool, source_name: str, seen_at: datetime) -> Future:
        """page_item's answer as a future, for a caller with other pages to hand over meanwhile (backfill): in a
        batch with the pages handed over around the same time (_Batches); done at once when processes = 0.
        Its done-callbacks run in the pool's result thread: one that waits for the pool (a teaser's read-more
        page to extract) would wait for ever, so they hand such work to a thread of their own."""
        rules = rules or ExtractRules()
        kwargs = dict(follow=follow, limits=self._limits, source_name=source_name, seen_at=seen_at)
        if self.processes > 0:
            return self._batches.put((entry, content, url, rules, kwargs))
        from ingest.assemble import page_item
        return run_now(page_item, self.assembly, entry, content, url, rules, **kwargs)

    def submit(self, fn, /, *args) -> Future:
        """Run another CPU-bound job (a picklable top-level function) in the pool; inline when processes = 0.
        Backfill writes QR codes this way, off the process that fetches and saves."""
        return self._submit(fn, *args) if self.processes > 0 else run_now(fn, *args)

    def _submit(self, fn, /, *args, page: int = 0) -> Future:
        """Submit to the current pool, or to a fresh one when it has extracted its share of pages (`page`: how
        many the job extracts; they grow a worker's memory, assembling an item or drawing a QR code does not)
        or is broken. Under the lock, so that no thread submits to a pool another thread has just shut down."""
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
        self._batches.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
