from __future__ import annotations

import re
import tomllib
from datetime import datetime, timezone

import pytest

from conftest import SEEDS
from ingest.frontmatter import SEED_KEYS, FrontMatterError, item_document, parse, render, rfc3339
from ingest.model import StoredItem

SEED_002 = next(SEEDS.glob("002_*.txt"))


def test_seed_002_round_trips_byte_for_byte():
    text = SEED_002.read_text()
    doc = parse(text, str(SEED_002))
    assert tuple(doc.front) == SEED_KEYS
    assert doc.front["article_id"] == 85225 and doc.front["draft"] is False
    assert doc.body.startswith("<p>China has solidified")
    assert render(doc.front, doc.body) == text


def test_seed_types_are_kept():
    doc = parse(SEED_002.read_text())
    types = {k: type(v) for k, v in doc.front.items()}
    assert types == {**{k: str for k in SEED_KEYS}, "draft": bool, "article_id": int, "feed_item_id": int}


@pytest.mark.parametrize("title", [
    'He said "hello" \\ and \\n left', "line one\nline two\r\n+++\nthird", "+++", "a = 1\n[table]\n'''x'''",
    "\x00\x07 control \u2028 chars", "é" * 5000,
])
def test_hostile_titles_render_to_toml_that_parses_back(title):
    front = {"title": title, "date": "2025-05-15T15:55:19Z", "draft": False}
    doc = parse(render(front, "<p>x</p>"))
    assert doc.front["title"] == title and doc.body == "<p>x</p>"


def test_item_document_has_seed_keys_in_order():
    item = StoredItem(article_id=7, feed_item_id=3, source_id=1, title="T", summary="S", description="D",
                      date=datetime(2025, 5, 15, 15, 55, 19, 123, tzinfo=timezone.utc), draft=False,
                      source_link="https://x/", enclosure="", url="2025-05-15-t", qrcode="qrcodes/2025-05-15-t.png",
                      source="IBN", body_html="<p>b</p>")
    doc = parse(item_document(item))
    assert tuple(doc.front) == SEED_KEYS
    assert doc.front["date"] == "2025-05-15T15:55:19Z"
    assert tomllib.loads(item_document(item).split("+++\n")[1])["article_id"] == 7


@pytest.mark.parametrize("text,message", [
    ("title = 'x'\n", "does not start with a '+++' line"),
    ("+++\ntitle = 'x'\n", "no closing '+++' line"),
    ("+++\ntitle = \n+++\n\nbody", "front matter is not valid TOML"),
])
def test_parse_errors_name_the_problem(text, message):
    with pytest.raises(FrontMatterError, match=re.escape(message)):
        parse(text, "some.md")


def test_rfc3339_converts_to_utc():
    from datetime import timedelta
    when = datetime(2025, 5, 15, 17, 55, 19, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(when) == "2025-05-15T15:55:19Z"
