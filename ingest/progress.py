"""How a backfill shows its progress: a rich progress bar on a terminal, periodic log lines otherwise,
and a summary at the end (a table, or JSON)."""

from __future__ import annotations

import json
import time
from typing import TextIO

from ingest.backfill import Tally
from ingest.frontmatter import rfc3339
from ingest.model import Item, SourceState

_COUNTERS = ("seen", "stored", "duplicates", "promotional", "failed", "filtered", "errors")


class RichReporter:
    """A progress bar on stderr: items finished of those found so far, counters, rate and ETA."""

    def __init__(self, console, dry_run: bool = False):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        self._progress = Progress(
            TextColumn("[bold]backfill" + (" (dry run)" if dry_run else "")), BarColumn(), MofNCompleteColumn(),
            TextColumn("stored {task.fields[stored]} dup {task.fields[duplicates]} "
                       "promo {task.fields[promotional]} failed {task.fields[failed]} errors {task.fields[errors]}"),
            TextColumn("{task.fields[rate]:.1f}/s"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, transient=False)
        self._task = self._progress.add_task("backfill", total=None, rate=0.0,
                                             **{k: 0 for k in _COUNTERS})
        self._console = console
        self._progress.start()

    def update(self, tally: Tally) -> None:
        self._progress.update(self._task, completed=tally.seen, total=max(tally.discovered, tally.seen) or None,
                              rate=tally.rate, **{k: getattr(tally, k) for k in _COUNTERS})

    def item(self, item: Item, source: SourceState) -> None:
        self._console.print(f"would store: {rfc3339(item.date)}  {source.name or source.url}  {item.title}",
                            markup=False, highlight=False)

    def close(self, tally: Tally) -> None:
        self.update(tally)
        self._progress.stop()


class LogReporter:
    """A structlog line every `every` seconds (and the dry run's items as log lines)."""

    def __init__(self, log, every: float):
        self._log, self._every = log, every
        self._last = time.monotonic()

    def update(self, tally: Tally) -> None:
        if time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            self._log.info("backfill progress", **tally.fields())

    def item(self, item: Item, source: SourceState) -> None:
        self._log.info("backfill would store", title=item.title, date=rfc3339(item.date),
                       source=source.name or source.url, link=item.source_link, url=item.slug)

    def close(self, tally: Tally) -> None:
        pass


def print_summary(tally: Tally, out: TextIO, *, as_json: bool, dry_run: bool) -> None:
    fields = {**tally.fields(), "dry_run": dry_run}
    if as_json:
        out.write(json.dumps(fields) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    table = Table("backfill", "count", box=None, pad_edge=False)
    labels = {"stored": "would store" if dry_run else "stored", "items_per_s": "items/s", "elapsed_s": "seconds"}
    for key in ("discovered", *_COUNTERS, "retried", "recovered", "units", "elapsed_s", "items_per_s"):
        table.add_row(labels.get(key, key), str(fields[key]))
    console = Console(file=out, width=100)
    console.print(table)
    if dry_run:
        console.print("dry run: nothing was written")
