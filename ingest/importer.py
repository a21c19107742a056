"""Documents in the seed formats -> Items, for `presswire backfill --dir`.

Two formats, told apart by the first line:

  front matter (seed 002)  `+++`, TOML, `+++`, HTML body. Imported field by field: title, date, draft,
                           summary, description, source_link, enclosure, url, qrcode, source and the body
                           are kept exactly; article_id / feed_item_id are another system's ids, kept as
                           provenance (presswire gives the item its own ids). With promo rules it is
                           classified like a polled item (its fields stay as written).
  plain text (seed 000)    first line the title, then one block per line (blank lines are only spacing);
                           a short line without final punctuation is a heading (<h2>), the rest paragraphs.
                           It goes through normalize() like a polled entry whose page gave this text. The
                           date is --date when given, else the file's modification time.

A file that is not text, or whose front matter is broken, is a `problem`, never an exception.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, replace
from datetime import date as date_type, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ingest.decoding import clean_text
from ingest.extract import clean_html, html_blocks
from ingest.frontmatter import FrontMatterError, parse
from ingest.model import Extraction, FeedEntry, Item, Provenance
from ingest.normalize import entry_keys, item_slug, normalize, plain
from ingest.promo import Rules, classify

HEADING_MAX_CHARS = 100
HEADING_MAX_WORDS = 12
_FINAL_PUNCTUATION = tuple('.!?;:,"\'”’…)]')
MAX_FILE_BYTES = 10_000_000


@dataclass(frozen=True)
class Imported:
    """One file's outcome: an item (with the source name the document gives, if any), or a problem."""

    path: Path
    item: Item | None = None
    source_name: str = ""  # the front matter's `source`; "" for plain text
    problem: str | None = None


def document_files(directory: Path) -> Iterator[Path]:
    """Regular, non-hidden files under `directory`, depth first, in name order."""
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            yield from document_files(path)
        elif path.is_file():
            yield path


def import_file(path: Path, *, source_name: str, date: datetime | None = None, rules: Rules | None = None
                ) -> Imported:
    """Read one document; `source_name` names plain-text items (front matter names its own)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # never more than the limit in memory, whatever the file's size
    except OSError as exc:
        return Imported(path, problem=f"import {path}: cannot read: {exc.strerror or exc}")
    if len(raw) > MAX_FILE_BYTES:
        return Imported(path, problem=f"import {path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = clean_text(raw.decode("utf-8-sig"))  # no NUL or control character reaches the store
    except UnicodeDecodeError:
        return Imported(path, problem=f"import {path}: not UTF-8 text")
    if text.startswith("+++"):
        return _front_matter(path, text, rules)
    when = date or datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    return _plain_text(path, text, source_name, when, rules)


# --- front matter (seed 002) ----------------------------------------------------------------------

def _front_matter(path: Path, text: str, rules: Rules | None) -> Imported:
    try:
        doc = parse(text, str(path))
        front, body = doc.front, clean_text(doc.body)
        title = _string(front, "title", required=True)
        when = _datetime(front.get("date"), path)
        fields = {k: _string(front, k) for k in ("summary", "description", "source_link", "enclosure", "url",
                                                  "qrcode", "source")}
        draft = front.get("draft", False)
        if not isinstance(draft, bool):
            raise FrontMatterError(f"{path}: 'draft' must be true or false")
    except FrontMatterError as exc:
        return Imported(path, problem=f"import {exc}")
    entry = FeedEntry(guid=None, link=fields["source_link"] or None, title=title,
                      summary_html=html.escape(fields["summary"], quote=False), published=when,
                      enclosure=fields["enclosure"] or None)
    item = Item(keys=entry_keys(entry), entry=entry, title=title, date=when, draft=draft,
                summary=fields["summary"], description=fields["description"], source_link=fields["source_link"],
                enclosure=fields["enclosure"], slug=fields["url"] or item_slug(when, title), source=fields["source"],
                body_html=body, body_text="\n\n".join(html_blocks(body)), method="import",
                qrcode=fields["qrcode"] if "qrcode" in front else None,
                origin=Provenance(_int(front.get("article_id")), _int(front.get("feed_item_id")), str(path)))
    if rules:
        item = replace(item, promo=classify(item.body_text, title=title, summary=plain(fields["summary"]),
                                            source_name=fields["source"], source_url=fields["source_link"],
                                            rules=rules))
    return Imported(path, item=item, source_name=fields["source"])


def _string(front: dict[str, Any], key: str, required: bool = False) -> str:
    value = front.get(key, "")
    if not isinstance(value, str):
        raise FrontMatterError(f"'{key}' must be a string, got {type(value).__name__}")
    value = clean_text(value)  # a TOML "\u0000" escape would bring a NUL the file itself does not hold
    if required and not value.strip():
        raise FrontMatterError(f"'{key}' is missing or empty")
    return value


def _datetime(value: Any, path: Path) -> datetime:
    """The seed writes dates as RFC 3339 strings; TOML datetimes and dates are accepted too."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise FrontMatterError(f"{path}: 'date' is not an RFC 3339 date: {value!r}") from None
    if isinstance(value, date_type) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise FrontMatterError(f"{path}: 'date' is missing")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- plain text (seed 000) ------------------------------------------------------------------------

def _plain_text(path: Path, text: str, source_name: str, when: datetime, rules: Rules | None) -> Imported:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 2:
        return Imported(path, problem=f"import {path}: not an article (a title line and text are needed)")
    title, blocks = lines[0], text_blocks(lines[1:])
    body_text = "\n\n".join(b for _, b in blocks)
    body_html = clean_html("".join(f"<{tag}>{html.escape(b, quote=False)}</{tag}>" for tag, b in blocks))
    digest = hashlib.sha256(f"{title}\n{body_text}".encode()).hexdigest()[:32]
    entry = FeedEntry(guid=f"sha256:{digest}", link=None, title=html.escape(title, quote=False), published=when)
    page = Extraction(text=body_text, body_html=body_html, method="text", title=title)
    item = normalize(entry, page, source_name=source_name, seen_at=when, feed_body=Extraction(), rules=rules)
    return Imported(path, item=item)


def text_blocks(lines: list[str]) -> list[tuple[str, str]]:
    """(tag, text) per line: "h2" for a heading line followed by more text, else "p"."""
    last = len(lines) - 1
    return [("h2" if i < last and is_heading(line) else "p", line) for i, line in enumerate(lines)]


def is_heading(line: str) -> bool:
    return (len(line) <= HEADING_MAX_CHARS and len(line.split()) <= HEADING_MAX_WORDS
            and not line.endswith(_FINAL_PUNCTUATION))
