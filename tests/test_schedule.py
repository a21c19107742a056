"""The schedule: the next-poll policy, and the dispatcher run over simulated hours with a controllable clock."""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from conftest import write_config
from ingest.cli import App
from ingest.model import SourceState
from ingest.schedule import cache_max_age, dispatcher, plan_next_poll, publishing_interval, server_floor
from ingest.settings import PollSettings, load_settings
from store import repository

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
POLL = PollSettings(interval=900, jitter=0.15, min_interval=300, max_interval=86400, backoff=1800,
                    max_backoff=7 * 86400)
SOURCE = SourceState(id=1, url="https://wire.example/feed", name="Wire")


def wait(plan) -> float:
    return (plan.next_poll_at - NOW).total_seconds()


def waits(poll=POLL, source=SOURCE, n=400, **kw) -> list[float]:
    rng = random.Random(3)
    return [wait(plan_next_poll(poll, source, NOW, rng, **kw)) for _ in range(n)]


def test_default_interval_with_jitter_inside_the_bounds():
    seen = waits()
    assert min(seen) >= 900 * 0.85 and max(seen) <= 900 * 1.15
    assert max(seen) - min(seen) > 900 * 0.2  # really spread, not one value
    assert waits(replace(POLL, jitter=0.0), n=3) == [900.0] * 3


def test_a_source_interval_overrides_default_and_adaptive():
    own = replace(SOURCE, poll_interval=400.0)
    assert all(400 * 0.85 <= w <= 400 * 1.15 for w in waits(source=own))
    busy = [NOW - timedelta(minutes=i) for i in range(20)]
    assert all(w <= 400 * 1.15 for w in waits(replace(POLL, adaptive=True), own, published=busy))
    rare = [NOW - timedelta(days=2)]
    assert all(w <= 400 * 1.15 for w in waits(replace(POLL, adaptive=True), own, published=rare))


def test_a_source_interval_is_never_below_min_interval():
    for own in (5.0, 120.0):
        plan = plan_next_poll(replace(POLL, jitter=0.0), replace(SOURCE, poll_interval=own), NOW, random.Random(1))
        assert plan.interval == 300.0 and wait(plan) == 300.0
    assert all(300 * 0.85 <= w <= 300 * 1.15 for w in waits(source=replace(SOURCE, poll_interval=5.0)))


def test_adaptive_interval_follows_the_publishing_rate_within_the_clamps():
    adaptive = replace(POLL, adaptive=True, jitter=0.0)
    hourly = [NOW - timedelta(hours=i) for i in range(1, 25)]  # 24 entries over the last day: one an hour
    assert waits(adaptive, published=hourly, n=1) == [3600.0]
    burst = [NOW - timedelta(seconds=30 * i) for i in range(1, 11)]  # 10 in 5 minutes: clamped to 5 min
    assert waits(adaptive, published=burst, n=1) == [300.0]
    weekly = [NOW - timedelta(days=6)]  # one in the last week: clamped to a day
    assert waits(adaptive, published=weekly, n=1) == [86400.0]
    dead = [NOW - timedelta(days=400)]
    assert waits(adaptive, published=dead, n=1) == [86400.0]
    undated = [None, None]
    assert waits(adaptive, published=undated, n=1) == [900.0]
    future = [NOW + timedelta(days=300), NOW - timedelta(hours=2), NOW - timedelta(hours=4)]
    assert publishing_interval(future, NOW) == 2 * 3600  # a future date says nothing about the rate
    # a 304 reads no entries: the interval the last read chose stands
    remembered = replace(SOURCE, interval=7200.0)
    plan = plan_next_poll(adaptive, remembered, NOW, random.Random(1), published=None)
    assert plan.interval == 7200.0 and wait(plan) == 7200.0


def test_never_sooner_than_ttl_cache_control_or_retry_after():
    assert all(w >= 3600 for w in waits(floor=server_floor(ttl_minutes=60)))
    assert all(w >= 7200 for w in waits(floor=server_floor(headers={"cache-control": "public, max-age=7200"})))
    assert all(w >= 5400 for w in waits(floor=server_floor(retry_after=5400.0)))
    assert cache_max_age({"cache-control": "no-cache, max-age=600"}) == 0
    assert cache_max_age({"cache-control": 'max-age="120"'}) == 120
    assert cache_max_age({}) == 0
    hostile = waits(floor=server_floor(ttl_minutes=10 ** 9), n=5)  # a floor is capped at max_backoff
    assert max(hostile) == 7 * 86400


def test_failing_source_backs_off_doubling_up_to_the_cap():
    no_jitter = replace(POLL, jitter=0.0)
    assert [waits(no_jitter, n=1, errors=n)[0] for n in (1, 2, 3, 4)] == [1800, 3600, 7200, 14400]
    assert waits(no_jitter, n=1, errors=12)[0] == 7 * 86400
    assert waits(no_jitter, n=1, errors=10 ** 6)[0] == 7 * 86400
    assert all(1800 * 0.85 <= w <= 1800 * 1.15 for w in waits(errors=1))


# --- the dispatcher over simulated hours ------------------------------------------------------------

class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title><link>{base}/</link>
<item><guid>{name}-1</guid><title>{name} one</title><link>{base}/{name}/1</link><description>First.</description>
</item></channel></rss>"""


def test_dispatcher_polls_each_source_at_its_interval_with_jitter_over_simulated_hours(
        tmp_path, db_url, empty_server):
    """Eight simulated hours, a dispatch every simulated minute: every source is polled at its interval
    (jittered within +-15%, plus at most one dispatch period of lateness), never early, never twice at once."""
    names = ["a", "b", "c", "fast"]
    for name in names:
        body = FEED.format(name=name, base=empty_server.base).encode()
        empty_server.handle(f"/{name}.xml", lambda h, body=body: (304, {}, b"") if h.get("if-none-match") == '"v"'
                            else (200, {"Content-Type": "application/rss+xml", "ETag": '"v"'}, body))
        empty_server.route(f"/{name}/1", status=200, body=f"<html><body><p>{name}</p></body></html>",
                           headers={"Content-Type": "text/html"})
    config = write_config(tmp_path / "c.toml", db_url, [(empty_server.url(f"/{n}.xml"), n) for n in names],
                          extra='[poll]\ninterval = "15m"\njitter = 0.15\nconcurrency = 3\n')
    config.write_text(config.read_text().replace(f'url = "{empty_server.url("/fast.xml")}"\n',
                                                 f'url = "{empty_server.url("/fast.xml")}"\ninterval = "5m"\n'))
    app = App(load_settings(config))
    clock = Clock(NOW)
    ctx = replace(app.context(), clock=clock, rng=random.Random(11))
    work = dispatcher(ctx)
    polls: dict[str, list[datetime]] = {n: [] for n in names}
    try:
        for _minute in range(8 * 60):
            for result in work.run_once():
                polls[result.url.rsplit("/", 1)[1].removesuffix(".xml")].append(clock.now)
                assert result.status in ("ok", "not_modified"), result
            clock.advance(60)
        with app.sessions.begin() as s:
            stored = {src.name: src for src in repository.list_sources(s)}
    finally:
        work.close()
        app.close()
    for name, interval in [("a", 900), ("b", 900), ("c", 900), ("fast", 300)]:
        gaps = [(b - a).total_seconds() for a, b in zip(polls[name], polls[name][1:])]
        assert len(gaps) >= 8 * 3600 / (interval * 1.15) - 2, (name, len(gaps))
        assert all(interval * 0.85 <= g <= interval * 1.15 + 60 for g in gaps), (name, gaps)
        assert statistics.pstdev(gaps) > 0  # jittered, not a fixed beat
        assert stored[name].item_count == 1 and stored[name].error_count == 0
    assert stored["fast"].poll_interval == 300 and stored["a"].interval == 900
    # the three 15-minute sources do not fire together for ever: their phases drift apart. (Not "their last
    # polls differ": the threads draw from the seeded rng in whatever order they claim, and some orders end
    # with all three in the same simulated minute by chance, failing about one run in ten.)
    assert len({tuple(polls[n]) for n in ("a", "b", "c")}) == 3


def test_dispatcher_reports_an_unexpected_error_and_carries_on_at_the_next_tick():
    from ingest.model import PollResult
    from ingest.schedule import Dispatcher
    queue = [RuntimeError("database went away"), [SOURCE], [], [SOURCE], []]

    def claim(now, limit):
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    errors: list[Exception] = []
    work = Dispatcher(lambda s: PollResult(s.id, s.url, "ok"), claim, lambda: NOW, concurrency=1,
                      on_error=errors.append)
    try:
        assert work.run_once() == [] and [str(e) for e in errors] == ["database went away"]
        assert [r.status for r in work.run_once()] == ["ok"]
        work.tick()  # the service's ticks keep no results: a long run must not grow
        assert work.wait(10) and not queue and work.results is None and work.in_flight() == []
    finally:
        work.close()


# --- leases ---------------------------------------------------------------------------------------

def test_a_poll_longer_than_its_lease_keeps_its_source_from_other_workers(tmp_path, sqlite_url, empty_server):
    """The worker polling a source renews its lease while the poll runs (every third of [poll] lease), so a
    second worker cannot claim the source in the middle of a poll that outlasts the lease."""
    import time
    from concurrent.futures import ThreadPoolExecutor
    from ingest.pipeline import utcnow
    empty_server.route("/slow.xml", body=FEED.format(name="slow", base=empty_server.base),
                       headers={"Content-Type": "application/rss+xml"}, delay=2.5)
    config = write_config(tmp_path / "c.toml", sqlite_url, [(empty_server.url("/slow.xml"), "slow")],
                          extra="[poll]\nlease = 1\nfetch_articles = false\n")
    app = App(load_settings(config))
    work = dispatcher(replace(app.context(), worker="first"))
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            polling = pool.submit(work.run_once)
            time.sleep(1.8)  # the feed answers after 2.5 s; the lease is 1 s
            with app.sessions.begin() as s:
                stolen = repository.claim_due_sources(s, utcnow(), "second", utcnow() + timedelta(minutes=1), 10)
            results = polling.result(timeout=30)
        with app.sessions.begin() as s:
            (source,) = repository.list_sources(s)
    finally:
        work.close()
        app.close()
    assert stolen == []
    assert [r.status for r in results] == ["ok"] and source.last_status == "ok"


def test_signal_handling_is_set_in_the_main_thread_only_and_given_back():
    """run --once stops on SIGTERM/SIGINT as the service does; a poll run from another thread (embedded) must
    not fail on Python's main-thread-only signal.signal, and the handlers are given back afterwards."""
    import signal
    import threading

    from ingest.schedule import _stopped_by_signals
    before = signal.getsignal(signal.SIGTERM)
    inside: list = []

    def run() -> None:
        with _stopped_by_signals(None, None, threading.Event()):
            inside.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert inside == [before]  # left alone, and no ValueError
    run()
    assert inside[1] is not before and signal.getsignal(signal.SIGTERM) is before
