"""Full-text search over items' title, summary and body, on SQLite (FTS5) and PostgreSQL (tsvector).

    SQLite      items_fts: an FTS5 external-content table over items(title, summary, body_text),
                kept in sync by triggers on items; ranked by bm25 (title weighs most).
    PostgreSQL  items.search_vector: a generated tsvector column (title A, summary B, body C) with a
                GIN index; ranked by ts_rank.

Both are created by the Alembic revision 0004_search. On SQLite, a later revision that rebuilds the items
table (Alembic batch "move and copy", e.g. to add a foreign key) drops its triggers with the old table:
`repair_sqlite_index`, run by store/migrations/env.py after every migration run, puts them back and
rebuilds the index, so no revision has to remember it. They are not ORM columns
(SQLAlchemy cannot describe an FTS5 table or a dialect-only generated column), so `include_name` tells
Alembic's autogenerate and compare to leave them alone.

User text never reaches FTS syntax: `fts5_query` keeps only word tokens and quotes each one;
PostgreSQL parses it with plainto_tsquery, which accepts any input. Every word is required
(no operators) on both engines.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Connection, Select, column, func, literal_column, select, table, text

FTS_TABLE = "items_fts"
TS_COLUMN = "search_vector"
TS_INDEX = "ix_items_search_vector"
TS_CONFIG = "english"
BM25_WEIGHTS = (10.0, 4.0, 1.0)  # title, summary, body
_TOKEN = re.compile(r"\w+", re.UNICODE)


SQLITE_TRIGGERS = {
    "items_fts_insert": f"""CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO {FTS_TABLE}(rowid, title, summary, body_text)
        VALUES (new.id, new.title, new.summary, new.body_text); END""",
    "items_fts_delete": f"""CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, summary, body_text)
        VALUES ('delete', old.id, old.title, old.summary, old.body_text); END""",
    "items_fts_update": f"""CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, body_text ON items BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, summary, body_text)
        VALUES ('delete', old.id, old.title, old.summary, old.body_text);
        INSERT INTO {FTS_TABLE}(rowid, title, summary, body_text)
        VALUES (new.id, new.title, new.summary, new.body_text); END""",
}


def repair_sqlite_index(connection: Connection) -> bool:
    """On SQLite, when items_fts exists but a sync trigger is missing: recreate the triggers and rebuild
    the index from items. True when it had to. A no-op on PostgreSQL (a generated column cannot be lost)."""
    if connection.dialect.name != "sqlite":
        return False
    names = set(connection.scalars(text("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")))
    missing = [name for name in SQLITE_TRIGGERS if name not in names]
    if FTS_TABLE not in names or not missing:
        return False
    for name in missing:
        connection.execute(text(SQLITE_TRIGGERS[name]))
    connection.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))
    return True


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic filter: the search objects are managed by hand, not by autogenerate."""
    if type_ == "table":
        return not (name or "").startswith(FTS_TABLE)
    if type_ == "column":
        return not (name == TS_COLUMN and parent_names.get("table_name") == "items")
    if type_ == "index":
        return name != TS_INDEX
    return True


def fts5_query(user_text: str) -> str | None:
    """An FTS5 MATCH expression for what a user typed: each word quoted, all required. None if no words."""
    tokens = _TOKEN.findall(user_text)
    return " ".join(f'"{t}"' for t in tokens) if tokens else None


def matching(dialect: str, user_text: str, item_id: ColumnElement) -> tuple[Select, ColumnElement] | None:
    """(a subquery of (id, rank) for items matching `user_text`, its rank column: lower is better).

    None when the text holds no searchable word. Join the subquery's `id` to items.id.
    """
    if dialect == "sqlite":
        query = fts5_query(user_text)
        if query is None:
            return None
        fts = table(FTS_TABLE, column("rowid"))
        rank = func.bm25(literal_column(FTS_TABLE), *BM25_WEIGHTS)
        sub = (select(fts.c.rowid.label("id"), rank.label("rank"))
               .where(text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=query)).subquery("hits"))
        return sub, sub.c.rank
    if not _TOKEN.search(user_text):
        return None
    # PostgreSQL text cannot hold NUL at all (psycopg refuses the parameter): it is a separator like any other
    tsquery = func.plainto_tsquery(literal_column(f"'{TS_CONFIG}'"), user_text.replace("\x00", " "))
    vector = literal_column(f"items.{TS_COLUMN}")
    sub = (select(item_id.label("id"), (-func.ts_rank(vector, tsquery)).label("rank"))
           .where(vector.op("@@")(tsquery)).subquery("hits"))
    return sub, sub.c.rank
