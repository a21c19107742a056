"""Feed entry + extraction -> Item in the seed front-matter schema.

Field by field (see the seed 002 document):
  title        the feed's title (as text: tags of an HTML title stripped, a plain-text one kept whole), else
               the page's title; without the source's or the site's name before or after it ("Acme wins |
               Business Wire": ingest.pagemeta.without_site_name, which the page's title went through too). The
               site's names: the source's, the feed's own <title>, the page's (og:site_name ...), the host's
  date         the feed's date, else the page's, else the time we first saw the entry; RFC 3339 UTC "Z".
               A date before 1971 (a zero timestamp) or more than a day after we saw the entry is not
               believed: the next one in that list is used.
  summary      the first sentences (<= 300 characters) of the feed's summary, else of the body from its first
               line that is no heading ("FOR IMMEDIATE RELEASE", a photo credit, a section title)
  description  the page's meta description, else the text; whole sentences (<= 160 characters), else cut at a word
               Both start after a wire's dateline ("RENO, Nev., March 4, 2025 /PRNewswire/ -- "), or one naming
               no wire ("TULSA, Okla., March 3, 2025 — ", the place in capitals): lists and cards show the news,
               not where and through whom it was sent. The body keeps it.
               Both are built from clean text: with promo rules, the boilerplate spans that
               ingest.promo marks (About blocks, disclaimers, "X provides a platform for companies
               to reach ... investors" sentences) are left out of the summary and description.
  source_link  the entry's link (after redirects, canonicalized), or the page's rel=canonical on the same
               site; "" unless http(s)
  enclosure    RSS enclosure / media:content image, else the page's og:image, else ""; only http(s) URLs
  url          "YYYY-MM-DD-" + slug of the title

Every string that comes in (the entry's, the page's) is cleaned first (decoding.clean_text): no
control characters, NULs or lone surrogates reach the store, whichever path built the entry.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Iterator
from urllib.parse import urlsplit

from ingest import decoding
from ingest.dedup import wire_dateline_end
from ingest.extract import html_blocks
from ingest.model import EntryKeys, Extraction, FeedEntry, Item, PromoResult
from ingest.pagemeta import site_names, without_site_name
from ingest.promo import Rules, classify, clean_text, without_boilerplate
from ingest.sentences import ABBREVIATION, is_heading
from ingest.urls import canonicalize, href_as_browsers_read, prefer_canonical

SUMMARY_CHARS = 300
DESCRIPTION_CHARS = 160
SLUG_CHARS = 120
MIN_PAGE_CHARS = 200  # a page body shorter than this, and shorter than the feed's content, is not the article
# a sentence's end: group 1 or 2, a closing quote, is kept with it. Chinese and Japanese put no space after their
# full stops (。！？) and have no capitals to look for
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"”’)]?)\s+(?=[A-Z0-9\"“(])|(?<=[。！？])([」』”’）]?)\s*(?=\S)")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# A dateline that names no wire, at the very start of a lead: the place in capitals (the dateline convention:
# "TULSA", "ST. LOUIS", "WINSTON-SALEM"), maybe its state or country (", Okla.", ", Ontario, Canada"), a month and a
# day (and year), a dash. A place in mixed case ("Phoenix, May 15, 2025 – ") stays: a sentence may open so too
# ("Friday, May 15 – ...", "Acme, March 3 - ..."), and a summary cut short is worse than one with its dateline.
_CAPS = "A-ZÀ-ÖØ-Þ"
_PLAIN_DATELINE = re.compile(
    rf"""[{_CAPS}][{_CAPS}.'’&-]*(?:\ [{_CAPS}][{_CAPS}.'’&-]*){{0,4}}   # TULSA, NEW YORK, ST. LOUIS
        (?:,\s+[A-Z][\w.'’-]*(?:\ [A-Z][\w.'’-]*){{0,2}}){{0,2}}         # , Okla. / , N.Y. / , Ontario, Canada
        ,\s+(?:January|February|March|April|May|June|July|August|September|October|November|December
             |Jan\.|Feb\.|Mar\.|Apr\.|Jun\.|Jul\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)
        \s+\d{{1,2}}(?:,?\s+\d{{4}})?                                        # March 3, 2025
        \s*(?:--|—|–|-)\s*""",
    re.VERBOSE)
EARLIEST_DATE = datetime(1971, 1, 1, tzinfo=timezone.utc)  # before this, a date is a zero timestamp, not news
FUTURE_SLACK = timedelta(days=1)  # a date later than this after the entry was seen is not believed


def entry_keys(entry: FeedEntry) -> EntryKeys:
    """The entry's identity in its source: GUID and canonical link, but not a key its feed gave different
    entries too (entry.identity, set by parse_feed); a content hash when it has neither."""
    link = canonicalize(entry.link) if entry.link else None
    guid = entry.guid
    if guid and link and entry.identity != "both":
        guid, link = (None, link) if entry.identity == "link" else (guid, None)
    if not guid and not link:
        digest = hashlib.sha256(f"{entry.title}\n{entry.summary_html}".encode()).hexdigest()[:32]
        guid = f"sha256:{digest}"
    return EntryKeys(guid=guid, link=link)


def normalize(entry: FeedEntry, page: Extraction, *, source_name: str, seen_at: datetime,
              feed_body: Extraction, page_url: str | None = None, rules: Rules | None = None) -> Item:
    """Build the Item; `page` is what the article page gave, `feed_body` the feed's own content.
    With `rules`, the item is classified (ingest.promo) and summaries skip boilerplate."""
    entry, page, feed_body = (decoding.clean_strings(r) for r in (entry, page, feed_body))
    page = _judge(page, feed_body)
    used_feed = not page.ok
    body = feed_body if used_feed else page
    date = (_believed(entry.published, seen_at) or _believed(page.date, seen_at) or seen_at).astimezone(timezone.utc)
    link = _web_url(page_url) or _web_url(entry.link)  # a followed teaser keeps its own URL
    canonical = None if page.followed_url else page.canonical  # checked there: http(s), same site
    source_link = prefer_canonical(link, canonical) if link else ""  # the page's rel=canonical, same site only
    title = plain(entry.title) or " ".join(page.title.split())
    title = without_site_name(title, site_names(source_link, source_name, entry.feed_title, page.site_name)) \
        or "(untitled)"
    feed_summary = plain(entry.summary_html)
    promo = classify(body.text, title=title, summary=feed_summary, source_name=source_name,
                     source_url=source_link, rules=rules) if rules else None
    summary, description = summaries(body.text, feed_summary, page.description, promo, rules)
    return Item(
        keys=entry_keys(entry),
        entry=entry,
        title=title,
        date=date,
        draft=False,
        summary=summary,
        description=description,
        source_link=source_link,
        enclosure=_web_url(entry.enclosure) or _web_url(page.image) or "",
        slug=item_slug(date, title),
        source=source_name,
        body_html=body.body_html,
        body_text=body.text,
        method=body.method or "none",
        failure=page.failure,
        promo=promo,
        trail=_trail(page, feed_body, used_feed=used_feed),
        read_more_url=None if used_feed else page.followed_url,
    )


def summaries(text: str, feed_summary: str, meta: str, promo: PromoResult | None,
              rules: Rules | None) -> tuple[str, str]:
    """The summary and the description of a body `text` with this feed summary (plain text) and page meta
    description, without the boilerplate spans `promo` marks; `presswire items reclassify` builds them
    again with new spans."""
    body_lead = _after_dateline(_from_lead(_clean(text, promo)))
    lead = _after_dateline(_clean(feed_summary, promo, "summary")) or body_lead
    return first_sentences(lead, SUMMARY_CHARS), _description(meta, body_lead or lead, rules)


def _believed(when: datetime | None, seen_at: datetime) -> datetime | None:
    """`when`, unless it is a zero timestamp (1970) or lies in the future of when the entry was seen."""
    if when is None or when < EARLIEST_DATE or when > seen_at + FUTURE_SLACK:
        return None
    return when


def _web_url(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL (never javascript:, data:, file: ...), as browsers read it (no
    white space: spaces inside are percent-encoded)."""
    url = href_as_browsers_read(url or "")
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL"
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _clean(text: str, promo: PromoResult | None, field: str = "text") -> str:
    return clean_text(text, promo, field=field) if promo and text else text


def _from_lead(text: str) -> str:
    """`text` from its first line that is no heading (ingest.sentences.is_heading): the short lines above a
    body's lead ("FOR IMMEDIATE RELEASE", "Photo credit: ...", a section title) would otherwise open its summary,
    run into the lead as one sentence. All of it when every line is one."""
    start = 0
    while (end := text.find("\n", start)) != -1:
        if not is_heading(text[start:end].strip()):
            return text[start:]
        start = end + 1
    return text if is_heading(text[start:].strip()) else text[start:]


def _after_dateline(text: str) -> str:
    """`text` without the dateline that opens it: a wire's (ingest.dedup.wire_dateline_end), else one naming no
    wire ("TULSA, Okla., March 3, 2025 — "; _PLAIN_DATELINE: strip_dateline's year rule would also cut "Acme
    reported results for fiscal 2025 – its best year yet")."""
    if end := wire_dateline_end(text):
        return text[end:]
    plain_dateline = _PLAIN_DATELINE.match(text)
    return text[plain_dateline.end():] if plain_dateline else text


def _description(meta: str, text: str, rules: Rules | None) -> str:
    """The page's meta description without promotional sentences, else the text's first sentence; either
    cut to whole sentences, or at a word, as the summary is (a long meta description is no reason to end on
    half a word)."""
    if meta and rules:
        meta = without_boilerplate(meta, rules)
    meta = _after_dateline(" ".join(meta.split()))  # PR Newswire's is "/PRNewswire/ -- Acme ..."
    return first_sentences(meta or text, DESCRIPTION_CHARS)


def _trail(page: Extraction, feed_body: Extraction, used_feed: bool) -> str:
    """The page's extraction steps, and the feed's content when it stood in."""
    if not used_feed:
        return page.trail
    feed = f"feed: {len(feed_body.text)} chars" if feed_body.text else "feed: empty"
    return f"{page.trail}; {feed}" if page.trail else feed


def _judge(page: Extraction, feed_body: Extraction) -> Extraction:
    """A page whose text is shorter than the feed's own content (a JS shell, a paywall stub) is a failure."""
    if page.ok and len(page.text) < MIN_PAGE_CHARS and len(feed_body.text) > len(page.text):
        return replace(page, failure=f"page text too short ({len(page.text)} characters); used the feed's content")
    return page


def item_slug(date: datetime, title: str) -> str:
    return f"{date.astimezone(timezone.utc):%Y-%m-%d}-{slugify(title)}"


def slugify(title: str, limit: int = SLUG_CHARS) -> str:
    """ASCII, lowercase, hyphen-separated; cut at a word boundary; never empty, never a path."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_title.lower()).strip("-")
    if len(slug) > limit:  # the cut keeps a word that ends right at the limit (slug[limit] is its "-")
        cut = slug[:limit + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:limit]
    return slug or "item"


def plain(fragment: str) -> str:
    """An HTML fragment (titles, summaries) as one line of plain text."""
    return " ".join(html_blocks(fragment))


def _normalized_start(text: str, chars: int) -> str:
    """" ".join(text.split()), or a start of it that ends with a whole word and is longer than `chars`.

    first_sentences reads only that much (~110 -> ~20 us of CPU on a bench page's body, process_time over
    1,000 pages): its first sentences are a start of that text, so with more than `limit`
    characters, the sentence that reaches past them would not fit either."""
    size = chars + 64
    while size < len(text):
        words = text[:size].split()
        if len(words) > 1:
            words.pop()  # maybe cut
            if len(start := " ".join(words)) > chars:
                return start
        size *= 2
    return " ".join(text.split())


def _sentences(text: str) -> Iterator[str]:
    """The sentences of one line of text (see _sentence_spans)."""
    return (text[start:stop] for start, stop in _sentence_spans(text))


def _sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, stop) of each sentence of one line of text: it is split after ., ! or ? and white space before a
    capital, digit, quote or parenthesis, but not after initials or an abbreviation ("Acme Corp. (NASDAQ: ACME)
    announced"), and after a Chinese or Japanese 。, ！ or ？. A closing quote or parenthesis after the stop
    ends the sentence with it: 'He said "We won."', never 'He said "We won.' with the quote left open."""
    start = 0
    for end in _SENTENCE_END.finditer(text):
        word = text[text.rfind(" ", 0, end.start()) + 1:end.start()]
        if not ABBREVIATION.fullmatch(word):
            yield start, end.end(1) if end.group(1) is not None else end.end(2)
            start = end.end()
    yield start, len(text)


def first_sentences(text: str, limit: int) -> str:
    """Whole sentences from the start of text, as many as fit in `limit` (at least one, cut at a word), with the
    text's own spacing between them (none after a Chinese or Japanese full stop)."""
    text = _normalized_start(text, 2 * limit)
    if len(text) <= limit:
        return text
    stop = 0
    for _, end in _sentence_spans(text):
        if end > limit:
            break
        stop = end
    if not stop:
        return text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return text[:stop]
