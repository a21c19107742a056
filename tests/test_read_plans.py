"""The readers' SELECT at scale: how the databases plan it (store/queries.py). Speed itself is bench/reading.py's;
these tests check what makes a page cost the same on a large store as on a small one."""

from __future__ import annotations

from sqlalchemy import text

from ingest.model import ItemQuery
from reading import add_source, make_item, open_store, save
from store import queries


def test_postgresql_expects_one_row_per_story_not_one_row_in_all(postgres):
    """The stories query joined clusters by cluster_id and filtered canonical_item_id = items.id: PostgreSQL took
    the two conditions for independent, expected a single row, and so sorted the whole table for every page
    (a parallel seq scan, 800 ms for the first page of 200,000 items, instead of 0.4 ms down ix_items_date)."""
    engine, sessions = open_store(postgres.new_database())
    save(sessions, add_source(sessions), [make_item(n, f"Story number {n}") for n in range(300)])
    with engine.begin() as c:
        c.execute(text("ANALYZE"))
    with sessions.begin() as s:
        for query in (ItemQuery(limit=None), ItemQuery(limit=None, exclude_labels=("promotional",), max_id=10**6)):
            select = queries.items_select("postgresql", query)
            sql = select.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            [[plan]] = s.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).all()
            assert plan[0]["Plan"]["Plan Rows"] >= 150, plan  # 300 stories of one copy each
    engine.dispose()


def test_sqlite_reads_a_labels_newest_items_down_an_index_without_sorting_them(sqlite_url):
    """With promo_label alone indexed, SQLite read every item of the label and sorted them all by date for each
    page (585 ms for a page of press releases among 200,000 items): (promo_label, date) gives them in order."""
    engine, sessions = open_store(sqlite_url)
    for query in (ItemQuery(label="press_release"), ItemQuery(label="promotional", max_id=1000),
                  ItemQuery(label="news", all_copies=True, offset=50)):
        compiled = queries.items_select("sqlite", query).compile(dialect=engine.dialect)
        with engine.connect() as c:
            cursor = c.connection.driver_connection.execute(
                f"EXPLAIN QUERY PLAN {compiled}", [compiled.params[name] for name in compiled.positiontup])
            plan = [row[3] for row in cursor]
        assert any("ix_items_promo_label_date (promo_label=?)" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
    engine.dispose()
