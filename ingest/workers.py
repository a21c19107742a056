"""Extraction off the polling threads: a pool of worker processes, recycled after N documents.

trafilatura is CPU-bound and holds the GIL, so article pages are extracted in worker processes; each
worker is replaced after `recycle_after` documents, which keeps a long-running service flat in memory
(lxml and trafilatura caches grow with every page they see). `processes = 0` extracts in the calling
thread instead (handy for debugging and for short CLI runs).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ingest.extract import extract_page
from ingest.model import ExtractRules, Extraction
from ingest.settings import ExtractSettings


class Extractor:
    """`extractor(content, url, rules) -> Extraction`, inline or in the process pool; safe to call from threads."""

    def __init__(self, settings: ExtractSettings):
        self.processes = settings.processes if settings.processes >= 0 else (os.cpu_count() or 1)
        self._recycle_after = settings.recycle_after
        self._limits = {"min_chars": settings.min_chars, "teaser_chars": settings.teaser_chars}
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # threads calling at once must not each start a pool

    def __call__(self, content: bytes | str, url: str, rules: ExtractRules | None = None) -> Extraction:
        args = (content, url, rules or ExtractRules())
        if self.processes == 0:
            return extract_page(*args, **self._limits)
        try:
            return self._executor().submit(extract_page, *args, **self._limits).result()
        except BrokenProcessPool as exc:  # a worker died (OOM killer, a crash in lxml): start a new pool
            self._pool = None
            return Extraction(failure=f"extract {url}: extraction worker died ({exc})")

    def submit(self, fn, /, *args) -> Future:
        """Run another CPU-bound job (a picklable top-level function) in the pool; inline when processes = 0.
        Backfill writes QR codes this way, off the process that fetches and saves."""
        if self.processes > 0:
            try:
                return self._executor().submit(fn, *args)
            except BrokenProcessPool:
                self._pool = None
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as the pool does
            done.set_exception(exc)
        return done

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.processes,
                                                 mp_context=multiprocessing.get_context("forkserver"),
                                                 max_tasks_per_child=self._recycle_after or None)
            return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
