"""Shared test fixtures: the 127.0.0.1 fixture server, databases (SQLite and a real PostgreSQL), the CLI.

PostgreSQL: a throwaway cluster is started once per test session from the local server binaries
(fixtures/pg.py: initdb/pg_ctl, as the `postgres` user when we are root), and each test gets a fresh database in it.
Without the binaries the PostgreSQL variants are skipped, unless PRESSWIRE_TEST_REQUIRE_POSTGRES=1
(set by .ci/run), which turns that into a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `fixtures.server` imports in tests

from fixtures.pg import PostgresCluster, free_port as _free_port, pg_bindir  # noqa: E402,F401 - _free_port: tests import it
from fixtures.server import FixtureServer  # noqa: E402

# CI runs the property and fuzz tests on a fixed sequence of examples (a red CI must mean a change broke
# something); locally each run tries new ones. `--hypothesis-seed=N` replays a run.
from hypothesis import settings as _hypothesis  # noqa: E402

_hypothesis.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    _hypothesis.load_profile("ci")

IBN_SITE = ROOT / "fixtures" / "ibn" / "site"
SEEDS = ROOT / "fixtures" / "seeds"


@pytest.fixture
def server():
    """The IBN-like fixture site on 127.0.0.1; tests add routes for odd responses."""
    with FixtureServer(IBN_SITE) as srv:
        yield srv


@pytest.fixture
def empty_server():
    with FixtureServer(None) as srv:
        yield srv


# --- PostgreSQL ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres():
    bindir = pg_bindir()
    if bindir is None:
        if os.environ.get("PRESSWIRE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries not found and PRESSWIRE_TEST_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL server binaries not found (install Debian's postgresql)")
    cluster = PostgresCluster(bindir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file, and a database in the throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'presswire.db'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'presswire.db'}"


@pytest.fixture
def sessions(db_url):
    """A session factory on a fresh database of each engine, schema created."""
    from store import db
    engine = db.make_engine(db_url)
    db.ensure_schema(engine)
    yield db.session_factory(engine)
    engine.dispose()


# --- the CLI -------------------------------------------------------------------------------------

# The fixture servers listen on 127.0.0.1, which the SSRF guard (ingest/netguard.py) refuses unless allowed.
ALLOW_LOOPBACK = 'allow_networks = ["127.0.0.1/32"]\n'


def write_config(path: Path, db: str, sources: list[tuple[str, str]] = (), extra: str = "") -> Path:
    """A config for tests. Its [http] table allows 127.0.0.1; to add [http] keys, replace "[http]\\n"."""
    lines = [f'[database]\nurl = "{db}"\n',
             f'[http]\nretries = 0\nretry_backoff = 0\nhost_delay = 0\n{ALLOW_LOOPBACK}',
             '[service]\nmetrics_port = -1\n',  # no /metrics server, unless a test asks for one
             '[extract]\nprocesses = 0\n',  # in-thread: fast CLI runs; tests/test_workers.py covers the pool
             f'[output]\nqrcode_dir = "{path.parent / "qrcodes"}"\n', extra]
    for url, name in sources:
        lines.append(f'[[sources]]\nurl = "{url}"\nname = "{name}"\n')
    path.write_text("\n".join(lines))
    return path


class Presswire:
    """Runs `presswire --config <file> ...` in-process through click's CliRunner."""

    def __init__(self, config: Path):
        self.config = config

    def __call__(self, *args: str, ok: bool = True):
        from ingest.cli import cli
        result = CliRunner().invoke(cli, ["--config", str(self.config), *args], catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"presswire {' '.join(args)} exited {result.exit_code}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result


def log_events(result) -> list[dict]:
    """The structlog JSON lines a CLI run wrote to stderr."""
    import json
    return [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]


@pytest.fixture
def presswire(tmp_path, db_url, server):
    """The CLI, configured with the fixture IBN feed as a source, on each database engine."""
    config = write_config(tmp_path / "presswire.toml", db_url,
                          [(server.url("/bdc/feed.xml"), "InvestorBrandNetwork (IBN)")])
    return Presswire(config)
