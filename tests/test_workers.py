"""The extraction process pool: same results as in-thread extraction, workers recycled, crashes survived."""

from __future__ import annotations

import os

from conftest import IBN_SITE
from ingest.extract import extract_page
from ingest.settings import ExtractSettings
from ingest.workers import Extractor

PAGE = (IBN_SITE / "bdc/helio-grid-systems-announces-storage-contract/index.html").read_bytes()
URL = "https://wire.example/helio"


def _pid(_content: bytes, _url: str) -> int:
    return os.getpid()


def test_pool_gives_the_same_extraction_as_inline():
    pool = Extractor(ExtractSettings(processes=2, recycle_after=50))
    try:
        assert pool(PAGE, URL) == extract_page(PAGE, URL)
    finally:
        pool.close()


def test_workers_are_recycled_after_n_documents():
    pool = Extractor(ExtractSettings(processes=1, recycle_after=2))
    try:
        pids = [pool._executor().submit(_pid, b"", "").result() for _ in range(6)]
    finally:
        pool.close()
    assert len(set(pids)) == 3, pids  # a fresh process every 2 documents


def test_inline_mode_uses_no_process():
    inline = Extractor(ExtractSettings(processes=0))
    assert inline(PAGE, URL).ok and inline._pool is None


def test_poll_through_the_process_pool(tmp_path, sqlite_url, server):
    import json

    from conftest import Presswire, write_config
    config = write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/bdc/feed.xml"), "IBN")])
    config.write_text(config.read_text().replace("processes = 0", "processes = 2"))
    pw = Presswire(config)
    assert "4 new items" in pw("poll").stderr
    items = [json.loads(x) for x in pw("items", "list", "--json").stdout.splitlines()]
    assert sorted(i["method"] for i in items) == ["fast", "fast", "feed", "feed"]
