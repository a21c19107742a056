"""The service loop: an APScheduler job that dispatches due sources, state kept in the database.

The schedule itself (each source's next poll time, its lease) lives in the `sources` table, so a
restart loses nothing and several workers can share one database. APScheduler only ticks the
dispatcher: max_instances=1 and coalescing mean a slow dispatch or a sleeping laptop never piles up runs.
"""

from __future__ import annotations

import signal
import threading

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ingest.pipeline import Context, poll_due


def run_service(ctx: Context) -> None:
    """Dispatch due sources every `poll.dispatch_every` seconds until SIGTERM/SIGINT."""
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(poll_due, IntervalTrigger(seconds=ctx.settings.poll.dispatch_every), args=[ctx],
                      id="dispatch", max_instances=1, coalesce=True, misfire_grace_time=None,
                      next_run_time=ctx.clock())
    stopping = threading.Event()

    def stop(signum, _frame) -> None:
        if not stopping.is_set():
            stopping.set()
            ctx.log.info("service stopping", signal=signal.Signals(signum).name)
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ctx.log.info("service started", worker=ctx.worker, dispatch_every=ctx.settings.poll.dispatch_every)
    scheduler.start()
    ctx.log.info("service stopped", worker=ctx.worker)
