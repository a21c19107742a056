from __future__ import annotations

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
    ("[http\n", r"not valid TOML"),
])
def test_wrong_config_names_file_key_and_expected_type(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(path, environ={})
    assert str(path) in str(err.value) or "TOML" in str(err.value)


def test_misspelt_environment_key_is_an_error():
    with pytest.raises(ConfigError, match="PRESSWIRE_HTTP_MAXBYTES: \\[http\\] has no key 'maxbytes'"):
        load_settings(None, environ={"PRESSWIRE_HTTP_MAXBYTES": "1"})


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_cli_reports_config_error_with_exit_code_2(tmp_path):
    from click.testing import CliRunner
    from ingest.cli import cli
    path = _write(tmp_path, "[http]\nretries = \"two\"\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "sources", "list"])
    assert result.exit_code == 2
    assert f"presswire: error: {path}: [http] retries: expected an integer" in result.stderr
