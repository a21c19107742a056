"""Alembic migrations on SQLite and PostgreSQL: from empty, from the previous revision with data in it,
one step down, and every revision down and up again. The revisions are read from the script directory,
so these tests follow the chain as revisions are added.

Rows at the previous revision are written by reflecting its tables (not through today's ORM classes,
which describe the head schema) and filling each NOT NULL column with a value of its type.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, Integer, MetaData, String, Table, Text, func,
                        insert, inspect, select, text)

from conftest import ROOT, Presswire, write_config
from ingest.errors import StoreError
from ingest.model import EntryKeys, FeedEntry, Item
from store import db, repository
from store.search import include_name

NOW = datetime(2025, 5, 15, 16, 0, tzinfo=timezone.utc)
REVISIONS = [r.revision for r in reversed(list(ScriptDirectory(str(db.MIGRATIONS)).walk_revisions()))]
HEAD, PREVIOUS = REVISIONS[-1], REVISIONS[-2]


@pytest.fixture
def engine(db_url):
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


def test_revisions_form_one_chain_from_base_to_head():
    assert REVISIONS[-1] == db.head_revision() == db.HEAD and len(REVISIONS) >= 2
    script = ScriptDirectory(str(db.MIGRATIONS))
    assert [script.get_revision(r).down_revision for r in REVISIONS] == [None, *REVISIONS[:-1]]


def test_upgrade_from_empty_to_head_gives_a_working_store(engine):
    db.upgrade(engine)
    assert db.current_revision(engine) == HEAD
    sessions = db.session_factory(engine)
    _store_one_item(sessions)
    with sessions.begin() as s:
        assert [i.title for i in repository.list_items(s)] == ["A title"]
    db.ensure_schema(engine)  # at head: accepted as is


def test_upgrade_from_the_previous_revision_keeps_its_rows(engine):
    db.upgrade(engine, PREVIOUS)
    filled = _fill_every_table(engine)
    assert {"sources", "feed_entries", "items"} <= set(filled)
    db.upgrade(engine)
    assert db.current_revision(engine) == HEAD
    assert _row_counts(engine, filled) == filled
    with db.session_factory(engine).begin() as s:  # today's queries read the migrated rows
        assert len(repository.list_sources(s)) == 1
        assert len(repository.list_items(s, all_copies=True)) == 1


def test_downgrade_one_step_keeps_the_rows_and_upgrades_again(engine):
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    _store_one_item(sessions)
    kept = _row_counts(engine, {"sources": 0, "feed_entries": 0, "items": 0})
    db.downgrade(engine, "-1")
    assert db.current_revision(engine) == PREVIOUS
    assert _row_counts(engine, kept) == kept == {"sources": 1, "feed_entries": 1, "items": 1}
    db.upgrade(engine)
    with sessions.begin() as s:
        assert [i.title for i in repository.list_items(s)] == ["A title"]


def test_every_revision_goes_down_one_step_and_up_again(engine):
    for revision, before in zip(REVISIONS, [None, *REVISIONS[:-1]]):
        db.upgrade(engine, revision)
        db.downgrade(engine, before or "base")
        assert db.current_revision(engine) == before
        db.upgrade(engine, revision)
        assert db.current_revision(engine) == revision


def test_the_service_refuses_an_out_of_date_schema_until_db_upgrade(tmp_path, engine, db_url):
    db.upgrade(engine, PREVIOUS)
    engine.dispose()
    pw = Presswire(write_config(tmp_path / "c.toml", db_url))
    refused = pw("run", "--once", ok=False)
    assert refused.exit_code == StoreError.exit_code
    assert f"schema is at revision {PREVIOUS}, this presswire needs {HEAD}; run `presswire db upgrade`" \
        in refused.stderr
    assert f"schema at {HEAD}" in pw("db", "upgrade").stdout
    pw("run", "--once")


def test_db_upgrade_to_an_unknown_revision_is_a_one_line_error(tmp_path, engine, db_url):
    db.upgrade(engine, PREVIOUS)
    engine.dispose()
    pw = Presswire(write_config(tmp_path / "c.toml", db_url))
    bad = pw("db", "upgrade", "--revision", "bogus", ok=False)
    assert bad.exit_code == 2
    assert bad.stderr == "presswire: error: db upgrade --revision bogus: Can't locate revision identified by 'bogus'\n"
    assert f"schema at {HEAD}" in pw("db", "upgrade").stdout  # nothing was half done


def test_a_store_at_head_is_checked_without_loading_alembic(engine, db_url):
    """Every command checks the schema; at HEAD that is one SELECT, and Alembic (~0.1 s of imports) is not
    loaded. The control: an empty database is created through Alembic by the same call."""
    import os
    import subprocess
    import sys
    from conftest import ROOT
    script = ("import sys\nfrom store import db\n"
              "engine = db.make_engine(sys.argv[1])\ndb.ensure_schema(engine)\n"
              "print('alembic' in sys.modules, db.current_revision(engine))\n")

    def check() -> str:
        done = subprocess.run([sys.executable, "-c", script, db_url], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert check() == f"True {HEAD}"  # empty: created
    assert check() == f"False {HEAD}"  # at head: a SELECT


def test_a_schema_from_a_newer_presswire_is_refused_naming_the_cause(engine):
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(StoreError, match="migrated by a newer presswire; upgrade presswire here too"):
        db.ensure_schema(engine)


@pytest.mark.postgres
def test_workers_starting_together_on_an_empty_database_create_the_schema_once(postgres):
    """Without the migration lock, all but one would fail on CREATE TABLE (or on alembic_version)."""
    url = postgres.new_database()
    engines = [db.make_engine(url) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def start(engine) -> None:
        barrier.wait()
        try:
            db.ensure_schema(engine)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and db.current_revision(engines[0]) == HEAD
    for engine in engines:
        engine.dispose()


START_TOGETHER = """
import sys, time
from store import db
engine = db.make_engine(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
db.ensure_schema(engine)
"""


def test_processes_starting_together_on_a_new_sqlite_file_create_the_schema_once(tmp_path):
    """Regression: the migration's deferred BEGIN read the (missing) revision first, and SQLite does not wait
    (busy_timeout) to turn a read into a write once another connection has written: of `presswire run` and
    `serve` started together on a new file, all but one exited with "database is locked"."""
    url = f"sqlite:///{tmp_path / 'presswire.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _round in range(2):
        (tmp_path / "presswire.db").unlink(missing_ok=True)
        at = time.time() + 1.5  # after every interpreter has started and imported the store
        procs = [subprocess.Popen([sys.executable, "-c", START_TOGETHER, url, str(at)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        errors = [p.communicate(timeout=120)[1][-500:] for p in procs]
        assert [p.returncode for p in procs] == [0] * len(procs), errors
        engine = db.make_engine(url)
        assert db.current_revision(engine) == HEAD
        engine.dispose()


# --- helpers -------------------------------------------------------------------------------------

def _store_one_item(sessions) -> None:
    entry = FeedEntry(guid="g1", link="https://x/1", title="A title", summary_html="<p>s</p>")
    item = Item(keys=EntryKeys("g1", "https://x/1"), entry=entry, title="A title", date=NOW, draft=False,
                summary="s", description="d", source_link="https://x/1", enclosure="", slug="2025-05-15-a-title",
                source="S", body_html="<p>b</p>", body_text="b", method="feed")
    with sessions.begin() as s:
        source, _ = repository.add_source(s, "https://example.com/feed", "S", NOW)
        repository.save_items(s, source.id, [item], now=NOW, qrcode_prefix="q/")


def _fill_every_table(engine) -> dict[str, int]:
    """One row in every table of the current schema; returns {table: 1}."""
    meta = MetaData()
    meta.reflect(engine, only=lambda name, _meta: include_name(name, "table", {}) and name != "alembic_version")
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        for table in _by_required_references(meta):
            ids[table.name] = conn.execute(insert(table).values(_row(table, ids)).returning(
                *table.primary_key.columns)).first()[0]
    return {name: 1 for name in ids}


def _by_required_references(meta: MetaData) -> list[Table]:
    """Tables ordered so that each comes after the tables its NOT NULL foreign keys point to."""
    needs = {t.name: {fk.column.table.name for c in t.columns if not c.nullable for fk in c.foreign_keys}
             - {t.name} for t in meta.tables.values()}
    ordered: list[Table] = []
    while needs:
        ready = sorted(name for name, deps in needs.items() if deps <= {t.name for t in ordered})
        assert ready, f"a cycle of NOT NULL foreign keys: {needs}"
        ordered += [meta.tables[name] for name in ready]
        needs = {n: d for n, d in needs.items() if n not in ready}
    return ordered


def _row(table: Table, ids: dict[str, int]) -> dict:
    row = {}
    for col in table.columns:
        if col.nullable or col.computed is not None or _is_serial(table, col):
            continue
        fk = next(iter(col.foreign_keys), None)
        row[col.name] = ids[fk.column.table.name] if fk is not None else _value(col)
    return row


def _is_serial(table: Table, col) -> bool:
    return (col.primary_key and len(table.primary_key.columns) == 1 and isinstance(col.type, Integer)
            and not col.foreign_keys)


def _value(col):
    kinds = [(Boolean, False), (Integer, 1), (BigInteger, 1), (Float, 0.0), (DateTime, NOW), (JSON, {}),
             (String, "x"), (Text, "x")]
    for kind, value in kinds:
        if isinstance(col.type, kind):
            return value
    raise AssertionError(f"no test value for {col.table.name}.{col.name} of type {col.type!r}")


def _row_counts(engine, tables: dict[str, int]) -> dict[str, int]:
    present = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {name: conn.scalar(select(func.count()).select_from(text(name))) for name in tables
                if name in present}
