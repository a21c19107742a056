"""The one filtered SELECT behind every reader of the store: `items list`, export, the JSON API, Atom.

    items_select(dialect, query)  the statement: filters, full-text match, order, page
    find_items(s, query)          run it: StoredItem values
    count_items(s, query)         how many items match (pagination)

New filters (promo labels, tickers, dedup clusters) are one more `where` in `_filtered`.
"""

from __future__ import annotations

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from ingest.model import ItemQuery, StoredItem
from store import search
from store import tables as t
from store.repository import stored_item


def items_select(dialect: str, q: ItemQuery) -> Select:
    """SELECT (Item, source name) matching `q`, newest first (best match first when searching)."""
    stmt, rank = _filtered(dialect, q)
    order = [t.Item.date.desc(), t.Item.id.desc()]
    stmt = stmt.order_by(*([rank.asc()] if rank is not None else []), *order)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    return stmt.offset(q.offset) if q.offset else stmt


def find_items(s: Session, q: ItemQuery) -> list[StoredItem]:
    rows = s.execute(items_select(_dialect(s), q)).all()
    return [stored_item(row[0], row[1]) for row in rows]


def count_items(s: Session, q: ItemQuery) -> int:
    stmt, _rank = _filtered(_dialect(s), q)
    return s.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def _filtered(dialect: str, q: ItemQuery) -> tuple[Select, object | None]:
    stmt = select(t.Item, t.Source.name).join(t.Source, t.Source.id == t.Item.source_id)
    conditions = [
        (q.source_id is not None, lambda: t.Item.source_id == q.source_id),
        (q.since is not None, lambda: t.Item.date >= q.since),
        (q.until is not None, lambda: t.Item.date < q.until),
        (q.changed_since is not None, lambda: t.Item.updated_at >= q.changed_since),
    ]
    stmt = stmt.where(*(make() for wanted, make in conditions if wanted))
    if not q.search.strip():
        return stmt, None
    hits = search.matching(dialect, q.search, t.Item.id)
    if hits is None:  # no searchable word: nothing matches
        return stmt.where(false()), None
    sub, rank = hits
    return stmt.join(sub, sub.c.id == t.Item.id).add_columns(rank), rank


def _dialect(s: Session) -> str:
    return s.get_bind().dialect.name
