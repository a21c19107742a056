"""Alembic environment: runs on the engine presswire hands over (store.db.alembic_config).

On SQLite, foreign keys are off while migrations run (SQLite only changes that outside a transaction):
a batch operation rebuilds a table (create a copy, DROP the old one, rename), and with foreign keys on,
that DROP deletes or nulls every row of other tables referring to it (ON DELETE CASCADE / SET NULL),
e.g. item_origins when `items` is rebuilt. `PRAGMA foreign_key_check` then checks the result before
the commit, and the connection goes back to the pool with foreign keys on.
"""

from alembic import context
from sqlalchemy import create_engine

from store.search import include_name, repair_sqlite_index
from store.tables import Base, UTCDateTime

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))


def render_item(kind, obj, _autogen_context):
    """Migrations name plain SQLAlchemy types, so they never depend on today's store.tables."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def sqlite_foreign_keys(connection, on: bool) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        connection.commit()


def check_sqlite_foreign_keys(connection) -> None:
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migration left rows whose foreign keys point nowhere: {broken[:10]}")


with engine.connect() as connection:
    sqlite_foreign_keys(connection, on=False)
    try:
        with connection.begin():
            if connection.dialect.name == "sqlite":
                # Python's sqlite3 opens a transaction only before INSERT/UPDATE/DELETE, so CREATE TABLE and the
                # batch table rebuilds would each commit on their own: a kill -9 mid-upgrade left tables without
                # a revision, which neither `poll` nor `db upgrade` could use. One explicit transaction makes the
                # upgrade atomic. IMMEDIATE: it takes the write lock first, waiting out another process that is
                # creating or migrating the schema (busy_timeout), then reads the revision that one left. A
                # deferred BEGIN read first, and SQLite does not wait to turn a read into a write: the second of
                # two processes started together on a new file (`run` and `serve`) failed "database is locked".
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            context.configure(connection=connection, target_metadata=Base.metadata, render_item=render_item,
                              include_name=include_name,
                              render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
                repair_sqlite_index(connection)  # a batch rebuild of `items` on SQLite drops the FTS triggers
            check_sqlite_foreign_keys(connection)
    finally:
        sqlite_foreign_keys(connection, on=True)
