"""`presswire items list` filters: source, since/until, search, limit; JSON lines and the table."""

from __future__ import annotations

import json
import re

import pytest

from conftest import Presswire, write_config
from reading import add_source, make_item, open_store, promo, save


@pytest.fixture
def cli(tmp_path, db_url):
    engine, sessions = open_store(db_url)
    a = add_source(sessions, "https://a.example/feed", "A Wire")
    b = add_source(sessions, "https://b.example/feed", "B Wire")
    save(sessions, a, [make_item(1, "Copper demand rises", body="Copper copper."),
                       make_item(2, "Gold steady", body="Gold and a little copper.")])
    save(sessions, b, [make_item(3, "Copper mine sold", body="A mine.", promo=promo("press_release", ("NYSE:CU",))),
                       make_item(4, "Zinc report", promo=promo("promotional", ("OTC:ZNC", "CSE:CU")))])
    engine.dispose()
    return Presswire(write_config(tmp_path / "presswire.toml", db_url))


def _titles(cli, *args) -> list[str]:
    return [json.loads(line)["title"] for line in cli("items", "list", "--json", *args).stdout.splitlines()]


def test_filters(cli):
    assert _titles(cli) == ["Zinc report", "Copper mine sold", "Gold steady", "Copper demand rises"]
    assert _titles(cli, "--source", "https://b.example/feed") == ["Zinc report", "Copper mine sold"]
    assert _titles(cli, "--since", "2025-05-15T14:00:00Z", "--until", "2025-05-15T16:00:00") == \
        ["Copper mine sold", "Gold steady"]
    assert _titles(cli, "--search", "copper") == ["Copper demand rises", "Copper mine sold", "Gold steady"]
    assert _titles(cli, "--search", "copper", "--source", "2", "--limit", "5") == ["Copper mine sold"]
    assert _titles(cli, "--limit", "1") == ["Zinc report"]
    assert _titles(cli, "--since", "1d") == []  # the items are dated 2025
    assert _titles(cli, "--label", "promotional") == ["Zinc report"]
    assert _titles(cli, "--ticker", "cu") == ["Zinc report", "Copper mine sold"]
    assert _titles(cli, "--ticker", "nyse:cu", "--search", "copper") == ["Copper mine sold"]


def test_bad_filters_are_clear_errors(cli):
    bad = cli("items", "list", "--since", "yesterday-ish", ok=False)
    assert bad.exit_code == 2 and "since 'yesterday-ish': expected a date" in bad.stderr
    ticker = cli("items", "list", "--ticker", "QS;DROP", ok=False)
    assert ticker.exit_code == 2 and "expected a symbol" in ticker.stderr
    words = cli("items", "list", "--search", "lithium " * 51, ok=False)
    assert words.exit_code == 2 and "search text of 51 words: at most 50 words" in words.stderr
    missing = cli("items", "list", "--source", "99", ok=False)
    assert missing.exit_code == 3 and "--source 99: no such source" in missing.stderr


def test_dates_beyond_year_1_to_9999_are_clear_errors(cli):
    """datetime holds years 1 to 9999 only: an age or an offset that leaves them is a bad filter (exit 2)."""
    for option, value in (("--since", "1000000d"), ("--until", "99999999999999d"),
                          ("--since", "0001-01-01T00:00:00+01:00"), ("--until", "9999-12-31T23:00:00-05:00")):
        bad = cli("items", "list", option, value, ok=False)
        assert bad.exit_code == 2 and f"{option[2:]} {value!r}: out of range" in bad.stderr, bad.stderr
    export = cli("export", "--format", "jsonl", "--out", "-", "--changed-since", "1000000d", ok=False)
    assert export.exit_code == 2 and "changed-since '1000000d': out of range" in export.stderr


def test_ids_too_large_for_the_database_are_no_such_source_or_item(cli):
    """Beyond the id columns (64-bit on SQLite, 32-bit on PostgreSQL), or digits int() refuses: not found."""
    for ref in ("99999999999999999999", "2147483648", "²", "9" * 5000):
        missing = cli("items", "list", "--source", ref, ok=False)
        assert missing.exit_code == 3 and f"--source {ref}: no such source" in missing.stderr, missing.stderr
    for article_id in ("99999999999999999999", "2147483648"):
        shown = cli("items", "show", article_id, ok=False)
        assert shown.exit_code == 1 and f"items show {article_id}: no such item" in shown.stderr, shown.stderr
    assert _titles(cli, "--source", "0002") == ["Zinc report", "Copper mine sold"]


def test_help_shows_the_filters(cli):
    out = cli("items", "list", "--help").stdout
    for flag in ("--source", "--since", "--until", "--search", "--label", "--ticker", "--limit", "--json"):
        assert flag in out


def _run_on_a_terminal(config, *args: str) -> str:
    """`presswire ... items list` with stdout on a pseudo-terminal, as a person runs it."""
    import os
    import pty
    import subprocess
    import sys

    from conftest import ROOT
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(config), *args], cwd=ROOT,
                            stdout=follower, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "160"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode())  # without the terminal's bold


def test_a_table_on_a_terminal_and_json_lines_when_piped(cli):
    shown = _run_on_a_terminal(cli.config, "items", "list", "--label", "promotional")
    lines = [line.split() for line in shown.splitlines() if line.strip()]
    assert lines[0] == ["id", "date", "source", "label", "title", "copies", "body"]
    assert " ".join(lines[1]).endswith("B Wire promotional Zinc report 1 feed"), shown
    assert "{" not in shown
    piped = cli("items", "list").stdout  # CliRunner's stdout is not a terminal: JSON lines without --json
    assert [json.loads(line)["title"] for line in piped.splitlines()][0] == "Zinc report"


def test_tables_show_feed_text_as_it_is_never_as_rich_markup(tmp_path, db_url):
    """Titles, source names and errors come from feeds: rich read "[b]...[/b]" and ":smile:" as markup
    (dropped, an emoji), and a "[/]" stopped `items list` and `sources list` with a MarkupError traceback."""
    engine, sessions = open_store(db_url)
    name, title = "[red]Evil[/red] :smile: Wire", "Q1 [/] results [b]up[/b]"
    save(sessions, add_source(sessions, "https://a.example/feed", name), [make_item(1, title)])
    engine.dispose()
    cli = Presswire(write_config(tmp_path / "presswire.toml", db_url))
    assert f"{name}  https://a.example/feed" in cli("sources", "list").stdout  # piped: a table too
    shown = _run_on_a_terminal(cli.config, "items", "list")
    assert re.search(rf"{re.escape(name)} +- +{re.escape(title)} ", shown), shown
