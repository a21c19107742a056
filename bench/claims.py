"""The cost of one claim (store.repository.claim_due_sources, one source at a time as the dispatcher claims)
on PostgreSQL with N sources, in the states a large deployment goes through: a first start (none polled
yet), the steady state (a few due), a backlog after an outage (all due) and an idle moment (none due).

    python bench/claims.py [--sources 100000] [--claims 200]

Each figure is the wall time of a whole claim transaction from this process (round trips included) on a
throwaway cluster (fixtures/pg.py); the claim must not grow with the number of due sources.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from fixtures.pg import PostgresCluster, pg_bindir  # noqa: E402
from store import db, repository  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100_000)
    parser.add_argument("--claims", type=int, default=200)
    args = parser.parse_args()
    with PostgresCluster(pg_bindir()) as cluster:
        engine = db.make_engine(cluster.new_database())
        db.upgrade(engine)
        sql(engine, "INSERT INTO sources (url, name, status, created_at, error_count) SELECT "
                    "'https://h' || g || '.example/feed', '', 'active', now(), 0 FROM generate_series(1, :n) g",
            n=args.sources)
        now = datetime.now(timezone.utc)
        print(f"{args.sources} sources, PostgreSQL; ms per claim of one source (mean of {args.claims})")
        measure(engine, "first start (none polled yet)", now, args.claims)
        sql(engine, "UPDATE sources SET next_poll_at = now() + id * interval '1 second' - interval '100 seconds'")
        measure(engine, "steady state (100 due)", now, args.claims)
        measure(engine, "backlog (all due)", now + timedelta(seconds=args.sources + 1000), args.claims)
        measure(engine, "idle (none due)", now - timedelta(seconds=200), args.claims)
        engine.dispose()


def measure(engine, label: str, now: datetime, claims: int) -> None:
    sessions = db.session_factory(engine)
    sql(engine, "ANALYZE sources")
    started, claimed = time.perf_counter(), 0
    for _ in range(claims):
        with sessions.begin() as s:
            claimed += len(repository.claim_due_sources(s, now, "bench", now + timedelta(minutes=10), 1))
    print(f"  {label:<32} {(time.perf_counter() - started) * 1000 / claims:6.2f} ms  ({claimed} claimed)")
    sql(engine, "UPDATE sources SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")


def sql(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


if __name__ == "__main__":
    main()
