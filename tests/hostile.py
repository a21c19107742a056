"""Helpers for the hostile-input tests: a feed built from parts, one poll of one source, what got stored."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import create_engine, text

from conftest import ALLOW_LOOPBACK, Presswire, log_events, write_config

RSS_TYPE = {"Content-Type": "application/rss+xml"}
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}


def rss(items: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> str:
    return f'{prolog}<rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link>{items}' \
           f'</channel></rss>'


def item(guid: str, title: str, link: str = "", description: str = "A summary.", extra: str = "") -> str:
    link_el = f"<link>{link}</link>" if link else ""
    return f"<item><title>{title}</title>{link_el}<guid isPermaLink=\"false\">{guid}</guid>" \
           f"<description>{description}</description>{extra}</item>"


def presswire_for(tmp_path: Path, db: str, url: str, http: str = "", extra: str = "",
                  allow: str = "127.0.0.1/32") -> Presswire:
    """The CLI with one source; `http` adds keys to its [http] table, `extra` whole tables; `allow` is the one
    non-public network it may reach."""
    config = write_config(tmp_path / "presswire.toml", db, [(url, "Hostile")], extra=extra)
    text = config.read_text().replace(ALLOW_LOOPBACK, f'allow_networks = ["{allow}"]\n')
    config.write_text(text.replace("[http]\n", f"[http]\n{http}"))
    return Presswire(config)


def poll_event(pw: Presswire) -> dict:
    """Poll once; the poll's log line."""
    return next(e for e in log_events(pw("poll")) if e["event"] == "poll")


def source_state(pw: Presswire) -> dict:
    [line] = pw("sources", "list", "--json").stdout.splitlines()
    return json.loads(line)


def items(pw: Presswire) -> list[dict]:
    return [json.loads(line) for line in pw("items", "list", "--json", "--all-copies").stdout.splitlines()]


ONE_LINE = {"items": ("title", "summary", "description", "source_link", "enclosure", "url", "qrcode"),
            "feed_entries": ("guid", "link", "raw_link", "enclosure", "author")}
MULTI_LINE = {"items": ("body_html", "body_text", "extraction_trail", "failure_reason"),
              "feed_entries": ("title", "summary_html", "content_html")}
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def stored_text(db_url: str) -> dict[str, list[str]]:
    """Every stored text value, by "table.column". Reading it at all proves valid UTF-8: SQLite's driver refuses
    to decode invalid UTF-8, PostgreSQL's UTF8 databases refuse to hold it."""
    engine = create_engine(db_url)
    out: dict[str, list[str]] = {}
    try:
        with engine.connect() as conn:
            for table in ONE_LINE:
                columns = ONE_LINE[table] + MULTI_LINE[table]
                for row in conn.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
                    for column, value in zip(columns, row):
                        out.setdefault(f"{table}.{column}", []).append(value or "")
    finally:
        engine.dispose()
    return out


def assert_clean_text(db_url: str) -> dict[str, list[str]]:
    """No stored string holds a control character (line breaks and tabs only where text has lines)."""
    stored = stored_text(db_url)
    for key, values in stored.items():
        table, column = key.split(".")
        pattern = CONTROL if column in ONE_LINE[table] else CONTROL_BUT_LINES
        bad = [v for v in values if pattern.search(v) or "\ufffe" in v or "\uffff" in v]
        assert not bad, f"{key} holds control characters: {bad[:3]!r}"
    return stored
