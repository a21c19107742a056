"""The one filtered SELECT behind every reader of the store: `items list`, export, the JSON API, Atom.

    items_select(dialect, query)  the statement: filters, full-text match, order, page
    find_items(s, query)          run it (a search: its two parts): StoredItem values
    iter_items(s, query)          run it, streamed: a whole store's export in flat memory
    count_items(s, query, at_most)  how many items match (pagination), counted no further than at_most + 1
    last_item_id(s)               the newest stored item's id (a paginated walk's ItemQuery.max_id)

New filters (dedup clusters, ...) are one more `where` in `_filtered`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from sqlalchemy import ColumnElement, Select, Subquery, exists, false, func, or_, select
from sqlalchemy.orm import Session

from ingest.model import ItemQuery, StoredItem
from store import repository, search
from store import tables as t
from store.repository import stored_item


def items_select(dialect: str, q: ItemQuery, ranked_from: int | None = None) -> Select:
    """SELECT (Item, source name, cluster copies, cluster canonical item id) matching `q`, newest first; when
    searching, only the matches with an id of at least `ranked_from`, best match first (None: every match,
    unranked, most recently stored first: down the search index, so a page reads no more matches than it
    skips and shows, where a date order read them all)."""
    stmt, hits = _filtered(dialect, q, ranked_from=ranked_from)
    if hits is not None and ranked_from is None:
        order = [hits.c.id.desc()]
    else:
        order = [*([hits.c.rank.asc()] if hits is not None else []), t.Item.date.desc(), t.Item.id.desc()]
    stmt = stmt.order_by(*order)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    return stmt.offset(q.offset) if q.offset else stmt


def find_items(s: Session, q: ItemQuery) -> list[StoredItem]:
    return [stored_item(row[0], row[1], row[2], row[3]) for stmt in _selects(s, q) for row in s.execute(stmt)]


def iter_items(s: Session, q: ItemQuery) -> Iterator[StoredItem]:
    """find_items, fetched repository.STREAM_BATCH rows at a time (a server-side cursor on PostgreSQL): an
    export of every item holds one batch of bodies in memory, not the whole store's (gigabytes at 1M items)."""
    for stmt in _selects(s, q):
        for row in s.execute(stmt.execution_options(yield_per=repository.STREAM_BATCH)):
            yield stored_item(row[0], row[1], row[2], row[3])


def _selects(s: Session, q: ItemQuery) -> list[Select]:
    """The statements whose rows, one after the other, are `q`'s items. A search ranks only its newest
    search.RANKED matches (by id, found down the index without ranking anything): those come first, best
    first, then the older matches, most recently stored first - two statements, `q`'s page split between them. A search
    that matches fewer items ranks them all, in one statement: the order it always had."""
    dialect = _dialect(s)
    if not q.search.strip():
        return [items_select(dialect, q)]
    stmt, hits = _filtered(dialect, q, columns=(t.Item.id,))
    if hits is None:  # no searchable word: nothing matches
        return []
    newest = stmt.order_by(hits.c.id.desc()).limit(search.RANKED).subquery()
    lowest, ranked = s.execute(select(func.min(newest.c.id), func.count()).select_from(newest)).one()
    if not ranked:
        return []
    first = [items_select(dialect, q, ranked_from=lowest)] if q.offset < ranked else []
    if ranked < search.RANKED:
        return first
    in_first = max(0, ranked - q.offset if q.limit is None else min(ranked - q.offset, q.limit))
    older = replace(q, max_id=lowest - 1, offset=max(0, q.offset - ranked),
                    limit=None if q.limit is None else q.limit - in_first)
    return first + ([items_select(dialect, older)] if older.limit != 0 else [])


def count_items(s: Session, q: ItemQuery, at_most: int | None = None) -> int:
    """How many items match `q` (its limit and offset aside): exactly when at most `at_most` do, else
    `at_most + 1` ("more than at_most"). The count reads the matching items' ids alone, and stops after
    at_most + 1 of them: an exact count of the wide rows took 220-870 ms on SQLite and 145 ms on
    PostgreSQL for each page of a 200,000-item store, growing with it."""
    stmt, _hits = _filtered(_dialect(s), q, columns=(t.Item.id,))
    if at_most is not None:
        stmt = stmt.limit(at_most + 1)
    return s.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def last_item_id(s: Session) -> int | None:
    return s.scalar(select(func.max(t.Item.id)))


def _filtered(dialect: str, q: ItemQuery, columns: tuple = (), ranked_from: int | None = None
              ) -> tuple[Select, Subquery | None]:
    """The items matching `q`, with their source name and story (or `columns` alone), and the search's
    subquery of matching ids (None when not searching): with `ranked_from`, only the matches with an id
    of at least that, and the subquery's `rank` (lower is better) is a column of the statement too."""
    # one row per story (its canonical copy), unless every copy or one source's own items are asked for: the
    # story is then joined by its canonical copy alone. (Joined by cluster_id too, with canonical_item_id =
    # items.id a filter, PostgreSQL multiplied the two conditions' selectivities, expected 1 row, and sorted
    # the whole table for every page: 800 ms for the first page of 200,000 items, not 0.4 ms. A canonical
    # copy is always one of its cluster's items.)
    canonical = not q.all_copies and q.source_id is None
    story = t.Cluster.canonical_item_id == t.Item.id if canonical else t.Cluster.id == t.Item.cluster_id
    stmt = (select(*(columns or (t.Item, t.Source.name, t.Cluster.copies, t.Cluster.canonical_item_id)))
            .select_from(t.Item).join(t.Source, t.Source.id == t.Item.source_id).join(t.Cluster, story))
    conditions = [
        (q.source_id is not None, lambda: t.Item.source_id == q.source_id),
        (q.since is not None, lambda: t.Item.date >= q.since),
        (q.until is not None, lambda: t.Item.date < q.until),
        (q.changed_since is not None, lambda: t.Item.updated_at >= q.changed_since),
        (q.max_id is not None, lambda: t.Item.id <= q.max_id),
        (q.label is not None, lambda: t.Item.promo_label == q.label),
        (bool(q.exclude_labels), lambda: or_(t.Item.promo_label.is_(None),
                                              t.Item.promo_label.not_in(list(q.exclude_labels)))),
        (bool(q.ticker), lambda: _has_ticker(dialect, q.ticker or "")),
    ]
    stmt = stmt.where(*(make() for wanted, make in conditions if wanted))
    if not q.search.strip():
        return stmt, None
    hits = search.matching(dialect, q.search, t.Item.id, ranked_from)
    if hits is None:  # no searchable word: nothing matches
        return stmt.where(false()), None
    sub, rank = hits
    stmt = stmt.join(sub, sub.c.id == t.Item.id)
    return (stmt.add_columns(rank) if rank is not None and not columns else stmt), sub


def _has_ticker(dialect: str, ticker: str) -> ColumnElement:
    """items.tickers (a JSON array of "EXCHANGE:SYMBOL") holds the ticker; a bare symbol matches any exchange."""
    wanted = "".join(ticker.split()).upper()
    elements = func.json_array_elements_text if dialect == "postgresql" else func.json_each
    values = elements(t.Item.tickers).table_valued("value")
    if ":" in wanted:
        match = values.c.value == wanted
    else:
        escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        match = or_(values.c.value == wanted, values.c.value.like(f"%:{escaped}", escape="\\"))
    return exists(select(1).select_from(values).where(match))


def _dialect(s: Session) -> str:
    return s.get_bind().dialect.name
