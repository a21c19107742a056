"""The extraction process pool: same results as in-thread extraction, workers recycled, crashes survived."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

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


def test_workers_are_recycled_after_n_pages():
    pool = Extractor(ExtractSettings(processes=1, recycle_after=2))
    try:
        other_jobs = {pool.submit(_pid, b"", "").result() for _ in range(6)}  # not pages: no recycling
        pids = []
        for _ in range(6):
            assert pool(PAGE, URL) == extract_page(PAGE, URL)
            pids.append(pool.submit(_pid, b"", "").result())
    finally:
        pool.close()
    assert len(other_jobs) == 1 and pids[0] in other_jobs
    assert pids[0] != pids[1] == pids[2] != pids[3] == pids[4] != pids[5], pids  # a fresh process every 2 pages


def test_a_dead_worker_costs_one_page_and_the_next_page_gets_a_new_pool():
    from concurrent.futures.process import BrokenProcessPool
    pool = Extractor(ExtractSettings(processes=1, recycle_after=50))
    try:
        with pytest.raises(BrokenProcessPool):
            pool.submit(os._exit, 1).result()  # the worker dies, as under the OOM killer
        assert pool(PAGE, URL) == extract_page(PAGE, URL)
    finally:
        pool.close()


def test_ctrl_c_sent_to_the_process_group_is_not_the_workers_to_take():
    """A terminal's Ctrl-C reaches every process of the group; a worker must finish its page, not raise
    KeyboardInterrupt into the poll waiting for it."""
    import signal
    import threading
    import time
    pool = Extractor(ExtractSettings(processes=1, recycle_after=50))
    try:
        pid = pool.submit(os.getpid).result()
        job = pool.submit(time.sleep, 1.0)
        threading.Timer(0.3, os.kill, (pid, signal.SIGINT)).start()
        try:
            assert job.result(timeout=30) is None
        except KeyboardInterrupt:  # (not let through: it would end the test run)
            pytest.fail("the worker raised KeyboardInterrupt into the page's future")
        assert pool.submit(os.getpid).result() == pid  # the same worker, alive
    finally:
        pool.close()


def test_kill_leaves_no_worker_behind():
    pool = Extractor(ExtractSettings(processes=2, recycle_after=50))
    try:
        pids = {pool.submit(os.getpid).result() for _ in range(4)}
        pool.kill()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in pids)
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (the pool's manager thread reaps it, at its pace)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_inline_mode_uses_no_process():
    inline = Extractor(ExtractSettings(processes=0))
    assert inline(PAGE, URL).ok and inline._pool is None


def test_poll_through_the_process_pool_stores_what_an_inline_poll_stores(tmp_path, server):
    """Extraction, normalization, classification and fingerprints run in the worker processes; the stored
    items are exactly those of a poll that does all of it in its own thread."""
    import json

    from conftest import Presswire, write_config

    def poll(processes: int, name: str) -> list[dict]:
        (tmp_path / name).mkdir()
        config = write_config(tmp_path / name / "c.toml", f"sqlite:///{tmp_path / name / 'p.db'}",
                              [(server.url("/bdc/feed.xml"), "IBN")])
        config.write_text(config.read_text().replace("processes = 0", f"processes = {processes}"))
        pw = Presswire(config)
        assert "4 new items" in pw("poll").stderr
        rows = [json.loads(x) for x in pw("items", "list", "--json").stdout.splitlines()]
        shown = [pw("items", "show", str(r["article_id"])).stdout for r in rows]
        return [{k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in rows], shown

    pooled, inline = poll(2, "pool"), poll(0, "inline")
    assert sorted(i["method"] for i in pooled[0]) == ["container", "container", "feed", "feed"]
    assert pooled == inline
    assert any('label = "promotional"' in doc for doc in pooled[1])  # classified in the workers too


BACKLOG = r"""
import multiprocessing, os, sys, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, sys.argv[1])
from ingest.extract import extract_page
from ingest.settings import ExtractSettings
from ingest.workers import Extractor

page = open(sys.argv[2], "rb").read()
pool = Extractor(ExtractSettings(processes=2, recycle_after=3))
with ThreadPoolExecutor(8) as threads:  # as backfill and polling call it: many pages at once, a backlog
    done = list(threads.map(lambda _: (pool(page, "https://wire.example/helio"), pool.submit(os.getpid).result()),
                            range(30)))
results, pids = [r for r, _ in done], [p for _, p in done]
assert all(r == extract_page(page, "https://wire.example/helio") for r in results)
deadline = time.monotonic() + 20
while len(multiprocessing.active_children()) > 2 and time.monotonic() < deadline:
    time.sleep(0.1)  # replaced workers finish what they were given, then exit
print(pool.generations, len(set(pids)), len(multiprocessing.active_children()))
pool.close()
"""


def test_a_backlog_is_never_stranded_while_workers_are_recycled():
    """Pages queued faster than the workers take them all complete while workers are replaced, and replaced
    workers exit. (ProcessPoolExecutor's own max_tasks_per_child deadlocks on a backlog in Python 3.11-3.14:
    cpython gh-115634; this runs in a subprocess so that a hang fails the test instead of the suite.)"""
    import subprocess
    import sys

    from conftest import ROOT
    page = IBN_SITE / "bdc/helio-grid-systems-announces-storage-contract/index.html"
    proc = subprocess.run([sys.executable, "-c", BACKLOG, str(ROOT), str(page)], capture_output=True, text=True,
                          timeout=90)
    assert proc.returncode == 0, proc.stderr
    generations, distinct_pids, alive = map(int, proc.stdout.split())
    # 30 pages, 6 to a pool: 5 pools or more (a job after the 30th page starts a sixth), old workers gone. Which
    # pools the getpid jobs reach depends on timing (the first pool may get only pages), so only "more than one"
    assert generations >= 5 and distinct_pids >= 2 and alive <= 2, proc.stdout


@pytest.mark.parametrize("entry, cli_in_worker", [("ingest.__main__", False), ("ingest.cli", True)])
def test_workers_do_not_import_the_cli(tmp_path, entry, cli_in_worker):
    """multiprocessing runs the main module again in each worker: the `presswire` script imports
    ingest.__main__, which imports nothing, so a worker does not load the CLI (the control: a script
    importing ingest.cli at the top, as the script once did, does). Neither loads SQLAlchemy: the CLI
    imports each command's modules when the command runs."""
    import subprocess
    import sys
    from conftest import ROOT
    (tmp_path / "probe.py").write_text("import sys\n\ndef loaded(name):\n    return name in sys.modules\n")
    (tmp_path / "script.py").write_text(
        f"from {entry} import main  # noqa: F401 - as the console script does\n"
        "if __name__ == '__main__':\n"
        "    from ingest.settings import ExtractSettings\n"
        "    from ingest.workers import Extractor\n"
        "    from probe import loaded\n"
        "    pool = Extractor(ExtractSettings(processes=1))\n"
        "    print(pool.submit(loaded, 'ingest.cli').result(), pool.submit(loaded, 'sqlalchemy').result())\n"
        "    pool.close()\n")
    done = subprocess.run([sys.executable, str(tmp_path / "script.py")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(cli_in_worker), "False"]


def test_a_worker_dying_under_a_page_item_gives_a_failed_extraction_and_the_next_page_a_new_pool():
    import time
    from datetime import datetime, timezone

    from ingest.model import Extraction, FeedEntry, Item
    entry, now = FeedEntry(guid=None, link=URL, title=""), datetime.now(timezone.utc)
    pool = Extractor(ExtractSettings(processes=1, recycle_after=50))
    try:
        pool.submit(time.sleep, 0.3)  # the one worker is busy; the next two jobs queue behind it
        pool.submit(os._exit, 1)  # then it dies, as under the OOM killer, before it takes the page
        got = pool.page_item(entry, PAGE, URL, follow=True, source_name="IBN", seen_at=now)
        assert isinstance(got, Extraction) and "extraction worker died" in got.failure
        got = pool.page_item(entry, PAGE, URL, follow=True, source_name="IBN", seen_at=now)
        assert isinstance(got, Item) and got.failure is None and got.body_text
    finally:
        pool.close()


def test_start_brings_the_workers_up_before_the_first_page_in_the_background():
    pool = Extractor(ExtractSettings(processes=2))
    try:
        pool.start()
        pool._starter.join(timeout=60)
        assert len(pool._pool._processes) == 2  # both workers forked, no page given yet
        assert pool(PAGE, URL).text
    finally:
        pool.close()


def test_close_right_after_start_leaves_no_pool_behind():
    """close() waits for a start still in progress, so the pool it was starting is shut down too."""
    pool = Extractor(ExtractSettings(processes=1))
    pool.start()
    pool.close()
    pool._starter.join(timeout=60)
    assert pool._pool is None


def test_the_process_handing_out_pages_does_not_import_what_the_workers_run(tmp_path):
    """trafilatura, htmldate and numpy are imported by the forkserver, once, for the workers; the process
    that fetches, hands out pages and saves (the CLI's modules for polling and backfill) never loads them,
    while its workers have them loaded before their first page (the control: they are the same names), and
    tld's public-suffix list read (ingest.preload)."""
    import subprocess
    import sys
    from conftest import ROOT
    heavy = ["trafilatura", "htmldate", "numpy"]
    page = IBN_SITE / "bdc/helio-grid-systems-announces-storage-contract/index.html"
    (tmp_path / "probe.py").write_text("import sys\n\n\ndef loaded(names):\n"
                                       "    return [n in sys.modules for n in names]\n\n\n"
                                       "def suffixes_read():\n"
                                       "    from tld.utils import tld_names\n"
                                       "    return bool(tld_names)\n")
    (tmp_path / "script.py").write_text(
        "import ingest.__main__  # noqa: F401 - as the console script does\n"
        "if __name__ == '__main__':\n"
        "    from datetime import datetime, timezone\n"
        "    from pathlib import Path\n"
        "    import ingest.backfill, ingest.pipeline, ingest.extract, ingest.dedup, ingest.pagemeta  # noqa\n"
        "    from ingest.assemble import Assembly\n"
        "    from ingest.model import FeedEntry, Item\n"
        "    from ingest.pipeline import deduplicator\n"
        "    from ingest.settings import DedupSettings, ExtractSettings\n"
        "    from ingest.workers import Extractor, warm_up\n"
        "    from probe import loaded, suffixes_read\n"
        f"    heavy, page, url = {heavy!r}, Path({str(page)!r}).read_bytes(), {URL!r}\n"
        "    settings = ExtractSettings(processes=1)\n"
        "    warm_up(settings)\n"
        "    pool = Extractor(settings, Assembly(dedup=deduplicator(DedupSettings())))\n"
        "    in_worker, read = pool.submit(loaded, heavy).result(), pool.submit(suffixes_read).result()\n"
        "    item = pool.page_item(FeedEntry(guid=None, link=url, title=''), page, url, follow=False,\n"
        "                          source_name='IBN', seen_at=datetime.now(timezone.utc))\n"
        "    pool.close()\n"
        "    stored = isinstance(item, Item) and bool(item.body_text) and bool(item.fingerprint.band_keys)\n"
        "    print(loaded(heavy), in_worker, read, stored)\n")
    done = subprocess.run([sys.executable, str(tmp_path / "script.py")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("] ") == ["[False, False, False", "[True, True, True", "True True\n"]


@pytest.mark.parametrize("processes, started", [(1, True), (0, False)])
def test_warm_up_starts_the_forkserver_only_when_there_will_be_workers(processes, started):
    import subprocess
    import sys
    from conftest import ROOT
    # The child exists once warm_up returns but may not have exec'd yet (multiprocessing does not wait for
    # that): until it has, its cmdline is this script's, or empty while it execs.
    script = textwrap.dedent(f"""
        import os, time
        from ingest.settings import ExtractSettings
        from ingest.workers import warm_up
        warm_up(ExtractSettings(processes={processes}))
        children = open(f'/proc/{{os.getpid()}}/task/{{os.getpid()}}/children').read().split()
        unset = (open('/proc/self/cmdline', 'rb').read(), b'')

        def cmdline(pid):
            deadline = time.monotonic() + 30
            while (line := open(f'/proc/{{pid}}/cmdline', 'rb').read()) in unset and time.monotonic() < deadline:
                time.sleep(0.01)
            return line

        print(any(b'multiprocessing.forkserver' in cmdline(c) for c in children))
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(started)


def test_generations_of_workers_leave_no_descriptor_thread_or_process_behind():
    """A service replaces its pool every processes * recycle_after pages, for as long as it runs: after ten
    more generations this process has the descriptors, threads and child processes it had after the first."""
    import threading

    def held() -> tuple[int, int, int]:
        children = sum(len((task / "children").read_text().split()) for task in Path("/proc/self/task").iterdir())
        return len(os.listdir("/proc/self/fd")), threading.active_count(), children

    pool = Extractor(ExtractSettings(processes=1, recycle_after=1))
    try:
        assert pool(PAGE, URL) == extract_page(PAGE, URL)
        first = held()
        for _ in range(10):
            assert pool(PAGE, URL) == extract_page(PAGE, URL)
        assert pool.generations == 11
        assert held() == first
    finally:
        pool.close()


def _entries(n: int):
    from datetime import datetime, timezone

    from ingest.model import FeedEntry
    now = datetime(2025, 5, 15, tzinfo=timezone.utc)
    return [(FeedEntry(guid=None, link=f"{URL}/{i}", title=""), f"{URL}/{i}") for i in range(n)], now


def test_pages_handed_over_together_go_to_the_workers_in_batches_and_each_gets_its_own_item():
    """Two batches per worker go out at once; the pages handed over while they are out wait and leave
    together (ingest.workers._Batches). Each future gets its own page's item, as page_item inline gives it."""
    from ingest.assemble import Assembly, page_item
    from ingest.model import ExtractRules
    from ingest.pipeline import deduplicator
    from ingest.promo import load_rules
    from ingest.settings import DedupSettings

    assembly = Assembly(rules=load_rules(None), dedup=deduplicator(DedupSettings()))
    jobs, now = _entries(13)
    pool = Extractor(ExtractSettings(processes=1), assembly)
    try:
        (first_entry, first_url), jobs = jobs[0], jobs[1:]
        first = pool.page_item(first_entry, PAGE, first_url, follow=False, source_name="IBN", seen_at=now)
        assert pool._batches.sent == 1  # a page handed over alone leaves alone, at once
        futures = [pool.page_item_later(entry, PAGE, url, follow=False, source_name="IBN", seen_at=now)
                   for entry, url in jobs]
        items = [future.result(timeout=60) for future in futures]
        assert first.entry.link == first_url
        assert [item.entry.link for item in items] == [url for _, url in jobs]
        limits = {"min_chars": ExtractSettings().min_chars, "teaser_chars": ExtractSettings().teaser_chars}
        assert items == [page_item(assembly, entry, PAGE, url, ExtractRules(), follow=False, limits=limits,
                                   source_name="IBN", seen_at=now) for entry, url in jobs]
        # the twelve: those the sender took while fewer than two batches were out, then the rest together
        assert 2 <= pool._batches.sent <= 4
        pool.close()  # a page after close starts a new pool, as before
        assert pool.page_item(jobs[0][0], PAGE, jobs[0][1], follow=False, source_name="IBN", seen_at=now) == items[0]
    finally:
        pool.close()


def test_a_page_that_fails_in_a_batch_fails_alone():
    """An exception in one page of a batch is that page's, raised through its own future; the others get their
    items (ingest.workers._page_items_in_worker, run here as a worker runs it)."""
    from ingest import workers
    from ingest.assemble import Assembly
    from ingest.model import ExtractRules, Item

    (good, url), now = _entries(1)[0][0], _entries(1)[1]
    kwargs = {"follow": False, "limits": {"min_chars": 200, "teaser_chars": 600}, "source_name": "IBN",
              "seen_at": now}
    saved, workers._worker_assembly = workers._worker_assembly, Assembly()
    try:
        done = workers._page_items_in_worker([(good, PAGE, url, ExtractRules(), kwargs),
                                              (None, PAGE, url, ExtractRules(), kwargs),  # no entry
                                              (good, PAGE, url, ExtractRules(), kwargs)])
    finally:
        workers._worker_assembly = saved
    assert [ok for ok, _ in done] == [True, False, True]
    assert isinstance(done[0][1], Item) and done[0][1] == done[2][1]
    assert isinstance(done[1][1], AttributeError)


def test_an_exception_that_cannot_be_pickled_comes_back_as_one_that_says_the_same():
    from ingest.workers import _picklable
    plain = ValueError("bad page")
    assert _picklable(plain) is plain
    odd = ValueError(lambda: 0)  # a lambda does not pickle: the whole batch's answer would fail
    back = _picklable(odd)
    assert isinstance(back, RuntimeError) and str(back).startswith("ValueError: <function")
