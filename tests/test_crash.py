"""Crash safety: `presswire` killed with SIGKILL at random points, then restarted, loses nothing and stores
nothing twice, and the SQLite file stays sound.

A 1,000-item fixture site (20 feeds of 50 entries, one small page each) is generated in tmp_path and served
from 127.0.0.1; `presswire poll` runs as a real subprocess and is killed 20 times at seeded random moments
spread over a poll, then one poll runs to the end. Every entry must then be stored exactly once with its
item, and `PRAGMA integrity_check` (and FTS5's own check) must pass. A separate test kills the very first
schema creation statement by statement."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from conftest import ROOT, Presswire, write_config
from fixtures.server import FixtureServer

FEEDS, PER_FEED = 20, 50  # sources are polled one after another, each saved in one transaction at its end
RUNS = 20
PRESSWIRE = str(Path(sys.executable).with_name("presswire"))
WORDS = ("lithium cobalt harbor grid storage solar wind turbine merger quarterly revenue guidance dividend "
         "pipeline trial approval contract utility cooperative megawatt factory expansion acquisition "
         "offering shares nasdaq listing board director appointment research partnership license").split()


def _text(rng: random.Random, sentences: int) -> str:
    return " ".join(" ".join(rng.choice(WORDS) for _ in range(14)).capitalize() + "." for _ in range(sentences))


def _make_site(root: Path, feeds: int = FEEDS, per_feed: int = PER_FEED) -> None:
    """`feeds` feeds of `per_feed` entries, each linking to a small page of its own (distinct text, so every
    item is a story of its own)."""
    rng = random.Random(1000)
    for f in range(feeds):
        entries = []
        for n in range(per_feed):
            page = root / f"f{f}" / f"{n}" / "index.html"
            page.parent.mkdir(parents=True)
            body = "".join(f"<p>{_text(rng, 3)}</p>" for _ in range(4))
            page.write_text(f"<html><head><title>Story {f}-{n}</title></head><body><article><h1>Story {f}-{n}"
                            f"</h1>{body}</article></body></html>")
            entries.append(f"<item><title>Story {f}-{n}: {_text(rng, 1)}</title><link>__BASE__/f{f}/{n}/</link>"
                           f"<guid isPermaLink=\"false\">f{f}-{n}</guid><description>{_text(rng, 2)}</description>"
                           f"<pubDate>Thu, 15 May 2025 {n % 24:02d}:{f:02d}:00 +0000</pubDate></item>")
        (root / f"f{f}" / "feed.xml").write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {f}'
                                                 f'</title>{"".join(entries)}</channel></rss>')


@pytest.fixture
def site(tmp_path):
    _make_site(tmp_path / "site")
    with FixtureServer(tmp_path / "site") as srv:
        yield srv


def _env() -> dict[str, str]:
    # no QR code images: they would be most of a run's time, and are not what is tested here
    return {**os.environ, "PRESSWIRE_OUTPUT_QRCODE_DIR": "", "PYTHONPATH": str(ROOT)}


def _wait_for_request(server: FixtureServer, seen: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(server.hits) <= seen and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def _check_store(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.execute("INSERT INTO items_fts(items_fts) VALUES ('integrity-check')")  # raises if the index is off
    return conn


@pytest.mark.slow
def test_kill_9_at_random_points_then_restart_stores_every_item_exactly_once(tmp_path, site):
    db = tmp_path / "presswire.db"
    config = write_config(tmp_path / "presswire.toml", f"sqlite:///{db}",
                          [(site.url(f"/f{f}/feed.xml"), f"Feed {f}") for f in range(FEEDS)])
    rng = random.Random(20)
    spread = 2.0  # seconds after the first request: about two sources' worth of fetching, extracting, saving
    killed = 0
    for _run in range(RUNS):
        proc = subprocess.Popen([PRESSWIRE, "--config", str(config), "poll"], env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_request(site, len(site.hits), proc)
        time.sleep(rng.uniform(0, spread))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=120)
    assert killed >= RUNS // 2  # most runs were cut short, somewhere in fetching, extracting or saving
    final = subprocess.run([PRESSWIRE, "--config", str(config), "poll"], env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    conn = _check_store(db)
    assert conn.execute("SELECT count(*), count(DISTINCT source_id || ':' || guid) FROM feed_entries").fetchone() \
        == (FEEDS * PER_FEED, FEEDS * PER_FEED)
    assert conn.execute("SELECT count(*), count(DISTINCT feed_entry_id) FROM items").fetchone() \
        == (FEEDS * PER_FEED, FEEDS * PER_FEED)
    half_written = conn.execute("SELECT count(*) FROM feed_entries e LEFT JOIN items i ON i.feed_entry_id = e.id "
                                "WHERE i.id IS NULL OR i.cluster_id IS NULL OR i.body_html = ''").fetchone()
    assert half_written == (0,)
    per_source = conn.execute("SELECT count(*) FROM feed_entries GROUP BY source_id").fetchall()
    assert per_source == [(PER_FEED,)] * FEEDS


KILL_AT = """
import os, signal, sys
from sqlalchemy import event
from store import db
engine = db.make_engine(sys.argv[1])
statements = [0]
def count(*_args):
    statements[0] += 1
    if statements[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
event.listen(engine, "after_cursor_execute", count)
db.ensure_schema(engine)
print(statements[0])
"""


def test_a_kill_during_the_first_schema_creation_leaves_a_usable_database(tmp_path):
    """Regression: on SQLite each CREATE TABLE committed on its own, so a kill mid-way left tables without an
    Alembic revision, which neither `poll` ("run db upgrade") nor `db upgrade` ("table already exists") could
    use. The creation is one transaction now: killed at any statement, the next run starts cleanly."""
    url = f"sqlite:///{tmp_path / 'count.db'}"
    total = int(subprocess.run([sys.executable, "-c", KILL_AT, url, "0"], env=_env(), capture_output=True,
                               text=True, check=True).stdout)
    pw = Presswire(write_config(tmp_path / "presswire.toml", f"sqlite:///{tmp_path / 'presswire.db'}"))
    for at in sorted(set(range(1, total, max(1, total // 8))) | {total - 1}):
        for leftover in tmp_path.glob("presswire.db*"):
            leftover.unlink()
        killed = subprocess.run([sys.executable, "-c", KILL_AT, f"sqlite:///{tmp_path / 'presswire.db'}", str(at)],
                                env=_env(), capture_output=True)
        assert killed.returncode == -signal.SIGKILL
        after = pw("sources", "list", ok=False)
        assert after.exit_code == 0, f"killed at statement {at} of {total}: {after.stderr[-500:]}"
        _check_store(tmp_path / "presswire.db").close()


KILL_AT_QRCODES = """
import os, signal, sys
import ingest.backfill, ingest.pipeline
def killed(*_args):
    os.kill(os.getpid(), signal.SIGKILL)
ingest.pipeline.write_qrcode_batch = ingest.backfill.write_qrcode_batch = killed
sys.argv = ["presswire", *sys.argv[1:]]
from ingest.cli import main
main()
"""


@pytest.mark.parametrize("command", ["poll", "backfill"])
def test_a_kill_as_qr_codes_are_written_leaves_no_item_without_its_qr_code(tmp_path, command):
    """Regression: the QR code images were written after the items' commit, so a kill in between left items
    that never got theirs: the next run finds them stored (a duplicate) and writes nothing for them. A poll
    writes them before its commit now (a kill there stores nothing); a backfill still draws them after each
    batch's commit, and its next run first draws those of the items stored since the killed run started."""
    _make_site(tmp_path / "site", feeds=1, per_feed=5)
    with FixtureServer(tmp_path / "site") as site:
        db = tmp_path / "presswire.db"
        feed = site.url("/f0/feed.xml")
        config = write_config(tmp_path / "presswire.toml", f"sqlite:///{db}", [(feed, "Feed 0")] * (command == "poll"))
        args = ["--config", str(config), command, *(["--feed", feed] if command == "backfill" else [])]
        _kill_then_run_again(KILL_AT_QRCODES, args)
    stored = {url for (url,) in _check_store(db).execute("SELECT url FROM items")}
    assert len(stored) == 5
    assert {png.stem for png in (tmp_path / "qrcodes").glob("*.png")} == stored


def _kill_then_run_again(script: str, args: list[str], killed_left: Callable[[], None] = lambda: None) -> None:
    """Run `script` (which kills itself) with the CLI's arguments, check what it left, then the CLI itself."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    killed_left()
    again = subprocess.run([sys.executable, "-m", "ingest", *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]


KILL_AT_SECOND_QRCODES = KILL_AT_QRCODES.replace("def killed(*_args):\n", """calls = [0]
real = ingest.backfill.write_qrcode_batch
def killed(*args):
    calls[0] += 1
    if calls[0] == 1:
        return real(*args)
""")


def test_a_backfill_killed_after_a_finished_page_draws_the_qr_codes_it_left_undrawn(tmp_path):
    """A backfill killed as the QR codes of its second page are drawn, after its first page was recorded
    finished: the next run draws them. Regression: it drew those of the items stored since the killed run's
    last finished unit (backfill_runs.updated_at, moved on by every finished unit), not since its start
    (the items' created_at), so it found none and the second page's items never got their images."""
    _make_site(tmp_path / "site", feeds=1, per_feed=5)
    feed = tmp_path / "site" / "f0" / "feed.xml"
    first, *rest = feed.read_text().split("<item>")
    older = '<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="next" href="__BASE__/f0/older.xml"/>'
    feed.with_name("older.xml").write_text(first + "<item>" + "<item>".join(rest[3:]))
    feed.write_text(first + older + "<item>" + "<item>".join(rest[:3]) + "</channel></rss>")
    db = tmp_path / "presswire.db"

    def killed_left() -> None:
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (5,)  # both pages stored
        conn.close()
        assert len(list((tmp_path / "qrcodes").glob("*.png"))) == 3  # the first page's images only

    with FixtureServer(tmp_path / "site") as site:
        config = write_config(tmp_path / "presswire.toml", f"sqlite:///{db}")
        _kill_then_run_again(KILL_AT_SECOND_QRCODES,
                             ["--config", str(config), "backfill", "--feed", site.url("/f0/feed.xml")], killed_left)
    stored = {url for (url,) in _check_store(db).execute("SELECT url FROM items")}
    assert len(stored) == 5
    assert {png.stem for png in (tmp_path / "qrcodes").glob("*.png")} == stored
