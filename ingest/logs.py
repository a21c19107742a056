"""structlog set-up: a chain of small processors; JSON lines unless the log stream is a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from ingest.settings import LogSettings


class _Stderr:
    """sys.stderr as it is when a line is written, not when logging was set up: while backfill's progress bar
    is shown on a terminal, rich puts a proxy there that prints each line above the bar. Written to the
    terminal itself, a log line was glued to the end of the bar and left a stale copy of the bar behind it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    """Log to `stream` (stderr by default, so stdout stays clean for --json output)."""
    stream = stream or _Stderr()
    json_lines = settings.format == "json" or (settings.format == "auto" and not stream.isatty())
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level(settings.level)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def _level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO
