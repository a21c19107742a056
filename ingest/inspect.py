"""`presswire inspect URL|FILE`: one page (or a feed's entries) through fetch, extract, normalize and the
promotional flag, with what each step produced and why, so a user can debug a source. Nothing is stored.

    inspections = inspect_target(ctx, "https://wire.example/story", limit=5)
    print(render(inspections[0]))       # or as_json(...) for one JSON line

A feed with no entries is one EmptyFeed: there is nothing to extract, and it is not a page.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ingest import decoding
from ingest.discover import FEED_OR_PAGE_ACCEPT
from ingest.errors import FeedError, PresswireError
from ingest.extract import from_feed
from ingest.frontmatter import rfc3339
from ingest.model import ExtractRules, Extraction, FeedEntry, Item
from ingest.normalize import normalize, plain
from ingest.parse import parse_feed
from ingest.pipeline import Context, extract_and_follow, fetch_and_extract


@dataclass(frozen=True)
class Inspection:
    target: str  # the URL or file as given
    fetched: str  # what the fetch step did
    page_url: str | None
    page: Extraction  # what extraction gave (after a read-more link was followed, if one was)
    item: Item  # the normalized item, classified when promo rules are loaded
    entry_title: str | None = None  # set when the target was a feed and this is one of its entries


@dataclass(frozen=True)
class EmptyFeed:
    """A target that is a feed without entries."""
    target: str
    fetched: str
    url: str
    title: str  # the feed's


def inspect_target(ctx: Context, target: str, *, page_url: str | None = None, rules: ExtractRules | None = None,
                   limit: int = 5) -> list[Inspection | EmptyFeed]:
    """One Inspection for a page; one per entry (up to `limit`) for a feed; an EmptyFeed for a feed without
    entries."""
    content, url, fetched, headers = _load(ctx, target, page_url)
    try:
        feed = parse_feed(content, url, headers)
    except FeedError:
        feed = None
    if feed is not None and not feed.entries:
        return [EmptyFeed(target, f"{fetched}; a feed with 0 entries", url, feed.title)]
    if feed is not None:
        return [_inspect_entry(ctx, target, entry, f"{fetched}; feed entry {i + 1} of {len(feed.entries)}", rules)
                for i, entry in enumerate(feed.entries[:limit])]
    entry = FeedEntry(guid=None, link=url, title="")
    page = extract_and_follow(ctx, entry, decoding.page_content(content, headers.get("content-type", "")), url,
                              rules)
    return [Inspection(target, fetched, url, page, _normalize(ctx, entry, page, url))]


def _inspect_entry(ctx: Context, target: str, entry: FeedEntry, fetched: str, rules: ExtractRules | None
                   ) -> Inspection:
    page, page_url, _retryable = fetch_and_extract(ctx, entry, rules)
    fetched = f"{fetched}; page {page_url or entry.link or '-'}"
    return Inspection(target, fetched, page_url, page, _normalize(ctx, entry, page, page_url),
                      entry_title=plain(entry.title))


def _normalize(ctx: Context, entry: FeedEntry, page: Extraction, page_url: str | None) -> Item:
    return normalize(entry, page, source_name="", seen_at=ctx.clock(), feed_body=from_feed(entry),
                     page_url=page_url, rules=ctx.promo_rules)


def _load(ctx: Context, target: str, page_url: str | None) -> tuple[bytes, str, str, dict[str, str]]:
    """(content, the URL it lives at, what was done to get it, the response's headers: a charset, as polling
    reads them). A URL's scheme is any case (HTTP://...); a file: URL is read as the file it names."""
    scheme = target.partition(":")[0].lower()
    if scheme in ("http", "https"):
        started = time.monotonic()
        response = ctx.fetcher.get(target, accept=FEED_OR_PAGE_ACCEPT)
        ms = int((time.monotonic() - started) * 1000)
        moved = f" -> {response.final_url}" if response.final_url != target else ""
        return response.content, response.final_url, \
            f"GET {target}{moved}: HTTP {response.status}, {len(response.content)} bytes, {ms} ms", \
            dict(response.headers)
    path = Path(_file_path(target) if scheme == "file" else target)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise PresswireError(f"inspect {target}: cannot read the file: {exc.strerror or exc}") from None
    url = page_url or path.resolve().as_uri()
    return content, url, f"file {target}: {len(content)} bytes, read as {url}", {}


def _file_path(url: str) -> str:
    """The path a file: URL names (file:///tmp/a%20b.html: /tmp/a b.html), on this machine only."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # file://[x/
        raise PresswireError(f"inspect {url}: cannot read the file: {exc}") from None
    if parts.netloc.lower() not in ("", "localhost"):
        raise PresswireError(f"inspect {url}: cannot read the file: it is on another host ({parts.netloc})")
    return unquote(parts.path)


# --- output ---------------------------------------------------------------------------------------

def as_json(insp: Inspection | EmptyFeed) -> str:
    """One JSON line: what the item would be (title, text, body_html, method) and how it came to be; for a
    feed without entries, the feed (its title, 0 entries)."""
    if isinstance(insp, EmptyFeed):
        return json.dumps({"target": insp.target, "url": insp.url, "fetched": insp.fetched,
                           "feed": {"title": insp.title, "entries": 0}}, ensure_ascii=False)
    page, item = insp.page, insp.item
    promo = item.promo
    return json.dumps({
        "target": insp.target, "url": insp.page_url, "title": item.title, "text": item.body_text,
        "body_html": item.body_html, "method": item.method, "trail": item.trail, "failure": item.failure,
        "read_more_url": item.read_more_url, "date": rfc3339(item.date), "enclosure": item.enclosure,
        "canonical": page.canonical, "language": page.language, "summary": item.summary,
        "description": item.description, "fetched": insp.fetched,
        "promo": None if promo is None else {
            "label": promo.label, "promo_score": promo.promo_score, "pr_score": promo.pr_score,
            "reasons": [{"rule": r.rule, "score": r.score, "weight": r.weight, "match": r.match, "field": r.field}
                        for r in promo.reasons]},
    }, ensure_ascii=False)


def render(insp: Inspection | EmptyFeed) -> str:
    """The steps as a short human report."""
    if isinstance(insp, EmptyFeed):
        return "\n".join([f"== {insp.target}", _row("fetch", insp.fetched),
                          _row("feed", f"title {insp.title!r}; no entries to inspect")])
    page, item = insp.page, insp.item
    lines = [f"== {insp.target}" + (f" :: {insp.entry_title}" if insp.entry_title else ""),
             _row("fetch", insp.fetched),
             _row("extract", f"method {item.method}; {len(item.body_text)} chars of body text"),
             _row("  steps", item.trail or "-")]
    if item.failure:
        lines.append(_row("  failure", item.failure))
    lines.append(_row("  read more", f"followed {item.read_more_url}" if item.read_more_url else
                      "no teaser link followed"))
    lines.append(_row("metadata", f"title {page.title!r}; date {rfc3339(page.date) if page.date else '-'}; "
                                  f"image {page.image or '-'}; canonical {page.canonical or '-'}; "
                                  f"language {page.language or '-'}"))
    lines += [_row("normalize", f"title {item.title!r}"), _row("  date", rfc3339(item.date)),
              _row("  summary", item.summary or "-"), _row("  description", item.description or "-"),
              _row("  source_link", item.source_link or "-"), _row("  enclosure", item.enclosure or "-"),
              _row("  url", item.slug)]
    lines += _promo_rows(item)
    lines.append(_row("body", (item.body_text[:400] + ("…" if len(item.body_text) > 400 else "")) or "-"))
    return "\n".join(lines)


def _promo_rows(item: Item) -> list[str]:
    promo = item.promo
    if promo is None:
        return [_row("promo", "not classified (no promo rules loaded)")]
    rows = [_row("promo", f"{promo.label} (promo score {promo.promo_score:g}, press-release score "
                          f"{promo.pr_score:g})")]
    rows += [_row("  reason", f"{r.rule} ({r.score} {r.weight:+g}): {r.match!r} in {r.field}") for r in promo.reasons]
    return rows


def _row(label: str, value: str) -> str:
    return f"{label:<14}{value}"
