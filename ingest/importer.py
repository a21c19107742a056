"""Documents in the seed formats -> Items, for `presswire backfill --dir`.

Two formats, told apart by the first line:

  front matter (seed 002)  `+++`, TOML, `+++`, HTML body. Imported field by field: title, date, draft,
                           summary, description, source_link, enclosure, url, qrcode, source and the body
                           are kept exactly (the body through nh3, as every stored body: our tags stay as
                           written, scripts and event handlers go); article_id / feed_item_id are another
                           system's ids, kept as provenance (presswire gives the item its own ids). With
                           promo rules it is classified like a polled item (its fields stay as written). Its
                           identity is its source_link; without one, its article_id (else feed_item_id, else
                           a hash of title, date, url and body) is its guid.
  plain text (seed 000)    first line the title, then one block per line (blank lines are only spacing);
                           a short line without final punctuation is a heading (<h2>), the rest paragraphs.
                           It goes through normalize() like a polled entry whose page gave this text. The
                           date is --date when given, else the file's modification time.

A file that is not text, or whose front matter is broken, is a `problem`, never an exception: so is a
field the store or the pipeline could not take (an id outside 64 bits, a date that leaves the calendar in
UTC, a link that is not a URL, a `url` that is not a slug: it names the QR code's file).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, replace
from datetime import date as date_type, datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from ingest import qr
from ingest.decoding import clean_text
from ingest.discover import EARLIEST, LATEST
from ingest.extract import clean_html, html_blocks
from ingest.frontmatter import FrontMatterError, parse
from ingest.model import Extraction, FeedEntry, Item, Provenance
from ingest.normalize import entry_keys, item_slug, normalize, plain
from ingest.promo import Rules, classify
from ingest.sentences import is_heading

MAX_FILE_BYTES = 10_000_000
# a `url` names files (the QR code's, the export's): one file name, never a path ("../x", "/tmp/x", "a/b"):
# no slash, white space or control character, and no leading dot. Other systems' slugs ("Q3_Results",
# "résultats-t3") are kept; presswire's own (normalize.slugify) are lowercase a-z, 0-9 and hyphens.
SLUG = re.compile(r"[^\s/\\.\x00-\x1f\x7f][^\s/\\\x00-\x1f\x7f]*")
MAX_SLUG_CHARS = 200  # with the store's "-N" suffix and ".png.tmp", still a file name (255 bytes)
MAX_ID = 2**63 - 1  # ids are signed 64-bit integers in the store
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico"}


@dataclass(frozen=True)
class Imported:
    """One file's outcome: an item (with the source name the document gives, if any), or a problem."""

    path: Path
    item: Item | None = None
    source_name: str = ""  # the front matter's `source`; "" for plain text
    problem: str | None = None


def document_files(directory: Path) -> Iterator[Path]:
    """Regular, non-hidden files under `directory`, depth first, in name order; not images: an export's
    directory holds its QR code PNGs (a Hugo page bundle its pictures), which are no documents, not errors."""
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            yield from document_files(path)
        elif path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES:
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
    except FrontMatterError as exc:
        return Imported(path, problem=f"import {exc}")
    # the body through nh3 like every stored body (README "Active HTML"): a document's <script>, event
    # handlers or javascript: links would otherwise reach `items show`; a body of our tags stays as written
    front, body = doc.front, clean_html(clean_text(doc.body))
    try:
        title = _string(front, "title", required=True)
        when = _datetime(front.get("date"))
        fields = {k: _string(front, k) for k in ("summary", "description", "source_link", "enclosure", "url",
                                                  "qrcode", "source")}
        for key in ("source_link", "enclosure"):
            _check_url(key, fields[key])
        _check_slug(fields["url"])
        draft = front.get("draft", False)
        if not isinstance(draft, bool):
            raise FrontMatterError("'draft' must be true or false")
        origin = Provenance(_id(front, "article_id"), _id(front, "feed_item_id"), str(path))
    except FrontMatterError as exc:
        return Imported(path, problem=f"import {path}: {exc}")
    entry = FeedEntry(guid=None if fields["source_link"] else _identity(origin, when, title, fields["url"], body),
                      link=fields["source_link"] or None, title=title,
                      summary_html=html.escape(fields["summary"], quote=False), published=when,
                      enclosure=fields["enclosure"] or None)
    item = Item(keys=entry_keys(entry), entry=entry, title=title, date=when, draft=draft,
                summary=fields["summary"], description=fields["description"], source_link=fields["source_link"],
                enclosure=fields["enclosure"], slug=fields["url"] or item_slug(when, title), source=fields["source"],
                body_html=body, body_text="\n\n".join(html_blocks(body)), method="import",
                qrcode=fields["qrcode"] if "qrcode" in front else _derived_qrcode(fields["source_link"]),
                origin=origin)
    if rules:
        item = replace(item, promo=classify(item.body_text, title=title, summary=plain(fields["summary"]),
                                            source_name=fields["source"], source_url=fields["source_link"],
                                            rules=rules))
    return Imported(path, item=item, source_name=fields["source"])


def _derived_qrcode(link: str) -> str | None:
    """None: the store names the QR code after the slug; "" when no QR code can hold the link (as polled
    items get in ingest.assemble), so the document points at no image that cannot exist."""
    return None if qr.fits(link) else ""


def _identity(origin: Provenance, when: datetime, title: str, url: str, body: str) -> str:
    """The guid of a document without a source_link (nothing else tells two "Weekly update"s apart): the
    other system's id when it gives one, else a hash of what makes the document itself."""
    if origin.article_id is not None:
        return f"article_id:{origin.article_id}"
    if origin.feed_item_id is not None:
        return f"feed_item_id:{origin.feed_item_id}"
    digest = hashlib.sha256("\n".join((title, when.isoformat(), url, body)).encode()).hexdigest()[:32]
    return f"sha256:{digest}"


def _string(front: dict[str, Any], key: str, required: bool = False) -> str:
    value = front.get(key, "")
    if not isinstance(value, str):
        raise FrontMatterError(f"'{key}' must be a string, got {type(value).__name__}")
    value = clean_text(value)  # a TOML "\u0000" escape would bring a NUL the file itself does not hold
    if required and not value.strip():
        raise FrontMatterError(f"'{key}' is missing or empty")
    return value


def _datetime(value: Any) -> datetime:
    """The seed writes dates as RFC 3339 strings; TOML datetimes and dates are accepted too."""
    if value is None:
        raise FrontMatterError("'date' is missing")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise FrontMatterError(f"'date' is not an RFC 3339 date: {value!r}") from None
    if isinstance(value, date_type) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise FrontMatterError(f"'date' must be an RFC 3339 date string or a TOML date, got "
                               f"{type(value).__name__} {value!r}")
    try:
        when = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        when = None
    if when is None or not EARLIEST <= when < LATEST:
        raise FrontMatterError(f"'date' is out of range (years {EARLIEST.year} to {LATEST.year - 1} in UTC): "
                               f"{value.isoformat()}")
    return when


def _check_url(key: str, value: str) -> None:
    """Links are split into host and port further on (dedup, promo rules): one that cannot be is refused here."""
    try:
        urlsplit(value).port
    except ValueError as exc:
        raise FrontMatterError(f"'{key}' is not a valid URL ({exc}): {value!r}") from None


def _check_slug(url: str) -> None:
    """`url` names the item's QR code file (and export file): a slug, never a path like "../x" or "/tmp/x"."""
    if url and not (SLUG.fullmatch(url) and len(url.encode()) <= MAX_SLUG_CHARS):
        raise FrontMatterError(f"'url' must be a slug (one file name: no slash, white space or leading dot, at "
                               f"most {MAX_SLUG_CHARS} bytes): {url[:300]!r}")


def _id(front: dict[str, Any], key: str) -> int | None:
    value = front.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise FrontMatterError(f"'{key}' must be an integer, got {type(value).__name__} {value!r}")
    if not -MAX_ID - 1 <= value <= MAX_ID:
        raise FrontMatterError(f"'{key}' is outside the 64-bit integer range: {value}")
    return value


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
