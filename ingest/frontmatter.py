"""Render and parse documents in the seed format: TOML front matter between +++ lines, then the body.

    +++
    title = "..."
    ...12 keys in SEED_KEYS order...
    [presswire]          presswire's own fields, after the seed keys so a Hugo site reads those unchanged
    label = "promotional"
    promo_score = 10.0
    pr_score = 0.0
    tickers = ["NASDAQ:QS"]
    [[presswire.reasons]]
    rule = "network_source"
    ...
    +++
    <blank line>
    <HTML body>

The TOML is written by tomli-w, never by string formatting, so any title (quotes, backslashes,
newlines, "+++") renders to valid TOML that parses back to the same value.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import tomli_w

from ingest.errors import PresswireError
from ingest.model import StoredItem

SEED_KEYS = ("title", "date", "draft", "summary", "description", "source_link", "enclosure",
             "article_id", "feed_item_id", "url", "qrcode", "source")
DELIMITER = "+++"


class FrontMatterError(PresswireError):
    pass


@dataclass(frozen=True)
class Document:
    front: dict[str, Any]
    body: str


def render(front: Mapping[str, Any], body: str) -> str:
    """The document text; keys keep the mapping's order (seed keys first, by convention)."""
    toml = tomli_w.dumps(dict(front))
    return f"{DELIMITER}\n{toml}{DELIMITER}\n\n{body}"


def parse(text: str, where: str = "document") -> Document:
    """Split and parse a front-matter document; errors name `where` and what was wrong."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n")
    if not text.startswith(DELIMITER + "\n"):
        raise FrontMatterError(f"{where}: does not start with a '{DELIMITER}' line")
    end = text.find(f"\n{DELIMITER}\n", len(DELIMITER))
    if end == -1:
        if text.endswith(f"\n{DELIMITER}"):
            end = len(text) - len(DELIMITER) - 1
        else:
            raise FrontMatterError(f"{where}: no closing '{DELIMITER}' line")
    try:
        front = tomllib.loads(text[len(DELIMITER) + 1:end + 1])
    except tomllib.TOMLDecodeError as exc:
        raise FrontMatterError(f"{where}: front matter is not valid TOML: {exc}") from exc
    body = text[end + len(DELIMITER) + 2:]
    return Document(front=front, body=body.removeprefix("\n"))


def seed_front(item: StoredItem) -> dict[str, Any]:
    """The 12 seed keys, in the seed's order and types."""
    return {
        "title": item.title,
        "date": rfc3339(item.date),
        "draft": item.draft,
        "summary": item.summary,
        "description": item.description,
        "source_link": item.source_link,
        "enclosure": item.enclosure,
        "article_id": item.article_id,
        "feed_item_id": item.feed_item_id,
        "url": item.url,
        "qrcode": item.qrcode,
        "source": item.source,
    }


def presswire_table(item: StoredItem) -> dict[str, Any]:
    """The trailing [presswire] table: promo label, scores, tickers and reasons (empty if unclassified)."""
    if item.promo is None:
        return {}
    p = item.promo
    reasons = [{"rule": r.rule, "score": r.score, "weight": r.weight, "match": r.match, "field": r.field}
               for r in p.reasons]
    return {"label": p.label, "promo_score": p.promo_score, "pr_score": p.pr_score,
            "tickers": list(p.tickers), "reasons": reasons}


def item_document(item: StoredItem) -> str:
    """A stored item in the seed's format: the 12 seed keys first, in order, then [presswire]."""
    front = seed_front(item)
    extra = presswire_table(item)
    if extra:
        front["presswire"] = extra
    return render(front, item.body_html)


def rfc3339(when: datetime) -> str:
    """UTC with a Z and whole seconds, as in the seed: 2025-05-15T15:55:19Z."""
    return when.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
