from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT
from ingest.errors import ConfigError
from ingest.settings import load_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "presswire.toml"
    path.write_text(text)
    return path


def test_defaults_use_a_sqlite_file():
    s = load_settings(None, environ={})
    assert s.database.url.startswith("sqlite:///") and s.poll.interval == 900 and s.sources == ()


def test_example_config_loads_and_lists_real_feeds():
    s = load_settings(ROOT / "config" / "presswire.example.toml", environ={})
    assert len(s.sources) >= 5
    assert all(src.url.startswith("https://") and src.name for src in s.sources)


def test_file_values_and_durations(tmp_path):
    s = load_settings(_write(tmp_path, '[poll]\ninterval = "15m"\narticle_workers = 2\n'
                                       '[[sources]]\nurl = "https://a.example/feed"\nname = "A"\n'), environ={})
    assert s.poll.interval == 900.0 and s.poll.article_workers == 2
    assert s.sources[0].url == "https://a.example/feed" and s.sources[0].name == "A"


def test_environment_overrides_file(tmp_path):
    path = _write(tmp_path, '[database]\nurl = "sqlite:///file.db"\n')
    s = load_settings(path, environ={"PRESSWIRE_DATABASE_URL": "postgresql+psycopg://x/y",
                                     "PRESSWIRE_HTTP_MAX_BYTES": "1234", "PRESSWIRE_POLL_FETCH_ARTICLES": "false",
                                     "PRESSWIRE_POLL_INTERVAL": "2h", "UNRELATED": "1"})
    assert s.database.url == "postgresql+psycopg://x/y"
    assert s.http.max_bytes == 1234 and s.poll.fetch_articles is False and s.poll.interval == 7200


def test_config_path_from_environment(tmp_path):
    path = _write(tmp_path, '[log]\nlevel = "debug"\n')
    assert load_settings(None, environ={"PRESSWIRE_CONFIG": str(path)}).log.level == "debug"


@pytest.mark.parametrize("text,message", [
    ("[http]\nmax_bytes = \"big\"\n", r"\[http\] max_bytes: expected an integer, got string 'big'"),
    ("[http]\ntimeout = 3\n", r"\[http\]: unknown key 'timeout' \(known: user_agent"),
    ("[pol]\ninterval = 3\n", r"unknown section or key 'pol'"),
    ("[poll]\ninterval = \"soon\"\n", r"\[poll\] interval: expected a duration"),
    ("[poll]\nfetch_articles = 1\n", r"fetch_articles: expected a boolean"),
    ("sources = 3\n", r"'sources' must be an array of tables"),
    ("[[sources]]\nname = \"x\"\n", r"sources\[0\] has no 'url'"),
    # a source that is no feed URL was stored and failed every poll; a second table of one URL replaced the
    # first's name and interval without a word
    ('[[sources]]\nurl = "feeds/wire.xml"\n', r"sources\[0\] url: expected an http\(s\) URL, got 'feeds/wire.xml'"),
    ('[[sources]]\nurl = "https://[::1/feed"\n', r"sources\[0\] url: expected an http\(s\) URL"),
    ('[[sources]]\nurl = "https://a.example/feed"\ninterval = "5m"\n[[sources]]\nurl = "https://b.example/feed"\n'
     '[[sources]]\nurl = "https://a.example/feed"\nname = "A"\n',
     r"sources\[2\] url: 'https://a.example/feed' is already sources\[0\]"),
    ("[http\n", r"not valid TOML"),
])
def test_wrong_config_names_file_key_and_expected_type(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(path, environ={})
    assert str(path) in str(err.value) or "TOML" in str(err.value)


@pytest.mark.parametrize("text,message", [
    ("[poll]\ninterval = inf\n", r"\[poll\] interval: expected a duration .*got number inf"),
    ("[poll]\nmax_backoff = 1e400\n", r"\[poll\] max_backoff: expected a duration .*got number inf"),
    ("[poll]\ninterval = 1e12\n", r"\[poll\] interval: expected a duration .*at most 100 years"),
    ('[poll]\nbackoff = "999999999999d"\n', r"\[poll\] backoff: expected a duration .*at most 100 years"),
    ('[[sources]]\nurl = "https://a.example/feed"\ninterval = inf\n', r"sources\[0\] interval: expected a duration"),
    ("[dedup]\njaccard_threshold = nan\n", r"\[dedup\] jaccard_threshold: expected a finite number, got number nan"),
    ("[service]\nmetrics_port = 70000\n", r"\[service\] metrics_port: expected a port from 0 to 65535, or -1"),
    ("[service]\nmetrics_port = -2\n", r"\[service\] metrics_port: expected a port"),
    ("[web]\nport = 65536\n", r"\[web\] port: expected a port from 0 to 65535, got 65536"),
    # read as "console" / "info" before; `serve` handed the level to uvicorn, which stopped with a KeyError
    ('[log]\nformat = "jsonl"\n', r"\[log\] format: expected one of auto, json, console, got 'jsonl'"),
    ('[log]\nlevel = "warn"\n', r"\[log\] level: expected one of debug, info, warning, error, critical, got 'warn'"),
])
def test_values_no_poll_or_server_can_use_are_refused(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, text), environ={})


@pytest.mark.parametrize("var,value,message", [
    ("PRESSWIRE_POLL_LEASE", "inf", "expected a duration"),
    ("PRESSWIRE_POLL_MAX_BACKOFF", "1e400", "expected a duration"),
    ("PRESSWIRE_DEDUP_JACCARD_THRESHOLD", "nan", "expected a finite number"),
    ("PRESSWIRE_SERVICE_METRICS_PORT", "70000", "expected a port"),
    ("PRESSWIRE_WEB_PORT", "-1", "expected a port"),
    ("PRESSWIRE_LOG_FORMAT", "text", "format: expected one of auto, json, console"),
    ("PRESSWIRE_LOG_LEVEL", "verbose", "level: expected one of debug, info"),
])
def test_environment_values_no_poll_or_server_can_use_are_refused(var, value, message):
    with pytest.raises(ConfigError, match=f"environment {var}: .*{message}"):
        load_settings(None, environ={var: value})


def test_log_levels_are_read_in_any_case():
    assert load_settings(None, environ={"PRESSWIRE_LOG_LEVEL": "WARNING"}).log.level == "WARNING"


def test_the_edges_of_the_ranges_are_allowed_and_past_them_refused(tmp_path):
    s = load_settings(_write(tmp_path, '[service]\nmetrics_port = -1\n[web]\nport = 65535\n'
                                       '[poll]\nmax_backoff = "36500d"\n'), environ={})
    assert (s.service.metrics_port, s.web.port, s.poll.max_backoff) == (-1, 65535, 36500 * 86400)
    with pytest.raises(ConfigError, match="metrics_port"):
        load_settings(None, environ={"PRESSWIRE_SERVICE_METRICS_PORT": "65536"})
    with pytest.raises(ConfigError, match="PRESSWIRE_POLL_MAX_BACKOFF: expected a duration"):
        load_settings(None, environ={"PRESSWIRE_POLL_MAX_BACKOFF": "36501d"})


def test_run_with_a_metrics_port_past_65535_is_a_config_error(tmp_path):
    from click.testing import CliRunner
    from ingest.cli import cli
    path = _write(tmp_path, f'[database]\nurl = "sqlite:///{tmp_path}/p.db"\n[service]\nmetrics_port = 70000\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "run", "--once"])
    assert result.exit_code == 2
    assert f"presswire: error: {path}: [service] metrics_port: expected a port" in result.stderr


def test_environment_variables_of_one_section_are_checked_together():
    """Applied one at a time, lowering both intervals was refused half-way: max 2m against the default min 5m."""
    both = {"PRESSWIRE_POLL_MIN_INTERVAL": "1m", "PRESSWIRE_POLL_MAX_INTERVAL": "2m"}
    s = load_settings(None, environ=both)
    assert (s.poll.min_interval, s.poll.max_interval) == (60, 120)
    with pytest.raises(ConfigError, match=r"environment PRESSWIRE_POLL_MAX_INTERVAL, PRESSWIRE_POLL_MIN_INTERVAL: "
                                          r"min_interval \(180s\) is longer than max_interval \(120s\)"):
        load_settings(None, environ={**both, "PRESSWIRE_POLL_MIN_INTERVAL": "3m"})


def test_misspelt_environment_key_is_an_error():
    with pytest.raises(ConfigError, match="PRESSWIRE_HTTP_MAXBYTES: \\[http\\] has no key 'maxbytes'"):
        load_settings(None, environ={"PRESSWIRE_HTTP_MAXBYTES": "1"})


@pytest.mark.parametrize("var, meant", [("PRESSWIRE_DB_URL", "PRESSWIRE_DATABASE_URL"),
                                        ("PRESSWIRE_DATABSE_URL", "PRESSWIRE_DATABASE_URL"),
                                        ("PRESSWIRE_WEBPORT", "PRESSWIRE_WEB_PORT")])
def test_a_misspelt_section_is_an_error_naming_the_setting_meant(var, meant):
    """An unknown section was skipped in silence: PRESSWIRE_DB_URL left the service on the default SQLite file."""
    with pytest.raises(ConfigError, match=f"environment {var}: no such setting; did you mean {meant}\\?"):
        load_settings(None, environ={var: "postgresql+psycopg://db/presswire"})


def test_other_presswire_names_are_left_alone():
    """deploy/ sets PRESSWIRE_WORKERS (how many to start), .ci/run the suite's PRESSWIRE_TEST_* switches."""
    environ = {"PRESSWIRE_WORKERS": "4", "PRESSWIRE_TEST_REQUIRE_POSTGRES": "1", "PRESSWIRE_LOG_FORMAT": "json"}
    assert load_settings(None, environ=environ).log.format == "json"


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_a_config_file_that_is_not_utf8_or_cannot_be_read_is_a_config_error(tmp_path):
    """tomllib lets a UnicodeDecodeError through, and opening can fail for other reasons than absence:
    both were tracebacks (exit 1)."""
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[[sources]]\nurl = "https://a.example/feed"\nname = "Caf\xe9"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{latin1}: not valid TOML: line 3 is not UTF-8 text (byte 0xe9)")):
        load_settings(latin1, environ={})
    through_a_file = latin1 / "presswire.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{through_a_file}: cannot read the config file: Not a directory")):
        load_settings(through_a_file, environ={})
    from click.testing import CliRunner
    from ingest.cli import cli
    result = CliRunner().invoke(cli, ["--config", str(latin1), "sources", "list"])
    assert result.exit_code == 2 and result.stderr.startswith(f"presswire: error: {latin1}: not valid TOML")



def test_a_config_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    """Windows editors save UTF-8 with a byte-order mark; tomllib read it as "Invalid statement (line 1)"."""
    path = tmp_path / "bom.toml"
    path.write_bytes('\ufeff[[sources]]\nurl = "https://a.example/feed"\nname = "Café"\n'.encode())
    assert [s.name for s in load_settings(path, environ={}).sources] == ["Café"]

def test_cli_reports_config_error_with_exit_code_2(tmp_path):
    from click.testing import CliRunner
    from ingest.cli import cli
    path = _write(tmp_path, "[http]\nretries = \"two\"\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "sources", "list"])
    assert result.exit_code == 2
    assert f"presswire: error: {path}: [http] retries: expected an integer" in result.stderr


def test_a_database_url_of_no_known_dialect_is_a_config_error():
    """"postgres://" (Heroku's spelling) has no SQLAlchemy dialect: it was a NoSuchModuleError traceback."""
    from click.testing import CliRunner
    from ingest.cli import cli
    env = {"PRESSWIRE_CONFIG": None, "PRESSWIRE_DATABASE_URL": "postgres://u:secret@127.0.0.1:1/p"}
    result = CliRunner().invoke(cli, ["db", "current"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr == ("presswire: error: database url postgres://u:***@127.0.0.1:1/p: no database dialect "
                             "'postgres'; expected sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB\n")
