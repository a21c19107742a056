"""Scale-out on PostgreSQL: several `presswire run` processes share one database and many sources.

The feeds are served by fixtures/farm.py on 127.0.0.1, which records every request with the worker that
sent it (each worker has its own User-Agent), so the tests can check from the outside that no source was
polled by two workers at once, and from the database that every entry was stored exactly once and every
copy of a release joined its one cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from conftest import ROOT, write_config
from fixtures.farm import FeedFarm
from fixtures.pg import free_port
from store import db

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class Worker:
    """A `presswire run` process with its own User-Agent (its name at the farm); stderr to a file."""

    def __init__(self, name: str, config: Path, tmp_path: Path, **env: str):
        self.name = name
        self.log = tmp_path / f"{name}.log"
        environ = {**os.environ, **_worker_env(name), **env}
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(config), "run"],
                                         cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=err)

    @property
    def owner_suffix(self) -> str:
        return f":{self.proc.pid}"  # lease_owner is host:pid

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def errors(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _worker_env(name: str) -> dict[str, str]:
    return {"PRESSWIRE_HTTP_USER_AGENT": name, "PRESSWIRE_HTTP_PER_HOST": "16", "PRESSWIRE_HTTP_HOST_DELAY": "0",
            "PRESSWIRE_HTTP_ROBOTS_TXT": "false", "PRESSWIRE_SERVICE_METRICS_PORT": "-1",
            "PRESSWIRE_EXTRACT_FOLLOW_READ_MORE": "false", "PRESSWIRE_LOG_FORMAT": "json",
            "PRESSWIRE_POLL_CONCURRENCY": "4", "PRESSWIRE_POLL_DISPATCH_EVERY": "0.3",
            "PRESSWIRE_POLL_SHUTDOWN_GRACE": "5", "PRESSWIRE_POLL_JITTER": "0"}


@pytest.fixture
def store(postgres):
    url = postgres.new_database()
    engine = db.make_engine(url)
    db.upgrade(engine)  # as the deployment's one-shot `presswire db upgrade` does
    yield url, engine
    engine.dispose()


def _config(tmp_path: Path, url: str, farm: FeedFarm) -> Path:
    """Every worker reads the same config file, with every feed as a [[sources]] table."""
    return write_config(tmp_path / "presswire.toml", url, [(farm.feed_url(i), f"Wire {i}") for i in range(farm.feeds)])


def _wait(condition, workers: list[Worker], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for w in workers:
            assert w.proc.poll() is None, f"worker {w.name} exited {w.proc.returncode}:\n{w.errors()}"
        assert time.monotonic() < deadline, "timed out; " + " | ".join(f"{w.name}: {w.errors()[-600:]}" for w in workers)
        time.sleep(0.2)


def _scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _cluster_sizes(engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(n for (n,) in conn.execute(text("SELECT count(*) FROM items GROUP BY cluster_id")))


def _assert_stored_once(engine, farm: FeedFarm) -> None:
    stored = farm.feeds * farm.entries
    assert _scalar(engine, "SELECT count(*) FROM feed_entries") == stored
    assert _scalar(engine, "SELECT count(*) FROM items") == stored
    assert _scalar(engine, "SELECT count(DISTINCT (source_id, guid)) FROM feed_entries") == stored
    assert _cluster_sizes(engine) == farm.expected_clusters()  # copies raced by workers: one cluster each
    assert _scalar(engine, "SELECT count(*) FROM clusters c WHERE c.copies <> "
                           "(SELECT count(*) FROM items i WHERE i.cluster_id = c.id)") == 0


def test_three_workers_share_300_sources_without_polling_one_twice_at_once(tmp_path, store):
    url, engine = store
    with FeedFarm(feeds=300, entries=2, releases=30) as farm:
        config = _config(tmp_path, url, farm)
        env = {"PRESSWIRE_POLL_INTERVAL": "4s", "PRESSWIRE_POLL_LEASE": "60s"}
        workers = [Worker(f"w{n}", config, tmp_path, **env) for n in (1, 2, 3)]
        try:
            def polled_twice() -> bool:  # every page fetched, every feed polled again since (a 304)
                hits = farm.snapshot()
                pages = sum(h.kind == "page" for h in hits)
                repolled = {h.feed for h in hits if h.kind == "304"}
                return pages >= farm.feeds * farm.entries and len(repolled) == farm.feeds

            _wait(polled_twice, workers, timeout=90)
        finally:
            codes = [w.stop() for w in workers]
        assert codes == [0, 0, 0], [w.errors() for w in workers]

        assert farm.overlaps() == []
        pages = Counter((h.feed, h.entry) for h in farm.snapshot() if h.kind == "page")
        assert len(pages) == farm.feeds * farm.entries and set(pages.values()) == {1}  # each page fetched once
        by_worker = Counter(p.worker for p in farm.polls())
        assert set(by_worker) == {"w1", "w2", "w3"} and min(by_worker.values()) > farm.feeds / 10, by_worker
    _assert_stored_once(engine, farm)
    assert _scalar(engine, "SELECT count(*) FROM sources WHERE last_polled_at IS NULL OR error_count > 0") == 0


def test_a_killed_workers_sources_are_polled_by_the_others_once_its_lease_expires(tmp_path, store):
    url, engine = store
    delays = {"slow": 1.0, "w1": 0.15, "w2": 0.15}  # the others take a few seconds for the rest
    with FeedFarm(feeds=120, entries=2, releases=12, page_delay=delays) as farm:
        config = _config(tmp_path, url, farm)
        env = {"PRESSWIRE_POLL_INTERVAL": "1h", "PRESSWIRE_POLL_LEASE": "8s"}
        workers = [Worker(name, config, tmp_path, **env) for name in ("slow", "w1", "w2")]
        slow, others = workers[0], workers[1:]
        try:  # the slow worker has finished a few polls (8 pages), and its threads are in the middle of others
            _wait(lambda: sum(h.kind == "page" and h.worker == "slow" for h in farm.snapshot()) >= 10, workers, 60)
            slow.proc.send_signal(signal.SIGKILL)
            slow.proc.wait(10)
            leases = _leases_of(engine, slow)
            _wait(lambda: _scalar(engine, "SELECT count(*) FROM sources WHERE last_polled_at IS NULL") == 0,
                  others, timeout=60)
        finally:
            codes = [w.stop() for w in others]
        assert codes == [0, 0], [w.errors() for w in others]

        assert leases, "the worker was killed holding no lease"
        polls = farm.polls()
        for feed, lease_until in leases.items():  # polled again by the others, and only once the lease expired
            again = [p for p in polls if p.feed == feed and p.worker != "slow"]
            assert len(again) == 1 and again[0].start >= lease_until, (feed, again, lease_until)
        finished_by_slow = {p.feed for p in polls if p.worker == "slow"} - set(leases)
        assert finished_by_slow and not [p for p in polls if p.feed in finished_by_slow and p.worker != "slow"]
        assert farm.overlaps() == []
    _assert_stored_once(engine, farm)
    assert _scalar(engine, "SELECT count(*) FROM sources WHERE error_count > 0 OR lease_owner IS NOT NULL") == 0


def _leases_of(engine, worker: Worker) -> dict[int, float]:
    """{feed number: lease expiry (epoch seconds)} of the sources the worker holds."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT url, lease_until FROM sources WHERE lease_owner LIKE :owner"),
                            {"owner": f"%{worker.owner_suffix}"}).all()
    return {int(url.rsplit("/", 1)[1].split(".")[0]): until.timestamp() for url, until in rows}


class Relay:
    """A TCP relay on 127.0.0.1 between the workers and PostgreSQL: the database's network, which a test cuts.
    `cut("refused")`: the database is down (live connections reset, new ones refused); `cut("hung")`: it has
    gone silent (connections open and stay open, nothing gets through either way, as when a host or a link
    stops answering)."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url
        self.target = make_url(url)
        self.port = free_port()
        self.url = self.target.set(port=self.port).render_as_string(hide_password=False)
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.silent = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close_all()

    def cut(self, how: str) -> None:
        if how == "hung":
            self.silent.set()
        else:
            self._close_all()

    def _close_all(self) -> None:
        with self._lock:
            for sock in [self._listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # (close() alone leaves a blocked accept() accepting)
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                self._sockets.append(client)
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.target.host, self.target.port))
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets.append(upstream)
        peers = {client: upstream, upstream: client}
        try:
            while True:
                ready, _, _ = select.select(list(peers), [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    while self.silent.is_set():  # held for ever: the other side waits, as on a dead link
                        time.sleep(0.5)
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            for sock in peers:
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.mark.parametrize("outage", ["refused", "hung"])
def test_a_worker_stopped_while_the_database_is_unreachable_exits_and_logs_the_leases_it_keeps(tmp_path, store,
                                                                                              outage):
    """SIGTERM with polls still in flight after the grace: the worker gives their sources back, then exits 0.
    With the database down, that release raised: a traceback and exit code 1, after the abandoned polls
    had run to their end; with a database that does not answer, the worker never exited at all."""
    url, _engine = store
    with FeedFarm(feeds=8, entries=2, releases=4, page_delay={"w1": 5.0}) as farm, Relay(url) as relay:
        config = _config(tmp_path, relay.url, farm)
        worker = Worker("w1", config, tmp_path, PRESSWIRE_POLL_SHUTDOWN_GRACE="1s", PRESSWIRE_POLL_LEASE="60s")
        try:
            # a poll asking for a page (each takes 5 s) is past its reads of the database: it is in flight when
            # the database goes (a poll still before them fails at once, and is not in flight any more)
            _wait(lambda: farm.pages_begun > 0, [worker], 60)
            relay.cut(outage)
            worker.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(30)
        finally:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
    assert worker.proc.returncode == 0, worker.errors()
    log = worker.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    kept = [e for e in events if e["event"] == "leases not released"]
    assert len(kept) == 1 and kept[0]["sources"] and kept[0]["level"] == "error", events
    assert events[-1]["event"] == "service stopped"
