"""Scale-out: sources polled per second by 1, 2 and 4 `presswire run` workers sharing one PostgreSQL database.

Starts a throwaway PostgreSQL cluster (fixtures/pg.py) and S feeds on 127.0.0.1 (fixtures/farm.py) that
answer 304 Not Modified to the ETag every source already has: the steady state of a large deployment,
where most polls find nothing new. For each worker count it starts the workers (configured through the
environment only, as in deploy/compose.yaml), waits until each has logged "service started", makes every
source due at once, and times how long until all S have been polled. Printed per worker count: seconds,
polls/s, the ratio to one worker, the database's work per poll (transactions, rows updated, from
pg_stat_database) and the workers' CPU time per poll.

    python bench/workers.py [--sources 2000] [--workers 1,2,4] [--concurrency 8]

Mind the machine: on 2 cores the workers, PostgreSQL and this feed server share the CPU, so scaling past
2 workers measures the machine more than presswire.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from fixtures.farm import ETAG, FeedFarm  # noqa: E402
from fixtures.pg import PostgresCluster, pg_bindir  # noqa: E402
from store import db  # noqa: E402


@dataclass(frozen=True)
class Round:
    workers: int
    seconds: float
    not_modified: int  # 304 answers the farm gave during the round
    transactions: int
    rows_updated: int
    worker_cpu: float  # CPU seconds the workers used while polling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=8, help="[poll] concurrency of each worker")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    bindir = pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    with PostgresCluster(bindir) as cluster, FeedFarm(feeds=args.sources, entries=0) as farm, \
            tempfile.TemporaryDirectory(prefix="presswire-bench-") as tmp:
        url = cluster.new_database()
        engine = db.make_engine(url)
        db.upgrade(engine)
        add_sources(engine, farm)
        rounds = [run_round(engine, url, farm, n, args.concurrency, Path(tmp)) for n in counts]
        engine.dispose()
    report(rounds, args.sources, args.concurrency)


def add_sources(engine, farm: FeedFarm) -> None:
    """Every feed as a source that has been read whole before (its ETag stored): the next polls are 304s."""
    now = datetime.now(timezone.utc)
    rows = [{"url": farm.feed_url(i), "name": f"Wire {i}", "now": now, "etag": ETAG} for i in range(farm.feeds)]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (url, name, status, created_at, error_count, etag, last_full_fetch_at, "
                          "next_poll_at) VALUES (:url, :name, 'active', :now, 0, :etag, :now, :now + interval '1 day')"),
                     rows)


def run_round(engine, url: str, farm: FeedFarm, workers: int, concurrency: int, tmp: Path) -> Round:
    logs = [tmp / f"w{workers}-{n}.log" for n in range(workers)]
    procs = [start_worker(url, concurrency, log) for log in logs]
    try:
        wait_started(procs, logs)
        before, hits, cpu = db_counters(engine), len(farm.snapshot()), cpu_seconds(procs)
        started = time.monotonic()
        with engine.begin() as conn:
            conn.execute(text("UPDATE sources SET next_poll_at = now() - interval '1 second'"))
        while pending(engine):
            time.sleep(0.05)
        seconds = time.monotonic() - started
        cpu = cpu_seconds(procs) - cpu
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
    after = db_counters(engine)  # the workers' sessions have ended: their statistics are all in
    not_modified = sum(h.kind == "304" for h in farm.snapshot()[hits:])
    return Round(workers, seconds, not_modified, after[0] - before[0] - 1, after[1] - before[1] - farm.feeds, cpu)


def start_worker(url: str, concurrency: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PRESSWIRE_DATABASE_URL": url, "PRESSWIRE_HTTP_ALLOW_NETWORKS": "127.0.0.1/32",
           "PRESSWIRE_HTTP_PER_HOST": str(concurrency),  # every feed is on one host here, unlike real ones
           "PRESSWIRE_POLL_CONCURRENCY": str(concurrency), "PRESSWIRE_POLL_INTERVAL": "1h",
           "PRESSWIRE_POLL_DISPATCH_EVERY": "0.2", "PRESSWIRE_SERVICE_METRICS_PORT": "-1",
           "PRESSWIRE_LOG_FORMAT": "json"}
    env.pop("PRESSWIRE_CONFIG", None)
    with log.open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "ingest", "run"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)


def wait_started(procs: list[subprocess.Popen], logs: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all(b"service started" in log.read_bytes() for log in logs):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            sys.exit("a worker did not start:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
        time.sleep(0.1)


def cpu_seconds(procs: list[subprocess.Popen]) -> float:
    """User + system CPU time of these processes so far (Linux /proc; 0 elsewhere)."""
    total = 0
    for proc in procs:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def pending(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM sources WHERE next_poll_at <= now()")).scalar()


def db_counters(engine) -> tuple[int, int]:
    """(committed transactions, rows updated) of this database so far."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return tuple(conn.execute(text("SELECT xact_commit, tup_updated FROM pg_stat_database "
                                       "WHERE datname = current_database()")).one())


def report(rounds: list[Round], sources: int, concurrency: int) -> None:
    print(f"{sources} sources answering 304, [poll] concurrency {concurrency}, PostgreSQL {os.cpu_count()} cores")
    print(f"{'workers':>7} {'seconds':>8} {'polls/s':>8} {'x 1 worker':>10} {'304s':>6} {'txn/poll':>8} "
          f"{'rows upd/poll':>13} {'worker CPU ms/poll':>18}")
    base = sources / rounds[0].seconds / rounds[0].workers  # the first round's rate per worker
    for r in rounds:
        rate = sources / r.seconds
        print(f"{r.workers:>7} {r.seconds:>8.2f} {rate:>8.0f} {rate / base:>10.2f} {r.not_modified:>6} "
              f"{r.transactions / sources:>8.2f} {r.rows_updated / sources:>13.2f} "
              f"{r.worker_cpu * 1000 / sources:>18.1f}")


if __name__ == "__main__":
    main()
