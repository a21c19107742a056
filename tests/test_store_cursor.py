"""save_items' statements run on the DBAPI cursor (store.repository._Cursor), on SQLite and PostgreSQL:
the rows they write equal the rows SQLAlchemy's Connection.execute writes for the same statement and
values, driver errors are SQLAlchemy's, and the engine's cursor listeners see every statement."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from ingest.dedup import Deduplicator
from ingest.model import EntryKeys, FeedEntry, Item, Match, PromoResult, Provenance, Reason, Span
from store import repository

NOW = datetime(2025, 5, 15, 16, 0, tzinfo=timezone.utc)
JUDGE = Deduplicator()
TEXT = " ".join(f"word{i % 97} token{i % 13} item{i}" for i in range(400))  # long enough for band keys

PROMO = PromoResult(label="promotional", promo_score=0.75, pr_score=0.25,
                    reasons=(Reason(rule="coupon", score=0.5, weight=1.0, match="50% off", field="body", start=3,
                                    end=10),),
                    boilerplate=(Span(0, 5, "lead"),), tickers=("NASDAQ:QS",), lead_end=5, tail_start=90,
                    summary_boilerplate=(Span(1, 2, "about"),))


def _item(guid: str, *, promo: PromoResult | None = None, body: str = TEXT) -> Item:
    # a published date in another time zone: stored as UTC on both engines
    published = datetime(2025, 5, 14, 9, 30, tzinfo=timezone(timedelta(hours=-4)))
    entry = FeedEntry(guid=guid, link=f"https://wire/{guid}", title="T", summary_html="<p>s</p>",
                      published=published, author="A")
    item = Item(keys=EntryKeys(guid, f"https://wire/{guid}"), entry=entry, title="Acme opens a plant", date=NOW,
                draft=False, summary="s", description="d", source_link=f"https://wire/{guid}", enclosure="",
                slug=f"2025-05-15-{guid}", source="wire", body_html="<p>b</p>", body_text=body, method="fast",
                promo=promo, trail="fast: 2000 chars", read_more_url=None,
                origin=Provenance(article_id=7, feed_item_id=8, path="seeds/x.md"))
    return replace(item, fingerprint=JUDGE.fingerprint(item))  # None without a body


def _row(s, table: str, key: str, value) -> dict:
    return dict(s.execute(text(f"SELECT * FROM {table} WHERE {key} = :v"), {"v": value}).mappings().one())


@pytest.mark.parametrize("promo, match", [(PROMO, Match("jaccard", 0.91, 1)), (None, None)])
def test_rows_written_through_the_cursor_equal_the_rows_sqlalchemy_writes(sessions, promo, match):
    # every statement save_items sends through the cursor, once through SQLAlchemy and once through the
    # cursor with the same values: the stored rows are equal (datetimes, JSON, booleans, floats, NULLs)
    with sessions.begin() as s:
        source_id = repository.add_source(s, "https://wire/feed", "wire", NOW)[0].id
    with sessions.begin() as s:
        conn = s.connection()
        cursor = repository._Cursor(conn)
        writes = cursor.writes
        ids = {}
        for way, guid in (("sqlalchemy", "a"), ("cursor", "b")):
            item = _item(guid, promo=promo)
            run = (lambda stmt, params: conn.execute(stmt, params).scalar()) if way == "sqlalchemy" else cursor.scalar
            do = conn.execute if way == "sqlalchemy" else cursor.execute  # no RETURNING
            entry_id = run(writes.entry, repository._entry_params(source_id, item, NOW))
            cluster_id = run(writes.cluster, {"canonical_item_id": None, "copies": 1, "created_at": NOW})
            fields = dict(feed_entry_id=entry_id, source_id=source_id, cluster_id=cluster_id, created_at=NOW,
                          updated_at=NOW, url=item.slug, qrcode=f"q/{item.slug}.png", **repository._item_fields(item),
                          **repository._dedup_fields(item.fingerprint, None))
            item_id = first_id = run(writes.item, fields)
            if match is not None:  # a matched item refers to the first one
                do(repository._SET_CANONICAL, {"cluster_id": cluster_id, "item_id": item_id})
                fields = fields | repository._dedup_fields(item.fingerprint, Match(match.method, match.similarity,
                                                                                    item_id))
                fields |= {"url": item.slug + "-2", "feed_entry_id": run(writes.entry, repository._entry_params(
                    source_id, _item(guid + "2"), NOW))}
                item_id = run(writes.item, fields)
            do(writes.origin, {"item_id": item_id, "article_id": 7, "feed_item_id": 8, "path": "seeds/x.md"})
            bands = [{"band_key": key, "item_day": repository._day(item.date), "item_id": item_id}
                     for key in dict.fromkeys(item.fingerprint.band_keys)]
            if way == "sqlalchemy":
                conn.execute(writes.band, bands)
            else:
                cursor.executemany(writes.band, bands)
            ids[way] = entry_id, cluster_id, item_id
            canonical = first_id if match is not None else None
        rows = {way: (_row(s, "feed_entries", "id", entry_id), _row(s, "clusters", "id", cluster_id),
                      _row(s, "items", "id", item_id), _row(s, "item_origins", "item_id", item_id),
                      sorted(s.execute(text("SELECT band_key, item_day FROM item_bands WHERE item_id = :i"),
                                       {"i": item_id}).all()))
                for way, (entry_id, cluster_id, item_id) in ids.items()}
    apart = {"id", "guid", "link", "raw_link", "feed_entry_id", "cluster_id", "canonical_item_id", "url", "qrcode",
             "source_link", "item_id", "matched_item_id"}  # the ids and keys that differ by construction
    for ours, theirs in zip(rows["cursor"], rows["sqlalchemy"]):
        if isinstance(ours, dict):
            assert {k: v for k, v in ours.items() if k not in apart} == \
                {k: v for k, v in theirs.items() if k not in apart}
        else:
            assert ours == theirs and len(ours) > 0
    item_row = rows["cursor"][2]
    assert (item_row["promo_reasons"] is None) == (promo is None)  # no promo: SQL NULL, not JSON 'null'
    assert item_row["match_method"] == (match.method if match else None)
    assert rows["cursor"][1]["canonical_item_id"] == canonical


def test_saved_items_read_back_as_given(sessions):
    with sessions.begin() as s:
        source_id = repository.add_source(s, "https://wire/feed", "wire", NOW)[0].id
    with sessions.begin() as s:
        result = repository.save_items(s, source_id, [_item("a", promo=PROMO), _item("b", body="")], now=NOW,
                                       qrcode_prefix="q/", judge=JUDGE)
    with sessions.begin() as s:
        first, second = (repository.get_item(s, article_id) for article_id, _, _ in result.saved)
        published = s.execute(text("SELECT published FROM feed_entries WHERE guid = 'a'")).scalar()
    assert first.promo == PROMO and first.date == NOW and first.date.tzinfo is not None
    assert first.created_at == NOW and first.trail == "fast: 2000 chars"
    assert (first.origin_article_id, first.origin_feed_item_id) == (7, 8)
    assert second.promo is None and second.body_text == ""
    assert published is not None and str(published).startswith("2025-05-14 13:30")  # stored as UTC


def test_a_driver_error_is_raised_as_sqlalchemys_and_rolls_back_the_transaction(sessions):
    with sessions.begin() as s:
        source_id = repository.add_source(s, "https://wire/feed", "wire", NOW)[0].id
    with pytest.raises(IntegrityError), sessions.begin() as s:
        repository.save_items(s, source_id, [_item("a")], now=NOW, qrcode_prefix="q/", judge=JUDGE)
        repository.save_items(s, 12345, [_item("b")], now=NOW, qrcode_prefix="q/", judge=JUDGE)  # no such source
    with sessions.begin() as s:
        assert repository.count_items(s) == 0
        assert s.execute(text("SELECT count(*) FROM feed_entries")).scalar() == 0
        repository.save_items(s, source_id, [_item("a")], now=NOW, qrcode_prefix="q/", judge=JUDGE)
    with sessions.begin() as s:
        assert repository.count_items(s) == 1


def test_engine_listeners_see_every_statement_save_items_sends(sessions):
    engine = sessions.kw["bind"]
    seen = []
    listener = lambda conn, cursor, statement, params, context, many: seen.append((statement.split()[:3], many))  # noqa: E731
    event.listen(engine, "after_cursor_execute", listener)
    try:
        with sessions.begin() as s:
            source_id = repository.add_source(s, "https://wire/feed", "wire", NOW)[0].id
            seen.clear()
            repository.save_items(s, source_id, [_item("a")], now=NOW, qrcode_prefix="q/", judge=JUDGE)
    finally:
        event.remove(engine, "after_cursor_execute", listener)
    inserts = [(words[2], many) for words, many in seen if words[:2] == ["INSERT", "INTO"]]
    assert inserts == [("feed_entries", False), ("clusters", False), ("items", False), ("item_origins", False),
                       ("item_bands", True)]


def test_a_statement_needing_column_defaults_is_refused(sessions):
    # the cursor does not compute Python-side column defaults: every column is passed, or it says so
    with sessions.begin() as s:
        cursor = repository._Cursor(s.connection())
        with pytest.raises(ValueError, match="column defaults"):
            cursor.execute(cursor.writes.item, {"title": "t", "url": "u"})


_SAVE_A_BATCH = """
import random
import sys
from dataclasses import replace
sys.path[:0] = [{root!r}, {tests!r}]
from reading import make_item
from store import db, repository
from ingest.dedup import Deduplicator
judge = Deduplicator()
engine = db.make_engine({url!r})
db.ensure_schema(engine)
sessions = db.session_factory(engine)
rng = random.Random(7)
def body():  # ~10 KB of text, sharing no band key with the others (no copies to verify)
    return " ".join(f"w{{rng.randrange(10**6)}}" for _ in range(1300))
items = [make_item(n, f"Release {{n}}", body=body()) for n in range(200)]
items = [replace(i, fingerprint=judge.fingerprint(i)) for i in items]
with sessions.begin() as s:
    source_id = repository.add_source(s, "https://wire.example/feed", "wire", items[0].date)[0].id
with sessions.begin() as s:
    saved = repository.save_items(s, source_id, items, now=items[0].date, qrcode_prefix="q/", judge=judge)
assert saved.new == 200, saved
"""


def test_saving_a_batch_on_sqlite_writes_no_temporary_file(tmp_path):
    # an insert into items fires the full-text index's trigger, so SQLite keeps a statement journal, which
    # spilled to a temporary file past 64 KiB (created, written a page at a time, deleted, in every batch);
    # with temp_store=MEMORY (store.db.SQLITE_PRAGMAS) none is created in SQLITE_TMPDIR, whose mtime would
    # change. A subprocess: SQLite reads SQLITE_TMPDIR once, when the library starts.
    spool = tmp_path / "sqlite-tmp"
    spool.mkdir()
    before = spool.stat().st_mtime_ns
    tests = Path(__file__).resolve().parent
    script = _SAVE_A_BATCH.format(root=str(tests.parent), tests=str(tests), url=f"sqlite:///{tmp_path / 'b.db'}")
    subprocess.run([sys.executable, "-c", script], env=os.environ | {"SQLITE_TMPDIR": str(spool)}, check=True,
                   timeout=120)
    assert spool.stat().st_mtime_ns == before, "SQLite created a temporary file while saving"


def test_a_command_on_sqlite_does_not_import_the_postgresql_dialect(tmp_path):
    """Importing SQLAlchemy's PostgreSQL dialect loads every PostgreSQL driver's (~25-40 ms of a start): a
    command on an SQLite store, here a backfill that stores both seed documents, does without it. (Creating the
    store runs Alembic, which imports it.)"""
    from conftest import ROOT, SEEDS, write_config
    from store.db import ensure_schema, make_engine
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    ensure_schema(engine)
    engine.dispose()
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'p.db'}")
    script = ("import atexit, sys\n"
              "atexit.register(lambda: print('postgresql loaded:', 'sqlalchemy.dialects.postgresql' in sys.modules))\n"
              f"sys.argv = ['presswire', '--config', {str(config)!r}, 'backfill', '--dir', {str(SEEDS)!r}, '--json']\n"
              "from ingest.cli import main\n"  # not ingest.__main__'s, which leaves by os._exit before atexit's
              "main()\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert '"stored": 2' in done.stdout and done.stdout.splitlines()[-1] == "postgresql loaded: False"
