"""Front matter safety, property-based: any values in every seed field and in the [presswire] table (quotes,
backslashes, newlines, "+++", TOML syntax, control characters, very long text) render to valid TOML that parses
back to the same values, through `items show`'s renderer and the Hugo export's."""

from __future__ import annotations

import tomllib
from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from ingest import frontmatter
from ingest.export import hugo_document
from ingest.frontmatter import SEED_KEYS, item_document, rfc3339
from ingest.model import PromoResult, Reason, StoredItem

NASTY = ['"', "'", "\\", '\\"', "\n", "\r\n", "\r", "\t", "+++", "\n+++\n", '"""', "'''", "= ", "[presswire]",
         "[[presswire.reasons]]", 'title = "injected"', "# comment", "\x00", "\x1b", "\x7f", "\u0085", "\u2028",
         "\ufeff", "\U0001F600", "é", "\\u0041", "\\x00", "${x}", "{{ .Title }}", "</script>", "]]>"]
STRINGS = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=120),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=8), max_size=25).map("".join),
    st.tuples(st.sampled_from(NASTY) | st.text(min_size=1, max_size=12), st.integers(500, 6000)).map(
        lambda t: t[0] * t[1]),  # very long text: up to 72,000 characters
)
BODIES = STRINGS.map(lambda s: s.replace("\r", ""))  # documents end lines with \n: parse() reads \r\n as \n
SEED_TEXT = ("title", "summary", "description", "source_link", "enclosure", "url", "qrcode", "source")


@st.composite
def stored_items(draw) -> StoredItem:
    text = {key: draw(STRINGS) for key in SEED_TEXT}
    reasons = tuple(Reason(rule=draw(STRINGS), score="promo", weight=draw(st.floats(-1e6, 1e6)), match=draw(STRINGS),
                           start=0, end=1, field=draw(STRINGS)) for _ in range(draw(st.integers(0, 3))))
    promo = PromoResult(label=draw(STRINGS), promo_score=1.5, pr_score=0.0, reasons=reasons, boilerplate=(),
                        tickers=tuple(draw(st.lists(STRINGS, max_size=3))), lead_end=0, tail_start=0)
    when = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 1, 1),
                             timezones=st.just(timezone.utc)))
    return StoredItem(article_id=draw(st.integers(1, 2**62)), feed_item_id=draw(st.integers(1, 2**62)), source_id=1,
                      date=when, draft=draw(st.booleans()), body_html=draw(BODIES),
                      promo=draw(st.none() | st.just(promo)), **text)


def _expected_front(item: StoredItem) -> dict:
    front = {key: getattr(item, key) for key in SEED_TEXT}
    return {**front, "date": rfc3339(item.date), "draft": item.draft, "article_id": item.article_id,
            "feed_item_id": item.feed_item_id}


@settings(max_examples=150, deadline=None)
@given(stored_items())
def test_every_field_round_trips_through_items_show(item):
    text = item_document(item)
    doc = frontmatter.parse(text)
    assert {k: doc.front[k] for k in SEED_KEYS} == _expected_front(item)
    assert tuple(doc.front)[:len(SEED_KEYS)] == SEED_KEYS
    assert doc.body == item.body_html
    toml = text[len("+++\n"):text.index("\n+++\n") + 1]
    assert tomllib.loads(toml) == doc.front  # the front matter alone is valid TOML
    if item.promo is not None:
        table = doc.front["presswire"]
        assert table["label"] == item.promo.label and table["tickers"] == list(item.promo.tickers)
        assert [(r["rule"], r["match"], r["field"], r["weight"]) for r in table["reasons"]] == \
               [(r.rule, r.match, r.field, r.weight) for r in item.promo.reasons]
    else:
        assert "presswire" not in doc.front


@settings(max_examples=100, deadline=None)
@given(stored_items())
def test_every_seed_field_round_trips_through_the_hugo_export(item):
    doc = frontmatter.parse(hugo_document(item))
    assert doc.front == _expected_front(item) and tuple(doc.front) == SEED_KEYS
