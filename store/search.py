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

Only the RANKED most recently stored matches are ranked (store/queries.py puts them first, best first, and
the older ones after them, most recently stored first): ranking reads every match's text, and common words
match most of the store (10 of them, 185,000 of 200,000 items: 1.3 s on SQLite, 11.6 s on PostgreSQL for
each page).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Connection, Subquery, column, func, literal_column, select, table, text

FTS_TABLE = "items_fts"
TS_COLUMN = "search_vector"
TS_INDEX = "ix_items_search_vector"
TS_CONFIG = "english"
BM25_WEIGHTS = (10.0, 4.0, 1.0)  # title, summary, body
RANKED = 2_000  # at most this many matches are ranked: the most recently stored ones
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


def matching(dialect: str, user_text: str, item_id: ColumnElement, ranked_from: int | None = None
             ) -> tuple[Subquery, ColumnElement | None] | None:
    """(a subquery of the ids of the items matching `user_text`, None); with `ranked_from`, of the matches
    whose id is at least that, with their rank: (a subquery of (id, rank), its rank column: lower is better).

    None when the text holds no searchable word. Join the subquery's `id` to items.id. Its rows come in
    descending id order when the query asks for it (`ORDER BY hits.id DESC`: FTS5 reads its index
    backwards, without ranking or sorting anything), which is how the newest RANKED are found.
    """
    if dialect == "sqlite":
        query = fts5_query(user_text)
        if query is None:
            return None
        fts = table(FTS_TABLE, column("rowid"))
        match = text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=query)
        if ranked_from is None:
            return select(fts.c.rowid.label("id")).where(match).subquery("hits"), None
        rank = func.bm25(literal_column(FTS_TABLE), *BM25_WEIGHTS)
        sub = (select(fts.c.rowid.label("id"), rank.label("rank"))
               .where(match, fts.c.rowid >= ranked_from).subquery("hits"))  # FTS5 takes the rowid range itself
        return sub, sub.c.rank
    if not _TOKEN.search(user_text):
        return None
    # PostgreSQL text cannot hold NUL at all (psycopg refuses the parameter): it is a separator like any other
    tsquery = func.plainto_tsquery(literal_column(f"'{TS_CONFIG}'"), user_text.replace("\x00", " "))
    vector = literal_column(f"items.{TS_COLUMN}")
    if ranked_from is None:  # materialized: the ids the GIN index gives, never a walk down another index that
        # tests every row's vector on the way (PostgreSQL's plan for a LIMIT: 0.4 s for a few thousand matches)
        ids = select(item_id.label("id")).where(vector.op("@@")(tsquery))
        return ids.cte("hits").prefix_with("MATERIALIZED"), None
    sub = (select(item_id.label("id"), (-func.ts_rank(vector, tsquery)).label("rank"))
           .where(vector.op("@@")(tsquery), item_id >= ranked_from).subquery("hits"))
    return sub, sub.c.rank
