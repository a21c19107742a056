"""full-text search: SQLite FTS5 table + triggers, PostgreSQL tsvector column + GIN index

The names are those of store/search.py. On SQLite, a later revision that makes Alembic rebuild the
items table (batch "move and copy") drops these triggers with the old table: store/migrations/env.py
puts them back after every migration run (store.search.repair_sqlite_index).

Revision ID: 0004_search
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op

revision = '0004_search'
down_revision = '0003'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, title, summary, body_text)
        VALUES (new.id, new.title, new.summary, new.body_text); END""",
    """CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body_text)
        VALUES ('delete', old.id, old.title, old.summary, old.body_text); END""",
    """CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, body_text ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, body_text)
        VALUES ('delete', old.id, old.title, old.summary, old.body_text);
        INSERT INTO items_fts(rowid, title, summary, body_text)
        VALUES (new.id, new.title, new.summary, new.body_text); END""",
)
SQLITE_CREATE = (
    """CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, body_text, content='items',
        content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')""",
    *SQLITE_TRIGGERS,
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",  # index the rows already there
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS items_fts_update",
    "DROP TRIGGER IF EXISTS items_fts_delete",
    "DROP TRIGGER IF EXISTS items_fts_insert",
    "DROP TABLE IF EXISTS items_fts",
)
# A tsvector is limited to 1 MB: only the first 200,000 characters of a body are indexed.
POSTGRES_CREATE = (
    """ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(summary, '')), 'B') ||
        setweight(to_tsvector('english', left(coalesce(body_text, ''), 200000)), 'C')) STORED""",
    "CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)",
)
POSTGRES_DROP = (
    "DROP INDEX IF EXISTS ix_items_search_vector",
    "ALTER TABLE items DROP COLUMN IF EXISTS search_vector",
)


def upgrade() -> None:
    for statement in {"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    for statement in {"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
