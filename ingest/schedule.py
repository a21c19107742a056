"""When each source is polled next, and the service that polls what is due.

The policy is a pure function of the source, the poll's outcome, the time and a random source, so tests
run days of schedule in a moment:

    interval   the source's own interval (config, `sources add --interval`), at least min_interval; else,
               in adaptive mode, the mean time between its recent entries (those of the last 7 days, up to
               now), clamped to [min_interval, max_interval]; else [poll] interval
    jitter     the interval is stretched or shrunk at random by up to [poll] jitter, so sources that share
               a host drift apart instead of firing together
    errors     a failing source waits backoff * 2^(errors - 1), at most max_backoff, instead
    floor      never sooner than the feed allows: RSS <ttl>, Cache-Control max-age, Retry-After (a floor is
               itself capped at max_backoff, so a hostile header cannot silence a source for ever)

The schedule lives in the `sources` table (next_poll_at, a lease per claimed source), so a restart loses
nothing and several workers share it. APScheduler only ticks the Dispatcher, every dispatch_every, with
max_instances=1 and coalescing (a slow tick or a sleeping laptop never piles up runs). The Dispatcher
keeps up to [poll] concurrency threads busy: each claims one due source at a time and polls it, so a
slow host holds one thread and never the others.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Mapping

from ingest.errors import PresswireError
from ingest.model import PollResult, SourceState
from ingest.settings import PollSettings
from store import repository

ADAPTIVE_WINDOW = timedelta(days=7)
RELEASE_WAIT = 5.0  # seconds a stopping worker waits for the database to take back its abandoned polls' sources


# --- the policy -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    next_poll_at: datetime
    interval: float  # the source's interval now (seconds, before jitter, floor or error backoff)


def plan_next_poll(poll: PollSettings, source: SourceState, now: datetime, rng: random.Random, *,
                   errors: int = 0, published: Sequence[datetime | None] | None = None,
                   floor: float = 0.0) -> Plan:
    """When to poll `source` again. `errors`: its failed polls in a row, this one included; `published`:
    the dates of the entries this poll read (None when it read none: 304, error); `floor`: the least wait
    the server asked for (see server_floor)."""
    interval = base_interval(poll, source, now, published)
    wait = min(poll.backoff * 2 ** min(errors - 1, 40), poll.max_backoff) if errors else interval
    wait = max(jittered(wait, poll.jitter, rng), min(floor, poll.max_backoff))
    return Plan(now + timedelta(seconds=wait), interval)


def base_interval(poll: PollSettings, source: SourceState, now: datetime,
                  published: Sequence[datetime | None] | None) -> float:
    if source.poll_interval:
        return max(source.poll_interval, poll.min_interval)
    if not poll.adaptive:
        return poll.interval
    if published is None:  # nothing read this time: keep what the last read chose
        return source.interval or poll.interval
    measured = publishing_interval(published, now)
    if measured is None:
        return poll.interval
    return min(max(measured, poll.min_interval), poll.max_interval)


def publishing_interval(published: Iterable[datetime | None], now: datetime) -> float | None:
    """The mean time between the feed's entries of the last 7 days, measured up to now (seconds):
    10 entries over the last hour -> 6 minutes; 2 over the last 6 days -> 3 days; none in the last 7 days
    -> 7 days or more. None when no entry has a (past) date to go by."""
    dated = [d for d in published if d is not None and d <= now]
    if not dated:
        return None
    recent = [d for d in dated if d >= now - ADAPTIVE_WINDOW]
    if not recent:
        return (now - max(dated)).total_seconds()
    return (now - min(recent)).total_seconds() / len(recent)


def jittered(seconds: float, jitter: float, rng: random.Random) -> float:
    return seconds * rng.uniform(1 - jitter, 1 + jitter) if jitter else seconds


def server_floor(*, ttl_minutes: int | None = None, headers: Mapping[str, str] | None = None,
                 retry_after: float | None = None) -> float:
    """The least wait before the next poll that the feed or server asked for, in seconds."""
    asked = [retry_after or 0.0, (ttl_minutes or 0) * 60.0, cache_max_age(headers or {})]
    return max(0.0, *asked)


def cache_max_age(headers: Mapping[str, str]) -> float:
    """Cache-Control max-age in seconds (0 when absent, or when the response may not be cached)."""
    directives = [d.strip().lower() for d in headers.get("cache-control", "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        seconds = value.strip().strip('"')
        if name.strip() == "max-age" and seconds.isascii() and seconds.isdigit():  # not "³": float() refuses it
            return float(seconds)
    return 0.0


# --- the dispatcher -------------------------------------------------------------------------------

class Dispatcher:
    """Keeps up to `concurrency` threads polling due sources, each claiming one source at a time.

    `tick()` starts threads for the free slots; a thread polls due sources until none is left (or, with
    `cutoff`, none that was due at the cutoff) or the dispatcher is stopping. `poll(source)` is
    ingest.pipeline.poll_source bound to a context; `claim(now, limit)` leases due sources;
    `renew(source_ids)` extends the leases of the sources being polled, which `renew_leases()` does (the
    service every `renew_every` seconds, and run_once while it waits), so a poll that outlasts its lease
    keeps its source."""

    def __init__(self, poll: Callable[[SourceState], PollResult],
                 claim: Callable[[datetime, int], list[SourceState]], clock: Callable[[], datetime],
                 concurrency: int, stopping: threading.Event | None = None,
                 on_error: Callable[[Exception], None] | None = None,
                 renew: Callable[[list[int]], None] | None = None, renew_every: float | None = None):
        self._poll, self._claim, self._clock, self._on_error = poll, claim, clock, on_error
        self._renew, self.renew_every = renew, renew_every
        self.concurrency = concurrency
        self.stopping = stopping or threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="poll")
        self._lock = threading.Condition()
        self._running = 0
        self._in_flight: dict[int, SourceState] = {}
        self.last_tick: float | None = None  # time.monotonic() of the last tick (health check)
        self.errors = 0  # unexpected errors reported so far (each ended a thread's turn)
        self.results: list[PollResult] | None = None  # collected during run_once only (a service would grow)

    def tick(self, cutoff: datetime | None = None) -> None:
        self.last_tick = time.monotonic()
        with self._lock:
            while self._running < self.concurrency and not self.stopping.is_set():
                self._running += 1
                self._pool.submit(self._work, cutoff)

    def run_once(self) -> list[PollResult]:
        """Poll everything due now (not what falls due meanwhile); returns this run's results."""
        with self._lock:
            self.results = []
        self.tick(cutoff=self._clock())
        while not self.wait(self.renew_every):
            self.renew_leases()
        with self._lock:
            results, self.results = self.results, None
        return results

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no thread is polling; False if `timeout` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: self._running == 0, timeout)

    def in_flight(self) -> list[SourceState]:
        with self._lock:
            return list(self._in_flight.values())

    def renew_leases(self) -> None:
        """Extend the leases of the sources being polled now."""
        if self._renew is not None and (ids := [source.id for source in self.in_flight()]):
            self._renew(ids)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _work(self, cutoff: datetime | None) -> None:
        """Poll due sources until none is left. An unexpected error (the database went away, a bug) ends
        this thread's turn and is reported; the next tick starts again."""
        try:
            while not self.stopping.is_set():
                source = self._next(cutoff)
                if source is None:
                    return
                try:
                    result = self._poll(source)
                finally:
                    with self._lock:
                        self._in_flight.pop(source.id, None)
                with self._lock:
                    if self.results is not None:
                        self.results.append(result)
        except Exception as exc:  # noqa: BLE001 - reported, never silently lost in the pool's future
            with self._lock:
                self.errors += 1
            if self._on_error is None:
                raise
            self._on_error(exc)
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    def _next(self, cutoff: datetime | None) -> SourceState | None:
        """Claim one due source (one UPDATE ... RETURNING: atomic on both engines, so threads need no lock)."""
        due = self._claim(cutoff or self._clock(), 1)
        if not due:
            return None
        with self._lock:
            self._in_flight[due[0].id] = due[0]
        return due[0]


def dispatcher(ctx) -> Dispatcher:
    """A Dispatcher over the context's store: claims with a [poll] lease in the worker's name."""
    from ingest.pipeline import poll_source

    lease = ctx.settings.poll.lease

    def claim(now: datetime, limit: int) -> list[SourceState]:
        lease_until = ctx.clock() + timedelta(seconds=lease)
        with ctx.sessions.begin() as s:
            return [d.state for d in repository.claim_due_sources(s, now, ctx.worker, lease_until, limit)]

    def renew(source_ids: list[int]) -> None:
        try:
            with ctx.sessions.begin() as s:
                repository.renew_leases(s, ctx.worker, source_ids, ctx.clock() + timedelta(seconds=lease))
        except Exception as exc:  # noqa: BLE001 - the database went away: the next renewal tries again
            ctx.log.error("lease renewal failed", error=f"{type(exc).__name__}: {exc}", sources=source_ids)

    def report(exc: Exception) -> None:
        ctx.log.error("dispatch failed", error=f"{type(exc).__name__}: {exc}",
                      exc_info=None if _database_said(exc) else exc)

    return Dispatcher(lambda source: poll_source(ctx, source), claim, ctx.clock,
                      ctx.settings.poll.concurrency, ctx.stopping, on_error=report,
                      renew=renew, renew_every=lease / 3 or None)


# --- the service ----------------------------------------------------------------------------------

def run_service(ctx, metrics=None) -> None:
    """Dispatch due sources every [poll] dispatch_every until SIGTERM/SIGINT, then stop taking work, give
    in-flight polls [poll] shutdown_grace to finish, and exit. A poll cut short saves nothing (a poll saves
    its items in one transaction at its end) and its source is released, due again at once."""
    from apscheduler.schedulers.background import BackgroundScheduler  # the service's alone: polls and
    from apscheduler.triggers.interval import IntervalTrigger  # backfills need not import it (~0.1 s)

    poll = ctx.settings.poll
    work = dispatcher(ctx)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(work.tick, IntervalTrigger(seconds=poll.dispatch_every), id="dispatch", max_instances=1,
                      coalesce=True, misfire_grace_time=None, next_run_time=datetime.now().astimezone())
    if work.renew_every:
        scheduler.add_job(work.renew_leases, IntervalTrigger(seconds=work.renew_every), id="renew",
                          max_instances=1, coalesce=True, misfire_grace_time=None)
    signals = threading.Event()
    with _stopped_by_signals(ctx, work, signals):
        server = metrics.serve(ctx.settings.service, health=lambda: _health(work, poll.dispatch_every),
                               log=ctx.log) if metrics else None
        ctx.log.info("service started", worker=ctx.worker, dispatch_every=poll.dispatch_every,
                     concurrency=poll.concurrency, metrics=server.url if server else None)
        scheduler.start()
        try:
            signals.wait()
            scheduler.shutdown(wait=False)
            _drain(ctx, work, poll.shutdown_grace)
        finally:
            if server:
                server.close()
    ctx.log.info("service stopped", worker=ctx.worker)


def run_once(ctx) -> list[PollResult]:
    """Poll what is due now, then return (`run --once`). SIGTERM/SIGINT stop it as they stop the service:
    no new source is claimed, polls in flight get [poll] shutdown_grace, the rest are abandoned and their
    sources released. (Without this a signal killed the run, or a KeyboardInterrupt ended it with exit code
    1, leaving the sources it was polling leased for [poll] lease: the next run skipped them.)

    An unexpected error (the database refused a claim or a save, a bug) is logged as it happens, as in the
    service, and then fails the run: cron must hear of a run that polled nothing because the database was
    locked. A source's own failures (HTTP errors, not a feed) are poll results, not errors of the run."""
    work = dispatcher(ctx)
    finished = threading.Event()  # set when the run is over, or by a signal
    outcome: list = []

    def once() -> None:
        try:
            outcome.append(work.run_once())
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome.append(exc)
        finally:
            finished.set()

    thread = threading.Thread(target=once, name="run-once", daemon=True)
    with _stopped_by_signals(ctx, work, finished):
        thread.start()
        finished.wait()
        if work.stopping.is_set():
            _drain(ctx, work, ctx.settings.poll.shutdown_grace)  # leaves the process unless polls end in time
        thread.join()  # run_once returns once its threads are done (which _drain waited for)
    work.close()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    if work.errors:
        raise PresswireError(f"run --once: {work.errors} unexpected error(s) stopped polling "
                             "(see the `dispatch failed` log lines)")
    return outcome[0]


@contextlib.contextmanager
def _stopped_by_signals(ctx, work: Dispatcher, signals: threading.Event) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT (Ctrl-C) stop `work` and set `signals` (see _stop). Python lets only the
    main thread set signal handlers: elsewhere (a caller embedding a poll in a thread) the signals stay as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, _frame: _stop(ctx, work, signum, signals))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _database_said(exc: Exception) -> bool:
    """An error the database (or the way to it) gave: refused or lost connections, timeouts, locks, a broken file.
    Its message says it all; a traceback of where presswire was at the time only buries it (a worker whose
    database went down logged one per poll in flight). Errors of presswire's own making keep theirs."""
    from sqlalchemy.exc import InterfaceError, OperationalError
    return isinstance(exc, (OperationalError, InterfaceError))


def _stop(ctx, work: Dispatcher, signum: int, signals: threading.Event) -> None:
    if not signals.is_set():
        work.stopping.set()
        signals.set()
        ctx.log.info("service stopping", signal=signal.Signals(signum).name, in_flight=len(work.in_flight()))


def _drain(ctx, work: Dispatcher, grace: float) -> None:
    """Let in-flight polls finish for `grace` seconds; then release what is left and leave without them."""
    if work.wait(grace):
        work.close()
        return
    left = [src.id for src in work.in_flight()]
    _release(ctx, left)
    ctx.log.warning("service abandoned polls", sources=left, grace=grace)
    ctx.extract.kill()  # else they (and the forkserver) outlive this process, holding its stdout/stderr open
    ctx.log.info("service stopped", worker=ctx.worker)
    sys.stderr.flush()
    os._exit(0)  # threads stuck in a request must not hold the process; nothing of theirs is half-saved


def _release(ctx, source_ids: list[int]) -> None:
    """Give back the sources of abandoned polls, waiting at most RELEASE_WAIT seconds for the database. It is
    often why the polls did not finish: down, its error ended the stop with a traceback and exit code 1;
    silent (a dead host or link), the stopping worker waited for it for ever. Unreleased, the leases expire
    after [poll] lease, and the other workers take the sources then."""
    failure: list[str] = []

    def release() -> None:
        try:
            with ctx.sessions.begin() as s:
                repository.release_leases(s, ctx.worker, source_ids)
        except Exception as exc:  # noqa: BLE001 - logged below; the worker leaves all the same
            failure.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=release, name="release-leases", daemon=True)
    thread.start()
    thread.join(RELEASE_WAIT)
    if thread.is_alive() or failure:
        ctx.log.error("leases not released", sources=source_ids, lease=ctx.settings.poll.lease,
                      error=failure[0] if failure else f"no answer from the database in {RELEASE_WAIT:g}s")


def _health(work: Dispatcher, every: float) -> tuple[bool, dict]:
    age = None if work.last_tick is None else time.monotonic() - work.last_tick
    healthy = age is not None and age < 3 * every + 30 and not work.stopping.is_set()
    return healthy, {"last_dispatch_seconds_ago": None if age is None else round(age, 1),
                     "polling": len(work.in_flight()), "stopping": work.stopping.is_set()}
