"""Promotional-content flags end to end: the IBN fixture feed polled from 127.0.0.1 into SQLite and
PostgreSQL; labels, reasons and clean summaries stored; `items show` and `items list --label`."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, text

from conftest import Presswire, write_config
from ingest.errors import ConfigError
from ingest.frontmatter import SEED_KEYS, parse
from ingest.promo import DEFAULT_RULES_PATH
from ingest.settings import load_settings
from store import db, repository

CHINA = "China Emerges as Global Leader in Advanced Battery Technology, Shaping Future of Energy and Industry"
HELIO = "Helio Grid Systems Inc. (NASDAQ: HGRD) Announces 40 MWh Storage Contract with Western Utility"
NORTHFIELD = "Northfield Minerals Corp. & the Lithium Supply Question: What Investors Should Watch"
SOLID = "Solid-State Startups Draw Record Venture Funding in First Quarter"


def _items(pw: Presswire, *args: str) -> dict[str, dict]:
    out = pw("items", "list", "--json", *args).stdout
    return {row["title"]: row for row in map(json.loads, out.splitlines())}


def _rules(row: dict) -> dict[str, dict]:
    return {r["rule"]: r for r in row["promo"]["reasons"]}


def test_polled_items_are_labeled_with_reasons_and_clean_summaries(presswire):
    presswire("poll")
    items = _items(presswire)
    assert {t: row["promo"]["label"] for t, row in items.items()} == {
        CHINA: "promotional", HELIO: "press_release", NORTHFIELD: "promotional", SOLID: "news"}

    china = items[CHINA]
    reasons = _rules(china)
    assert reasons["network_source"]["match"] == "InvestorBrandNetwork"
    assert reasons["network_source"]["field"] == "source_name"
    assert reasons["network_boilerplate"]["match"] == "provides a platform for companies to reach a wide audience"
    assert reasons["network_boilerplate"]["field"] == "summary"
    assert china["promo"]["promo_score"] == sum(r["weight"] for r in china["promo"]["reasons"] if r["score"] == "promo")
    assert china["promo"]["tickers"] == ["NASDAQ:QS"]
    assert china["summary"] == ("China leads the global race in battery technology, with companies like "
                                "QuantumScape Corp. (NASDAQ: QS) striving to catch up.")
    assert [s["kind"] for s in china["promo"]["summary_boilerplate"]] == ["network_boilerplate"]

    helio = items[HELIO]
    assert {"wire_dateline", "today_announced", "about_section", "forward_looking", "contact_block"} <= set(_rules(helio))
    assert helio["promo"]["tickers"] == ["NASDAQ:HGRD"]
    kinds = [s["kind"] for s in helio["promo"]["boilerplate"]]
    assert kinds == ["about", "forward_looking", "contact"]
    assert items[NORTHFIELD]["promo"]["tickers"] == ["OTCQB:NFMC"]
    assert {"network_source", "microcap_venue", "stock_ticker"} == set(_rules(items[NORTHFIELD]))


def test_items_show_is_toml_with_seed_keys_first_then_a_presswire_table(presswire):
    presswire("poll")
    ids = {t: row["article_id"] for t, row in _items(presswire).items()}
    doc = parse(presswire("items", "show", str(ids[CHINA])).stdout, "items show")
    assert list(doc.front)[:12] == list(SEED_KEYS) and list(doc.front)[12:] == ["presswire"]
    table = doc.front["presswire"]
    assert table["label"] == "promotional" and table["pr_score"] == 0.0
    assert table["promo_score"] == sum(r["weight"] for r in table["reasons"] if r["score"] == "promo")
    assert table["tickers"] == ["NASDAQ:QS"]
    assert {"rule": "network_source", "score": "promo", "weight": 4.0, "match": "InvestorBrandNetwork",
            "field": "source_name"} in table["reasons"]
    assert "BillionDollarClub provides" not in doc.front["summary"]
    assert doc.front["draft"] is False  # default policy: keep


def test_items_list_filters_by_label(presswire):
    presswire("poll")
    assert set(_items(presswire, "--label", "promotional")) == {CHINA, NORTHFIELD}
    assert set(_items(presswire, "--label", "press_release")) == {HELIO}
    assert set(_items(presswire, "--label", "news")) == {SOLID}
    bad = presswire("items", "list", "--label", "spam", ok=False)
    assert bad.exit_code == 2 and "'spam' is not one of" in bad.stderr
    assert "--label [promotional|press_release|news]" in presswire("items", "list", "--help").stdout


def test_draft_policy_stores_promotional_items_as_drafts(tmp_path, sqlite_url, server):
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/bdc/feed.xml"), "InvestorBrandNetwork (IBN)")],
                                extra='[promo]\npolicy = "draft"\n'))
    pw("poll")
    assert {t: row["draft"] for t, row in _items(pw).items()} == {
        CHINA: True, NORTHFIELD: True, HELIO: False, SOLID: False}
    china_id = _items(pw)[CHINA]["article_id"]
    assert parse(pw("items", "show", str(china_id)).stdout).front["draft"] is True


def test_a_tuned_rules_file_from_the_config_changes_labels(tmp_path, sqlite_url, server):
    rules = tmp_path / "rules.toml"
    rules.write_text(DEFAULT_RULES_PATH.read_text().replace("promotional_threshold = 5.0", "promotional_threshold = 4.0"))
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/bdc/feed.xml"), "InvestorBrandNetwork (IBN)")],
                                extra=f'[promo]\nrules = "{rules}"\n'))
    pw("poll")
    labels = {t: row["promo"]["label"] for t, row in _items(pw).items()}
    assert labels[HELIO] == "promotional" and labels[SOLID] == "promotional"  # 4.5 and 4.0 now cross 4.0


def test_a_broken_rules_file_is_a_config_error_naming_file_and_key(tmp_path, sqlite_url, server):
    rules = tmp_path / "rules.toml"
    rules.write_text(DEFAULT_RULES_PATH.read_text().replace("promotional_threshold = 5.0", 'promotional_threshold = "x"'))
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(server.url("/bdc/feed.xml"), "IBN")],
                                extra=f'[promo]\nrules = "{rules}"\n'))
    result = pw("poll", ok=False)
    assert result.exit_code == 2
    assert f"{rules}: labels.promotional_threshold: expected a number, got str 'x'" in result.stderr


def test_promo_settings(tmp_path):
    assert load_settings(None, environ={}).promo.policy == "keep"
    path = tmp_path / "c.toml"
    path.write_text('[promo]\npolicy = "exclude_from_exports"\n')
    settings = load_settings(path, environ={})
    assert settings.promo.export_excluded_labels == ("promotional",)
    assert load_settings(path, environ={"PRESSWIRE_PROMO_POLICY": "draft"}).promo.export_excluded_labels == ()
    path.write_text('[promo]\npolicy = "hide"\n')
    with pytest.raises(ConfigError, match=r"\[promo\] policy: expected one of keep, draft, exclude_from_exports, got 'hide'"):
        load_settings(path, environ={})
    with pytest.raises(ConfigError, match=r"PRESSWIRE_PROMO_POLICY: policy: expected one of"):
        load_settings(None, environ={"PRESSWIRE_PROMO_POLICY": "nope"})


def test_exports_can_leave_out_promotional_items(presswire, db_url):
    presswire("poll")
    engine = db.make_engine(db_url)
    try:
        with db.session_factory(engine).begin() as s:
            kept = repository.list_items(s, exclude_labels=("promotional",))
            all_items = repository.list_items(s)
    finally:
        engine.dispose()
    assert {i.title for i in kept} == {HELIO, SOLID} and len(all_items) == 4


def test_migration_0002_keeps_old_items_unclassified(db_url):
    """Upgrading a database that already has items: their promo columns are NULL and they render
    without a [presswire] table; downgrade removes the columns again."""
    engine = db.make_engine(db_url)
    now = datetime(2025, 5, 15, tzinfo=timezone.utc)
    try:
        db.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO sources (id, url, name, status, created_at, error_count) "
                              "VALUES (1, 'https://a.example/feed', 'A', 'active', :now, 0)"), {"now": now})
            conn.execute(text("INSERT INTO feed_entries (id, source_id, guid, title, summary_html, content_html, "
                              "author, first_seen_at) VALUES (1, 1, 'g', 't', '', '', '', :now)"), {"now": now})
            conn.execute(text(
                "INSERT INTO items (id, feed_entry_id, source_id, title, date, draft, summary, description, "
                "source_link, enclosure, url, qrcode, body_html, body_text, extraction_method, page_attempts, "
                "retry_page, created_at, updated_at) VALUES (1, 1, 1, 'Old', :now, false, 's', 'd', '', '', "
                "'2025-05-15-old', '', '<p>b</p>', 'b', 'feed', 1, false, :now, :now)"), {"now": now})
        db.upgrade(engine, "head")
        assert db.current_revision(engine) == db.head_revision()
        with db.session_factory(engine).begin() as s:
            old = repository.get_item(s, 1)
            assert old is not None and old.promo is None
            assert repository.list_items(s, label="news") == []
            assert [i.title for i in repository.list_items(s, exclude_labels=("promotional",))] == ["Old"]
        from ingest.frontmatter import item_document
        assert "[presswire]" not in item_document(old)
        db.downgrade(engine, "0001")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("items")}
        assert "promo_label" not in columns and "title" in columns
    finally:
        engine.dispose()
