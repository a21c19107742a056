"""`presswire items reclassify`: items polled from the 127.0.0.1 fixture feed under one set of promo rules,
then judged again under new rules and policy, equal what a fresh poll with the new rules stores (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from conftest import SEEDS, Presswire, write_config
from ingest.promo import DEFAULT_RULES_PATH, load_rules
from ingest.reclassify import reclassify
from store import db, tables as t

CHINA = "China Emerges as Global Leader in Advanced Battery Technology, Shaping Future of Energy and Industry"
HELIO = "Helio Grid Systems Inc. (NASDAQ: HGRD) Announces 40 MWh Storage Contract with Western Utility"
NORTHFIELD = "Northfield Minerals Corp. & the Lithium Supply Question: What Investors Should Watch"
SOLID = "Solid-State Startups Draw Record Venture Funding in First Quarter"
IBN = "InvestorBrandNetwork (IBN)"
# the ids and times of one store, not what it stored
VOLATILE = {"article_id", "feed_item_id", "created_at", "updated_at", "cluster_id"}


@pytest.fixture
def new_rules(tmp_path):
    """Rules a user tuned: a lower promotional threshold (Helio and Solid-State become promotional), and
    the promotion network's self-description no longer marked as boilerplate (China's summary keeps it)."""
    path = tmp_path / "new_rules.toml"
    rules = DEFAULT_RULES_PATH.read_text().replace("promotional_threshold = 5.0", "promotional_threshold = 4.0")
    marked = 'name = "network_boilerplate"\ndescription'
    assert marked in rules
    start = rules.index(marked)
    mark = rules.index('mark = "sentence"', start)
    path.write_text(rules[:mark] + 'mark = "none"' + rules[mark + len('mark = "sentence"'):])
    return path


def _config(tmp_path, name: str, db_url: str, server, extra: str = "") -> Presswire:
    return Presswire(write_config(tmp_path / name, db_url, [(server.url("/bdc/feed.xml"), IBN)], extra=extra))


def _rows(pw: Presswire) -> dict[str, dict]:
    out = pw("items", "list", "--json", "--all-copies").stdout
    return {row["title"]: row for row in map(json.loads, out.splitlines())}


def _kept(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in VOLATILE}


@contextmanager
def sessions_on(db_url: str):
    engine = db.make_engine(db_url)
    try:
        yield db.session_factory(engine)
    finally:
        engine.dispose()


def _updated_at(db_url: str) -> list[datetime]:
    """Each item's updated_at by id, to the microsecond (the CLI's JSON has whole seconds)."""
    with sessions_on(db_url) as sessions, sessions.begin() as s:
        return list(s.scalars(select(t.Item.updated_at).order_by(t.Item.id)))


def _reclassify(pw: Presswire, *args: str) -> dict:
    return json.loads(pw("items", "reclassify", "--json", *args).stdout)


def test_reclassified_items_equal_a_fresh_poll_with_the_new_rules(tmp_path, db_url, server, new_rules, request):
    old = _config(tmp_path, "old.toml", db_url, server)
    old("poll")
    before, updated = _rows(old), _updated_at(db_url)
    new_policy = f'[promo]\nrules = "{new_rules}"\npolicy = "draft"\n'
    new = _config(tmp_path, "new.toml", db_url, server, new_policy)

    dry = _reclassify(new, "--dry-run")
    assert _rows(new) == before and _updated_at(db_url) == updated  # nothing written
    run = _reclassify(new)
    assert dry == {**run, "dry_run": True}
    assert run == {"read": 4, "changed": 4, "drafts_changed": 4, "dry_run": False,
                   "labels": [{"from": "news", "to": "promotional", "items": 1},
                              {"from": "press_release", "to": "promotional", "items": 1}]}

    fresh_url = (f"sqlite:///{tmp_path / 'fresh.db'}" if db_url.startswith("sqlite")
                 else request.getfixturevalue("postgres").new_database())
    fresh = _config(tmp_path, "fresh.toml", fresh_url, server, new_policy)
    fresh("poll")
    after, polled = _rows(new), _rows(fresh)
    assert {title: _kept(row) for title, row in after.items()} == {title: _kept(row) for title, row in polled.items()}
    assert "BillionDollarClub provides a platform" not in before[CHINA]["summary"]
    assert "BillionDollarClub provides a platform" in after[CHINA]["summary"]  # no longer boilerplate
    assert after[HELIO]["description"] == before[HELIO]["description"]  # the page's meta description
    assert all(row["draft"] for row in after.values())
    assert all(changed > stored for changed, stored in zip(_updated_at(db_url), updated))  # exports see them

    updated_again = _updated_at(db_url)
    again = _reclassify(new)
    assert again == {"read": 4, "changed": 0, "drafts_changed": 0, "dry_run": False, "labels": []}
    assert _rows(new) == after and _updated_at(db_url) == updated_again


def test_a_policy_change_alone_clears_drafts_of_the_items_the_filters_choose(tmp_path, sqlite_url, server):
    drafts = _config(tmp_path, "draft.toml", sqlite_url, server, '[promo]\npolicy = "draft"\n')
    drafts("poll")
    assert {t for t, row in _rows(drafts).items() if row["draft"]} == {CHINA, NORTHFIELD}
    keep = _config(tmp_path, "keep.toml", sqlite_url, server)
    keep("sources", "add", server.url("/other/feed.xml"), "--name", "Other")

    assert _reclassify(keep, "--source", "Other")["read"] == 0  # by name
    assert _reclassify(keep, "--since", "2025-05-15") == {  # China and Helio
        "read": 2, "changed": 1, "drafts_changed": 1, "dry_run": False, "labels": []}
    assert {t for t, row in _rows(keep).items() if row["draft"]} == {NORTHFIELD}
    with sessions_on(sqlite_url) as sessions:  # batches of 3: the walk by id goes on after the first batch
        tally = reclassify(sessions, load_rules(), "keep", datetime.now(timezone.utc), source_id=1, batch=3)
    assert (tally.read, tally.changed, tally.drafts) == (4, 1, 1)
    assert not any(row["draft"] for row in _rows(keep).values())
    assert keep("items", "reclassify").stdout == (
        "reclassified 4 items: 0 changed; labels changed: none; drafts changed: 0\n")
    unknown = keep("items", "reclassify", "--source", "Nowhere", ok=False)
    assert unknown.exit_code == 3 and "--source Nowhere: no such source" in unknown.stderr


def test_an_imported_document_keeps_its_summary_description_and_own_draft(tmp_path, sqlite_url, server, new_rules):
    """A front-matter document's fields are kept as written (ingest.importer), its classification is redone
    as its import would do it now."""
    docs = tmp_path / "docs"
    docs.mkdir()
    seed = (SEEDS / "002_af0badd8b5f78533.txt").read_text()
    assert "draft = false" in seed
    (docs / "doc.txt").write_text(seed.replace("draft = false", "draft = true"))
    old = _config(tmp_path, "old.toml", sqlite_url, server, f'[promo]\nrules = "{new_rules}"\n')
    old("backfill", "--dir", str(docs))
    [before] = _rows(old).values()
    new = _config(tmp_path, "new.toml", sqlite_url, server)  # the built-in rules, policy = "keep"

    assert _reclassify(new)["changed"] == 1  # the network's self-description is boilerplate again
    [after] = _rows(new).values()
    assert after["draft"] is True  # its own, though policy = "keep"
    assert "BillionDollarClub provides a platform" in after["summary"]
    assert (after["summary"], after["description"]) == (before["summary"], before["description"])
    assert not before["promo"]["summary_boilerplate"] and after["promo"]["summary_boilerplate"]
    fresh = _config(tmp_path, "fresh.toml", f"sqlite:///{tmp_path / 'fresh.db'}", server)
    fresh("backfill", "--dir", str(docs))
    [imported] = _rows(fresh).values()
    assert _kept(after) == _kept(imported)
