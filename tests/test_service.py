"""The service against a 127.0.0.1 server we control: conditional GET, retries, backoff, redirects, 410,
cut responses, robots.txt, per-host politeness, SIGTERM and restart, /metrics and /healthz."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
import structlog

from conftest import IBN_SITE, ROOT, Presswire, _free_port, log_events, write_config
from ingest import metrics
from ingest.settings import ServiceSettings

FEED_PATH = IBN_SITE / "bdc" / "feed.xml"


def feed_bytes(server) -> bytes:
    return FEED_PATH.read_bytes().replace(b"__BASE__", server.base.encode())


def sources(pw) -> list[dict]:
    return [json.loads(line) for line in pw("sources", "list", "--json").stdout.splitlines()]


def items(pw) -> list[dict]:
    return [json.loads(line) for line in pw("items", "list", "--json", "--all-copies", "--limit", "100000")
            .stdout.splitlines()]


def polls(result) -> list[dict]:
    return [e for e in log_events(result) if e["event"] == "poll"]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def config_for(tmp_path, db, server, paths, extra="", http=""):
    config = write_config(tmp_path / "c.toml", db, [(server.url(p), p.strip("/")) for p in paths], extra=extra)
    text = config.read_text()
    for line in http.splitlines():  # [http] keys: replace write_config's own, or add
        key = line.split("=")[0].strip()
        text = re.sub(rf"(?m)^{key} = .*\n", "", text).replace("[http]\n", f"[http]\n{line}\n")
    config.write_text(text)
    return Presswire(config)


def test_conditional_get_round_trip_and_forced_full_fetch(tmp_path, db_url, server):
    body = feed_bytes(server)
    asked = []

    def feed(headers):
        asked.append(headers)
        if headers.get("if-none-match") == '"v1"' or headers.get("if-modified-since") == "Mon, 02 Mar 2026 10:00:00 GMT":
            return 304, {"ETag": '"v1"'}, b""
        return 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"',
                     "Last-Modified": "Mon, 02 Mar 2026 10:00:00 GMT"}, body

    server.handle("/feed", feed)
    pw = config_for(tmp_path, db_url, server, ["/feed"])
    first = pw("poll")
    assert polls(first)[0]["status"] == "ok" and polls(first)[0]["new"] == 4
    pages_before = len(server.hits) - len(asked)
    second = pw("poll")
    assert asked[1]["if-none-match"] == '"v1"'
    assert asked[1]["if-modified-since"] == "Mon, 02 Mar 2026 10:00:00 GMT"
    outcome = polls(second)[0]
    assert [outcome[k] for k in ("status", "new", "duplicate", "failed")] == ["not_modified", 0, 0, 0]
    assert len(server.hits) - len(asked) == pages_before  # nothing parsed, no page fetched
    assert sources(pw)[0]["last_status"] == "not_modified" and len(items(pw)) == 4
    # past [poll] full_fetch_every, the feed is read whole once, without validators
    full = config_for(tmp_path, db_url, server, ["/feed"], extra='[poll]\nfull_fetch_every = "1s"\n')
    time.sleep(1.1)
    third = full("poll")
    assert "if-none-match" not in asked[2] and "if-modified-since" not in asked[2]
    assert polls(third)[0]["status"] == "ok" and polls(third)[0]["duplicate"] == 4
    full("poll")
    assert asked[3]["if-none-match"] == '"v1"'


def test_503_with_retry_after_is_retried_and_the_item_stored_once(tmp_path, sqlite_url, server):
    body = feed_bytes(server)
    times = []

    def feed(headers):
        times.append(time.monotonic())
        if len(times) == 1:
            return 503, {"Retry-After": "1"}, b"busy"
        return 200, {"Content-Type": "application/rss+xml"}, body

    server.handle("/feed", feed)
    pw = config_for(tmp_path, sqlite_url, server, ["/feed"], http="retries = 2\n")
    result = pw("poll")
    assert len(times) == 2 and times[1] - times[0] >= 0.95  # waited what Retry-After asked
    assert polls(result)[0]["status"] == "ok" and polls(result)[0]["new"] == 4
    pw("poll")
    assert len(items(pw)) == 4 and sources(pw)[0]["error_count"] == 0


def test_a_retry_after_longer_than_a_poll_ends_the_retries_and_sets_the_next_poll(tmp_path, sqlite_url, server):
    """A 429 asking for an hour is not asked again after our own short backoff (it was, [http] retries
    times within a second); the poll fails and the next one is an hour away."""
    server.route("/feed", status=429, body="slow down", headers={"Retry-After": "3600"})
    pw = config_for(tmp_path, sqlite_url, server, ["/feed"], http="retries = 2\n")
    result = pw("poll")
    assert len(server.hits_for("/feed")) == 1
    assert polls(result)[0]["status"] == "error" and "HTTP 429" in polls(result)[0]["error"]
    row = sources(pw)[0]
    assert (when(row["next_poll_at"]) - when(row["last_polled_at"])).total_seconds() >= 3600


def test_repeated_500s_back_off_and_the_source_recovers_by_itself(tmp_path, db_url, server):
    body = feed_bytes(server)
    state = {"failing": True}
    server.handle("/feed", lambda h: (500, {}, b"oops") if state["failing"]
                  else (200, {"Content-Type": "application/rss+xml"}, body))
    pw = config_for(tmp_path, db_url, server, ["/feed"], extra='[poll]\nbackoff = "30m"\nmax_backoff = "2h"\n')
    waits = []
    for n in (1, 2, 3, 4):
        pw("poll")
        row = sources(pw)[0]
        assert row["error_count"] == n and "HTTP 500" in row["last_error"] and row["last_status"] == "error"
        waits.append((when(row["next_poll_at"]) - when(row["last_polled_at"])).total_seconds())
    for wait, expected in zip(waits, (1800, 3600, 7200, 7200)):  # doubling, capped at max_backoff
        assert expected * 0.85 <= wait <= expected * 1.15
    pw("run", "--once")  # in backoff: not due
    assert len(server.hits_for("/feed")) == 4
    state["failing"] = False
    pw("poll")
    row = sources(pw)[0]
    assert row["error_count"] == 0 and row["last_error"] is None and row["last_status"] == "ok"
    assert 900 * 0.85 <= (when(row["next_poll_at"]) - when(row["last_polled_at"])).total_seconds() <= 900 * 1.15
    assert len(items(pw)) == 4


def redirected_feed(tmp_path, db, server, status: int, repeats: int) -> Presswire:
    """/old answers `status` to /new, which serves the fixture feed; the source is configured as /old."""
    body = feed_bytes(server)
    server.route("/old", status=status, headers={"Location": "/new"})
    server.handle("/new", lambda h: (200, {"Content-Type": "application/rss+xml"}, body))
    return config_for(tmp_path, db, server, ["/old"], extra=f"[poll]\nredirect_repeats = {repeats}\n")


def test_permanent_redirect_is_followed_then_moves_the_source_after_repeats(tmp_path, db_url, server):
    pw = redirected_feed(tmp_path, db_url, server, 301, repeats=2)
    pw("poll")
    row = sources(pw)[0]
    assert row["url"] == server.url("/old") and row["redirect_count"] == 1 and len(items(pw)) == 4
    moved = pw("poll")
    assert polls(moved)[0]["moved_to"] == server.url("/new")
    row = sources(pw)[0]
    assert row["url"] == server.url("/new") and row["previous_url"] == server.url("/old")
    pw("poll")
    assert len(server.hits_for("/old")) == 2 and len(server.hits_for("/new")) == 3
    assert len(sources(pw)) == 1  # the config still says /old: it names the moved source, not a new one
    assert len(items(pw)) == 4
    listed = pw("items", "list", "--json", "--source", server.url("/old")).stdout.splitlines()  # so does --source
    assert len(listed) == 4
    pw("poll", "--source", server.url("/old"))
    assert len(server.hits_for("/old")) == 2 and len(server.hits_for("/new")) == 4


def test_a_temporary_redirect_never_moves_the_source(tmp_path, sqlite_url, server):
    pw = redirected_feed(tmp_path, sqlite_url, server, 302, repeats=1)
    pw("poll")
    pw("poll")
    row = sources(pw)[0]
    assert row["url"] == server.url("/old") and row["redirect_count"] == 0


def test_410_gone_retires_the_source(tmp_path, db_url, server):
    server.route("/gone", status=410, body="gone")
    pw = config_for(tmp_path, db_url, server, ["/gone", "/bdc/feed.xml"])
    result = pw("poll")
    assert {p["status"] for p in polls(result)} == {"gone", "ok"}
    row = next(r for r in sources(pw) if r["url"].endswith("/gone"))
    assert row["status"] == "retired" and "HTTP 410" in row["last_error"] and row["next_poll_at"] is None
    pw("poll")
    pw("run", "--once")
    assert len(server.hits_for("/gone")) == 1


def test_slow_drip_and_oversized_bodies_are_cut_while_other_sources_finish(tmp_path, sqlite_url, server):
    server.route("/drip", body=b"<rss>" + b" " * 10_000, drip=0.05, headers={"Content-Type": "application/rss+xml"})
    server.route("/huge", body=b"<rss>" + b"x" * 3_000_000 + b"</rss>", headers={"Content-Type": "application/rss+xml"})
    server.handle("/declared-huge", lambda h: (200, {"Content-Type": "application/rss+xml",
                                                     "Content-Length": str(3_000_000)}, b"<rss>" + b"y" * 2_999_995))
    pw = config_for(tmp_path, sqlite_url, server, ["/drip", "/huge", "/declared-huge", "/bdc/feed.xml"],
                    http="total_timeout = 2\nmax_bytes = 1000000\n")
    started = time.monotonic()
    result = pw("poll")
    assert time.monotonic() - started < 30
    by_url = {p["url"].rsplit("/", 1)[1] or "bdc": p for p in polls(result)}
    assert "total_timeout 2s" in by_url["drip"]["error"]
    assert "max_bytes 1000000" in by_url["huge"]["error"]
    assert "Content-Length 3000000 > max_bytes 1000000" in by_url["declared-huge"]["error"]
    assert by_url["feed.xml"]["status"] == "ok" and by_url["feed.xml"]["new"] == 4
    order = [p["url"].rsplit("/", 1)[1] for p in polls(result)]
    assert order.index("feed.xml") < order.index("drip")  # the good source did not wait for the slow one
    assert by_url["feed.xml"]["elapsed_ms"] < by_url["drip"]["elapsed_ms"]


def test_robots_txt_is_obeyed_for_article_pages_not_feeds_and_fetched_once(tmp_path, sqlite_url, server):
    server.route("/robots.txt", body="User-agent: presswire\nDisallow: /bdc/helio\n\nUser-agent: *\nDisallow: /\n",
                 headers={"Content-Type": "text/plain"})
    pw = config_for(tmp_path, sqlite_url, server, ["/bdc/feed.xml"])
    pw("poll")
    helio = next(i for i in items(pw) if i["title"].startswith("Helio Grid"))
    assert helio["method"] == "feed" and "disallowed by" in helio["failure"] and "robots.txt" in helio["failure"]
    assert not server.hits_for("/bdc/helio-grid-systems-announces-storage-contract/")
    assert server.hits_for("/bdc/china-races-ahead-in-revolutionizing-battery-technology/")  # allowed for us
    assert len(server.hits_for("/robots.txt")) == 1
    (tmp_path / "off").mkdir()
    off = config_for(tmp_path / "off", f"sqlite:///{tmp_path / 'off' / 'p.db'}", server, ["/bdc/feed.xml"],
                     http="robots_txt = false\n")
    off("poll")
    assert next(i for i in items(off) if i["title"].startswith("Helio Grid"))["method"] == "container"
    assert len(server.hits_for("/robots.txt")) == 1


def test_robots_txt_server_error_means_try_the_page_later(tmp_path, sqlite_url, server):
    server.route("/robots.txt", status=503, body="down")
    pw = config_for(tmp_path, sqlite_url, server, ["/bdc/feed.xml"])
    pw("poll")
    helio = next(i for i in items(pw) if i["title"].startswith("Helio Grid"))
    assert "robots.txt" in helio["failure"] and "unavailable" in helio["failure"]
    del server.routes["/robots.txt"]
    server.route("/robots.txt", status=404)
    again = config_for(tmp_path, sqlite_url, server, ["/bdc/feed.xml"])  # a new run: a fresh robots.txt cache
    again("poll")
    helio = next(i for i in items(again) if i["title"].startswith("Helio Grid"))
    assert helio["failure"] is None and helio["method"] == "container"  # the transient failure was retried


def test_per_host_limit_and_delay_between_article_fetches(tmp_path, sqlite_url, empty_server):
    live = {"now": 0, "peak": 0, "starts": []}
    lock = threading.Lock()
    entries = "".join(f"<item><guid>g{i}</guid><title>Story {i}</title><link>{empty_server.base}/p/{i}</link>"
                      f"<description>Story {i} summary.</description></item>" for i in range(6))
    empty_server.route("/feed", body=f"<rss version='2.0'><channel><title>T</title>{entries}</channel></rss>",
                       headers={"Content-Type": "application/rss+xml"})

    def page(headers):
        with lock:
            live["now"] += 1
            live["peak"] = max(live["peak"], live["now"])
            live["starts"].append(time.monotonic())
        time.sleep(0.1)
        with lock:
            live["now"] -= 1
        return 200, {"Content-Type": "text/html"}, b"<html><body><article><p>" + b"Words here. " * 80 + b"</p></article></body></html>"

    for i in range(6):
        empty_server.handle(f"/p/{i}", page)
    pw = config_for(tmp_path, sqlite_url, empty_server, ["/feed"], http="per_host = 1\nhost_delay = 0.2\n",
                    extra="[poll]\narticle_workers = 4\n")
    pw("poll")
    assert live["peak"] == 1
    starts = sorted(live["starts"])
    # each start was reserved 0.2s after the previous one; a late wake-up can shift one start, not the span
    assert len(starts) == 6 and starts[-1] - starts[0] >= 5 * 0.2 * 0.9


def test_sources_list_shows_the_schedule(tmp_path, sqlite_url, server):
    server.route("/broken", status=500)
    pw = config_for(tmp_path, sqlite_url, server, ["/bdc/feed.xml", "/broken"])
    pw("sources", "add", server.url("/bdc/feed.xml?other"), "--name", "Other", "--interval", "2h")
    pw("poll")
    table = pw("sources", "list").stdout
    for column in ("last poll", "result", "next poll", "interval", "errors", "last error"):
        assert column in table
    assert "2h own" in table and "15m" in table and "HTTP 500" in table
    rows = {r["name"]: r for r in sources(pw)}
    assert rows["Other"]["poll_interval"] == 7200 and rows["Other"]["interval"] == 7200
    assert rows["broken"]["error_count"] == 1 and rows["bdc/feed.xml"]["last_status"] == "ok"
    bad = pw("sources", "add", server.url("/x.xml"), "--interval", "soon", ok=False)
    assert bad.exit_code == 2 and "--interval" in bad.stderr


# --- the service process -----------------------------------------------------------------------------

def many_sources(server, n: int, page_delay: float) -> list[str]:
    paths = []
    for s in range(n):
        entries = "".join(f"<item><guid>s{s}-{i}</guid><title>Source {s} story {i}</title>"
                          f"<link>{server.base}/s{s}/{i}</link><description>Summary {s}.{i}.</description></item>"
                          for i in range(3))
        server.route(f"/s{s}.xml", body=f"<rss version='2.0'><channel><title>S{s}</title>{entries}</channel></rss>",
                     headers={"Content-Type": "application/rss+xml"})
        for i in range(3):
            server.route(f"/s{s}/{i}", body=f"<html><body><article><p>{'Source %d story %d. ' % (s, i) * 40}</p>"
                         f"</article></body></html>", headers={"Content-Type": "text/html"}, delay=page_delay)
        paths.append(f"/s{s}.xml")
    return paths


def start_service(config) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(config), "run"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_mid_poll_exits_promptly_and_a_restart_polls_what_was_due(tmp_path, db_url, empty_server):
    paths = many_sources(empty_server, 30, page_delay=0.3)
    pw = config_for(tmp_path, db_url, empty_server, paths,
                    extra='[poll]\ndispatch_every = "1s"\nconcurrency = 4\nshutdown_grace = "1s"\n')
    proc = start_service(pw.config)
    try:
        deadline = time.monotonic() + 60
        while sum(len(empty_server.hits_for(f"/s{s}/0")) for s in range(30)) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - stopped_at
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert took < 15, f"took {took:.1f}s to stop"
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "service stopped"
    assert any(e["event"] == "service stopping" for e in events)
    finished = [e for e in events if e["event"] == "poll" and e["status"] == "ok"]
    assert 0 < len(finished) < 30  # stopped mid-way
    for route in empty_server.routes.values():  # slow pages made the stop fall mid-poll; the restart needs none
        route.delay = 0
    pw("run", "--once")  # the restart: whatever was due or abandoned is polled now
    stored = items(pw)
    assert len(stored) == 90 and len({(i["source"], i["title"]) for i in stored}) == 90
    assert all(r["last_polled_at"] for r in sources(pw))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_once_stops_on_a_signal_as_the_service_does_and_releases_its_sources(tmp_path, sqlite_url,
                                                                                 empty_server, signum):
    """`run --once` (cron) mid-poll: SIGTERM killed it and Ctrl-C ended it with exit code 1, both leaving the
    sources being polled leased for [poll] lease, so the next run skipped them."""
    paths = many_sources(empty_server, 12, page_delay=0.3)
    pw = config_for(tmp_path, sqlite_url, empty_server, paths,
                    extra='[poll]\nconcurrency = 2\nshutdown_grace = "1s"\n')
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(pw.config), "run", "--once"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while sum(len(empty_server.hits_for(f"/s{s}/0")) for s in range(12)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "service stopping" in events
    assert 0 < sum(1 for r in sources(pw) if r["last_polled_at"]) < 12  # stopped mid-way
    pw("run", "--once")  # what was due or abandoned is due now, no lease in the way
    assert all(r["last_polled_at"] for r in sources(pw)) and len(items(pw)) == 36


@pytest.mark.slow
def test_a_service_that_abandons_polls_at_its_grace_leaves_no_process_behind(tmp_path, sqlite_url, empty_server):
    """Past shutdown_grace the service leaves at once (os._exit); its extraction workers and forkserver must
    not outlive it, holding its stdout and stderr open (a pipe reader waited forever) and ~100 MB."""
    paths = many_sources(empty_server, 1, page_delay=20)
    for i in (0, 1):  # two pages are extracted (the workers are up), the third one never comes
        empty_server.route(f"/s0/{i}", body=f"<html><body><article><p>{'Story %d. ' % i * 80}</p></article>"
                           "</body></html>", headers={"Content-Type": "text/html"})
    pw = config_for(tmp_path, sqlite_url, empty_server, paths,
                    extra='[poll]\ndispatch_every = "1s"\nshutdown_grace = "1s"\n')
    pw.config.write_text(pw.config.read_text().replace("processes = 0", "processes = 2"))  # the pool, for once
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(pw.config), "run"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not empty_server.hits_for("/s0/2") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the other two pages are extracted meanwhile
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)  # EOF on its pipes: nothing of it holds them any more
        assert proc.returncode == 0 and "service abandoned polls" in err
        deadline = time.monotonic() + 10
        while (left := _session_processes(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left
    finally:
        for pid in _session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()


def _session_processes(session: int) -> list[int]:
    """The live (not zombie) processes of a session, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_metrics_and_healthz_while_the_service_runs(tmp_path, sqlite_url, server):
    port = _free_port()
    server.route("/broken", status=500)
    pw = config_for(tmp_path, sqlite_url, server, ["/bdc/feed.xml", "/broken"],
                    extra='[poll]\ndispatch_every = "1s"\n')
    pw.config.write_text(pw.config.read_text().replace("metrics_port = -1", f"metrics_port = {port}"))
    proc = start_service(pw.config)
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline and "presswire_polls_total{status=\"error\"} 1.0" not in text:
            time.sleep(0.2)
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                continue
            if 'presswire_polls_total{status="ok"} 1.0' not in text:
                text = ""
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status == 200 and json.loads(health.read())["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert 'presswire_polls_total{status="ok"} 1.0' in text, text
    assert 'presswire_polls_total{status="error"} 1.0' in text
    assert "presswire_items_stored_total 4.0" in text
    assert "presswire_promotional_total" in text and "presswire_duplicates_total 0.0" in text
    assert 'presswire_fetch_seconds_bucket{kind="feed",le="0.5",outcome="ok"}' in text
    assert 'presswire_fetch_seconds_count{kind="page"' in text
    # the site has no robots.txt (404): a robots.txt request of its own kind, not a failed feed fetch
    assert 'presswire_fetch_seconds_count{kind="robots",outcome="permanent"} 1.0' in text
    assert 'kind="feed",outcome="permanent"' not in text
    assert "presswire_sources_in_backoff 1.0" in text
    assert proc.returncode == 0, err


@pytest.mark.slow
def test_metrics_are_served_while_the_database_cannot_count_sources_in_backoff(tmp_path, server):
    """/metrics reads presswire_sources_in_backoff from the database; when that failed, the scrape got no
    response at all (and stderr a bare traceback), losing every other metric just when they matter."""
    port = _free_port()
    db = tmp_path / "p.db"
    pw = config_for(tmp_path, f"sqlite:///{db}", server, ["/bdc/feed.xml"], extra='[poll]\ndispatch_every = "1s"\n')
    pw.config.write_text(pw.config.read_text().replace("metrics_port = -1", f"metrics_port = {port}"))
    proc = start_service(pw.config)
    try:
        deadline = time.monotonic() + 60
        while not server.hits_for("/bdc/feed.xml") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        with sqlite3.connect(db) as conn:  # the database can no longer answer the count
            conn.execute("ALTER TABLE sources RENAME TO sources_gone")
        scrape = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
        text = scrape.read().decode()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert scrape.status == 200
    assert "presswire_sources_in_backoff NaN" in text and 'presswire_polls_total{status="ok"} 1.0' in text
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    unknown = [e for e in events if e["event"] == "metrics: sources in backoff unknown"]
    assert unknown and "sources" in unknown[0]["error"]


def test_the_metrics_server_hangs_up_on_a_client_that_sends_nothing(monkeypatch):
    """Each connection to /metrics has a thread: one whose client never sent its request (or vanished
    without closing it) kept its thread and socket for as long as the service ran. It is closed after
    REQUEST_TIMEOUT, and the server still answers."""
    monkeypatch.setattr(metrics, "REQUEST_TIMEOUT", 0.2)
    server = metrics.Metrics().serve(ServiceSettings(metrics_port=0), health=lambda: (True, {}),
                                     log=structlog.get_logger())
    try:
        with socket.create_connection(server.httpd.server_address[:2], timeout=30) as silent:
            assert silent.recv(1) == b""  # hung up on (a timeout of this recv: the server still waits)
        assert urllib.request.urlopen(f"{server.url}/healthz", timeout=10).status == 200
    finally:
        server.close()
