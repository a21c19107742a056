"""`presswire run`: --once polls what is due; the service polls, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
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
