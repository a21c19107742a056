"""`python -m ingest` (and the `presswire` script, which runs ingest.__main__.main): the process ends
without the interpreter's teardown, so it must still print everything and exit with the command's code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def _presswire(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run with stdout block-buffered, as it is by default (these machines set PYTHONUNBUFFERED)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | {"PYTHONPATH": str(ROOT)} | env
    return subprocess.run([sys.executable, "-m", "ingest", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_output_larger_than_a_pipe_is_printed_whole_and_the_exit_code_is_zero(tmp_path):
    """300 sources as JSON lines (~100 KB through a pipe, block-buffered): every line arrives."""
    config = tmp_path / "presswire.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "p.db"}"\n' + "".join(
        f'[[sources]]\nurl = "https://wire{i}.example/feed.xml"\nname = "Wire {i} {"x" * 200}"\n' for i in range(300)))
    done = _presswire("--config", str(config), "sources", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["url"] for r in rows) == sorted(f"https://wire{i}.example/feed.xml" for i in range(300))


def test_a_summary_written_without_a_flush_is_not_lost(tmp_path):
    """backfill --json writes its summary to stdout without flushing it: the exit flushes it."""
    config = tmp_path / "presswire.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "p.db"}"\n[extract]\nprocesses = 0\n')
    done = _presswire("--config", str(config), "backfill", "--dir", str(ROOT / "fixtures" / "seeds"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["stored"] == 2 and summary["errors"] == 0, summary


def test_a_failing_command_keeps_its_exit_code_and_message(tmp_path):
    done = _presswire("--config", str(tmp_path / "missing.toml"), "sources", "list")
    assert done.returncode == 2 and "missing.toml" in done.stderr, (done.returncode, done.stderr)
    usage = _presswire("sources", "frobnicate")  # click's usage error
    assert usage.returncode == 2 and "No such command" in usage.stderr


def test_version_and_help_exit_zero():
    assert _presswire("--version").stdout.startswith("presswire, version")
    shown = _presswire("--help")
    assert shown.returncode == 0 and "backfill" in shown.stdout


def test_stdout_is_utf8_in_a_locale_that_is_not(tmp_path):
    """A title with curly quotes, CJK and an emoji, in a Latin-1 locale: documents and JSON lines are UTF-8
    (as the files `export` writes), not a UnicodeEncodeError traceback."""
    config = tmp_path / "presswire.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "p.db"}"\n[extract]\nprocesses = 0\n')
    (tmp_path / "docs").mkdir()
    title = "Café “Zürich” 中文 release 🚀"
    (tmp_path / "docs" / "a.txt").write_text(f"{title}\nThe café in Zürich announced “something” today, in a "
                                             "paragraph long enough to be one.\n", encoding="utf-8")
    assert _presswire("--config", str(config), "backfill", "--dir", str(tmp_path / "docs")).returncode == 0
    listed = _presswire("--config", str(config), "items", "list", "--json", PYTHONIOENCODING="latin-1")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["title"] == title
    shown = _presswire("--config", str(config), "items", "show", "1", PYTHONIOENCODING="latin-1")
    assert shown.returncode == 0 and f'title = "{title}"' in shown.stdout, shown.stderr
