"""Alembic environment: runs on the engine presswire hands over (store.db.alembic_config)."""

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


with engine.begin() as connection:
    if connection.dialect.name == "sqlite":
        # Python's sqlite3 opens a transaction only before INSERT/UPDATE/DELETE, so CREATE TABLE and the batch
        # table rebuilds would each commit on their own: a kill -9 mid-upgrade left tables without a revision,
        # which neither `poll` nor `db upgrade` could use. One explicit transaction makes the upgrade atomic.
        connection.exec_driver_sql("BEGIN")
    context.configure(connection=connection, target_metadata=Base.metadata, render_item=render_item,
                      include_name=include_name,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
        repair_sqlite_index(connection)  # a batch rebuild of `items` on SQLite drops the FTS triggers
