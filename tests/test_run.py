"""`presswire run`: --once polls what is due; the service polls, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import ROOT, Presswire, write_config


def test_run_once_polls_due_sources_only(tmp_path, db_url, server):
    pw = Presswire(write_config(tmp_path / "c.toml", db_url, [(server.url("/bdc/feed.xml"), "IBN")]))
    pw("run", "--once")
    assert len(server.hits_for("/bdc/feed.xml")) == 1
    pw("run", "--once")  # polled a moment ago: not due again for [poll] interval
    assert len(server.hits_for("/bdc/feed.xml")) == 1
    rows = [json.loads(x) for x in pw("sources", "list", "--json").stdout.splitlines()]
    assert rows[0]["item_count"] == 4


def test_run_once_fails_when_the_database_stops_it_from_polling(tmp_path, server):
    """A database that refuses every claim (here a trigger; in life a lock held past the busy timeout, a
    server gone) polled nothing, logged "dispatch failed" and exited 0: cron never heard of it."""
    db = tmp_path / "p.db"
    pw = Presswire(write_config(tmp_path / "c.toml", f"sqlite:///{db}", [(server.url("/bdc/feed.xml"), "IBN")]))
    pw("sources", "list")  # creates the schema and the source
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TRIGGER refuse_claims BEFORE UPDATE OF lease_owner ON sources "
                     "BEGIN SELECT RAISE(ABORT, 'claims refused'); END")
    result = pw("run", "--once", ok=False)
    assert result.exit_code == 1 and "run --once" in result.stderr and "dispatch failed" in result.stderr
    assert not server.hits_for("/bdc/feed.xml")
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER refuse_claims")
    pw("run", "--once")  # claims work again: polled, exit 0
    assert len(server.hits_for("/bdc/feed.xml")) == 1


def test_a_database_error_is_logged_by_its_message_and_presswires_own_with_a_traceback(tmp_path, server):
    """The database's own errors (here a trigger calling a function SQLite does not have: an OperationalError,
    as a refused or lost connection is) are logged by their message alone; a worker whose database went down
    logged a traceback per poll in flight. An IntegrityError (a constraint presswire broke) keeps its traceback."""
    db = tmp_path / "p.db"
    pw = Presswire(write_config(tmp_path / "c.toml", f"sqlite:///{db}", [(server.url("/bdc/feed.xml"), "IBN")]))
    pw("sources", "list")
    for body, kind, traceback in [("SELECT no_such_function(1)", "OperationalError", False),
                                  ("SELECT RAISE(ABORT, 'claims refused')", "IntegrityError", True)]:
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TRIGGER IF EXISTS refuse_claims")
            conn.execute(f"CREATE TRIGGER refuse_claims BEFORE UPDATE OF lease_owner ON sources BEGIN {body}; END")
        result = pw("run", "--once", ok=False)
        failed = [line for line in result.stderr.splitlines() if line.startswith("{") and "dispatch failed" in line]
        assert failed and all(kind in line for line in failed), result.stderr
        assert ("Traceback" in result.stderr) is traceback, result.stderr


def test_service_polls_and_exits_zero_on_sigterm(tmp_path, sqlite_url, server):
    config = write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/bdc/feed.xml"), "IBN")],
                          extra='[poll]\ndispatch_every = "1s"\n')
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(config), "run"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not server.hits_for("/bdc/feed.xml") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.hits_for("/bdc/feed.xml"), "the service never polled"
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert events[0] == "service started" and "poll" in events and events[-1] == "service stopped"
