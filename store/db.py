"""Engine and session factory: SQLite pragmas, PostgreSQL pooling, and the schema (Alembic) checks.

Several workers may share one PostgreSQL database: schema creation and migrations take a session-level
advisory lock (MIGRATION_LOCK), so workers starting at once on an empty database, or two `presswire db
upgrade` runs, migrate one after the other instead of racing on CREATE TABLE.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ingest.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x70726573_6d696772  # "presmigr": held while a process creates or migrates the schema
# The newest revision in MIGRATIONS (tests/test_migrations.py checks that it is). Every command checks the
# database against it; Alembic (~0.1 s of imports, and reading every revision file) is loaded only when
# the database is not at this revision: to create, migrate or explain.
HEAD = "0011_items_title_date"


def pool_size_for(concurrency: int) -> int:
    """Connections a worker keeps: one per source polled at once (a poll holds at most one at a time),
    plus the dispatcher's claim and one spare. The pool may overflow by as many again under a burst."""
    return max(1, concurrency) + 2


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout, its folder created.
    PostgreSQL gets a pool of `pool_size` (+ as many overflow) connections, checked before use and named
    `presswire` in pg_stat_activity."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database url {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                             pool_recycle=1800, connect_args=_pg_connect_args(parsed.query))
    except NoSuchModuleError as exc:  # a name SQLAlchemy has no dialect for: "postgres://" (Heroku's spelling)
        raise ConfigError(f"database url {parsed.render_as_string()}: no database dialect "
                          f"'{parsed.drivername}'; expected sqlite:///PATH or "
                          "postgresql+psycopg://USER:PASSWORD@HOST/DB") from exc
    except ImportError as exc:
        raise ConfigError(f"database url {parsed.render_as_string()}: driver not installed ({exc}); "
                          "for PostgreSQL install presswire[postgres]") from exc


# libpq connection parameters, each unless the URL's query sets it: a name in pg_stat_activity, and timeouts
# that notice a database host gone silent (a dead machine, a cut link) in about a minute, not after the
# kernel's two hours of TCP keepalive: a connect gives up after 10 s, and an idle connection is probed after
# 30 s, every 10 s, 3 times; data sent and not acknowledged for 60 s ends it too. A worker's poll then fails
# with an error instead of hanging, and its lease expires for the other workers.
PG_CONNECT_DEFAULTS = {"application_name": "presswire", "connect_timeout": "10", "keepalives": "1",
                       "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3",
                       "tcp_user_timeout": "60000"}


def _pg_connect_args(query) -> dict:
    return {key: value for key, value in PG_CONNECT_DEFAULTS.items() if key not in query}


SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000",
                  "temp_store=MEMORY")
"""temp_store=MEMORY: an insert into `items` fires the full-text index's trigger, so SQLite keeps a statement
journal; past 64 KiB it spilled to a temporary file, which was created, written a page at a time and deleted
in every transaction that saved a batch: ~50 write calls per item stored (strace: 142,684 for 2,000 items,
42,876 with this pragma). In memory, a statement journal lasts one statement. The sorts and temporary tables
SQLite builds for a query no index serves are kept in memory too."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreError(f"database {engine.url.render_as_string()}: cannot connect: {exc.orig}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command
    with migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command
    with migration_lock(engine):
        command.downgrade(alembic_config(engine), revision)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process at a time creates or migrates the schema (the lock is held on a
    connection of its own; the migration runs on another). Nothing to do on SQLite: the migration's
    transaction takes the write lock before it reads anything (BEGIN IMMEDIATE, store/migrations/env.py)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse an out-of-date (or newer) one with a clear message."""
    if _at_head(engine):
        return
    from alembic import command
    head = head_revision()
    if current_revision(engine) == head:
        return
    with migration_lock(engine):
        current = current_revision(engine)  # another worker may have created it while we waited
        if current == head:
            return
        if current is None and not inspect(engine).get_table_names():
            command.upgrade(alembic_config(engine), "head")
            return
    raise StoreError(_schema_mismatch(engine, current, head))


def database_exists(url: str) -> bool:
    """False for a SQLite file that does not exist or is empty (connecting would create or write it); True
    otherwise (a server's database: connecting tells)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return True
    path = Path(parsed.database)
    return path.exists() and path.stat().st_size > 0


def has_schema(engine: Engine) -> bool:
    """Whether the database has the schema, checked without creating it (a dry run): False when it is empty;
    a database at another revision is a StoreError, as in ensure_schema."""
    if _at_head(engine):
        return True
    current = current_revision(engine)
    if current is None and not inspect(engine).get_table_names():
        return False
    raise StoreError(_schema_mismatch(engine, current, head_revision()))


def _at_head(engine: Engine) -> bool:
    """Whether the database's Alembic version is HEAD, read without Alembic; False when it cannot tell
    (no alembic_version table yet, no connection: the full check says why)."""
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text("SELECT version_num FROM alembic_version"))] == [(HEAD,)]
    except DBAPIError:
        return False


def _schema_mismatch(engine: Engine, current: str | None, head: str) -> str:
    where = f"database {engine.url.render_as_string()}: schema is at revision {current or 'none'}"
    if current is not None and not _known_revision(current):
        return (f"{where}, which this presswire does not know (it needs {head}): the database was migrated by "
                "a newer presswire; upgrade presswire here too")
    return f"{where}, this presswire needs {head}; run `presswire db upgrade` first"


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False
