"""Identity keys and near-duplicate fingerprints for press releases (pure, no DB).

The way a text becomes keys, in order:

1. ``strip_wrapper``: cut the syndication tail (About blocks, forward-looking
   statements, contacts, disclaimers, wire footers: ``strip_tail``) and the
   wire dateline (``CITY, May 1, 2025 /PRNewswire/ --``: ``strip_dateline``);
2. ``normalize_text``: NFKC, casefold, punctuation to spaces, whitespace collapsed;
3. ``content_hash``: BLAKE2b-128 of that text, for exact duplicates;
4. ``shingles``: the set of hashed word k-grams (BLAKE2b-64 of the k words
   joined by spaces); each Chinese or Japanese character is a word of its own
   there (``shingle_words``: those scripts put no spaces between words);
5. ``minhash.signature``: classic MinHash (``bands * rows`` hash functions) of the
   head, the first ``head_words`` words. Copies share their beginning while
   unstripped boilerplate sits at the end, so the heads of two copies stay
   similar even when the whole texts are not; and the cost is bounded (about
   100 shingles x 80 functions, one numpy array of 8,000 products computed
   exactly modulo 2**61 - 1, whatever the length: ingest.minhash). When a line
   of the head opens with a wire's dateline after other words (a partner's intro,
   highlights, a caption: ``release_start``), 15 words or more before the release,
   a second head from the dateline on adds its keys after those of the first;
6. ``minhash.band_keys``: LSH, one signed 64-bit key per band (fits BIGINT), stored in
   the database with an index so a lookup is ``bands`` index probes at any size
   (twice that for an item with a second head);
7. candidates found by band keys are verified exactly with ``similarity``
   (Jaccard and containment over the shingle sets, and lead containment: the
   first substantial paragraph of one found in the other) by ``verify``; the
   numbers and names of the leads must agree (``facts_disagree``), and the
   publication dates be at most ``near_window_days`` apart.

Texts with fewer than ``min_shingles`` shingles get no band keys; they fall
back to ``title_key`` (hash of the normalized title) plus publication dates no
more than ``title_window_days`` apart (syndication partners often publish the
next calendar day), leads agreeing as above.

``match`` applies the whole decision to one candidate: content hash, then the
title fallback when either text is short, then dates, band overlap + exact overlap.

``fingerprint`` computes only what the store keeps (content hash, title key,
band keys, shingle count) for every new item: it hashes the head's shingles
once and counts the other shingles without hashing them. ``prepare`` also
builds the shingle sets that exact verification compares.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ingest.model import Candidate, Fingerprint, Item, Match
from ingest.urls import registrable_domain

_WORD = re.compile(r"[^\W_]+")  # every str.split() separator is a [\W_] character
# Chinese and Japanese characters (kana, ideographs, the iteration marks): scripts without spaces between words
_CJK = ("\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U0001aff0-\U0001b16f"
        "\U00020000-\U000323af")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_SHINGLE_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")  # a CJK character, or a run of other letters and digits
_ASCII_WORD_BYTES = bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))  # others: a space
# the first clause of a line ends at its first "." or ":" before white space: _FIRST_CLAUSE_END is
# re.split(r"(?<=[.:])\s+", line, maxsplit=1)[0] found ~5x faster (a lookbehind is tried at every position)
_FIRST_CLAUSE_END = re.compile(r"[.:]\s")
_UNITS = (("%", " percent "), ("&", " and "))
_MAX_HEADING_WORDS = 10
_MIN_WORDS_BEFORE_TAIL = 25
_LEAD_MIN_WORDS = 8
_SENTENCE_ENDS = (".", "!", "?", '"', "\u201d", "\u2019", ")", "\u3002", "\uff01", "\uff1f", "\u300d")  # 。！？」
_LEAD_MAX_WORDS = 50
# Fewer words before the release's dateline leave the heads of the copies with and without them similar enough
# for LSH (97 - 15 of 97 + 15 shingles: a Jaccard of 0.73, a candidate with probability 0.999): no second head.
_MIN_PREFIX_WORDS = 15
_LEAD_COPY_SHARE = 0.5  # a line holding this share of another item's lead shingles is its copy: the facts must agree
# the facts of a lead: numbers (separators kept: 1,150,000 and 0.42 are one each) and capitalised words
_FACT = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")

# Lines that start a syndication tail. Heading-like markers must be short lines
# (<= _MAX_HEADING_WORDS words); "line start" markers cut at any length.
_TAIL_HEADINGS = re.compile(
    r"""^(?:
        about\s+(?:the\s+)?[A-Z"'“‘]         # About Acme Corp. / About the Company
      | (?:cautionary\s+(?:note|statement)|forward[\s-]looking\s+(?:statements?|information)
         |safe\s+harbou?r|disclaimers?|legal\s+notice|qualified\s+persons?)\b
      | (?:(?:media|press|investor|investors|ir|company|corporate)\s+)?(?:(?:and|&)\s+(?:media|press|investor)\s+)?
         (?:contacts?|inquiries|enquiries|relations)\b
      | (?:media|press|investors?)\s*:?\s*$
      | for\s+(?:further|more)\s+information\b | notes?\s+to\s+editors?\b
      | (?:related\s+(?:stories|articles|news|links)|share\s+this\s+(?:article|story|post)|tags?\s*:)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_TAIL_LINE_STARTS = re.compile(
    r"""^(?:
        \#{3}\s*$ | -\s*30\s*-\s*$ | source\s*: | view\s+original\s+content
      | attachments?\s*$ | disclaimer\s*: | please\s+see\s+full\s+terms\s+of\s+use
      | this\s+(?:press\s+)?(?:release|announcement|communication)\s+(?:shall|does)\s+not\s+constitute
      | (?:originally\s+)?(?:published|distributed)\s+by\b | press\s+release\s+(?:service|distributed)\s+by
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_WIRE_SOURCE_LINE = re.compile(r"^SOURCE\s+\S")  # PR Newswire footer, upper case only
_DATELINE = re.compile(
    r"""^\s*(?P<prefix>[^\n]{0,250}?)
        (?: /\s*[A-Za-z][^/\n]{1,40}/           # /PRNewswire/
          | \(\s*[A-Za-z][^()\n]{1,40}\)        # (GLOBE NEWSWIRE)  (IBN)
          | \d{4}                               # ..., May 1, 2025 --
        )\s*(?:--|—|–|-)\s*""",
    re.VERBOSE,
)
_WIRE_WORD = re.compile(r"wire|ibn|newsfile|prweb|\b(?:19|20)\d\d\b", re.IGNORECASE)
# A wire's dateline opening a line of the text (release_start): the wire named in slashes or parentheses.
# Also ACCESS Newswire's, which strip_dateline keeps (stored keys depend on what it strips).
_WIRE_DATELINE = re.compile(
    r"""\s*[^\n]{0,250}?
        (?P<tag> /\s*[A-Za-z][^/\n]{1,40}/\s*(?:--|—|–|-)                 # PITTSBURGH, May 15, 2025 /PRNewswire/ --
          | \(\s*[A-Za-z][^()\n]{1,40}\)[^()/\n]{0,20}?(?:--|—|–|-)  # AUSTIN, Texas--(BUSINESS WIRE)--,
                                                                   # Dallas, TX (PRWEB) May 1, 2025 --
          | /\s*ACCESS\s*(?:Newswire|WIRE)\s*/[^/\n]{1,40}/           # NEW YORK, NY / ACCESS Newswire / May 15, 2025 /
        )\s*""",
    re.VERBOSE | re.IGNORECASE,
)
_WIRE_NAME = re.compile(r"wire|ibn|newsfile|prweb|cnw", re.IGNORECASE)


@dataclass(frozen=True)
class DedupParams:
    """Tunable thresholds; defaults chosen by bench/dedup_eval.py (see README)."""

    shingle_size: int = 4
    head_words: int = 100
    bands: int = 20
    rows: int = 4
    min_shingles: int = 40
    lead_threshold: float = 0.8
    jaccard_threshold: float = 0.5
    containment_threshold: float = 0.7
    title_window_days: int = 2
    near_window_days: int = 3
    seed: int = 20250515

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


@dataclass(frozen=True)
class Similarity:
    """Exact overlap of two shingle sets."""

    jaccard: float
    containment: float
    lead: float


@dataclass(frozen=True)
class Doc:
    """One item prepared for comparison: its keys, shingles and publication day."""

    fingerprint: Fingerprint
    shingles: frozenset[int]
    lead: frozenset[int]
    published: dt.date | None
    short: bool  # fewer than min_shingles shingles: compared by title + date only
    core: str = ""  # the release text (strip_wrapper), whose lines are searched for another item's lead
    lead_facts: frozenset[str] | None = None  # lead_facts of the lead line; None without one


def normalize_text(text: str) -> str:
    """NFKC, casefold, ``%``/``&`` spelled out, punctuation and symbols to
    spaces, whitespace collapsed."""
    return " ".join(normalized_words(text))


def normalized_words(text: str) -> list[str]:
    """The words of ``normalize_text(text)``: the runs of letters and digits
    (underscore excluded) of the folded text."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    for symbol, word in _UNITS:
        folded = folded.replace(symbol, word)
    if folded.isascii():  # [^\W_] is [a-z0-9] there: ~120 -> ~30 us of CPU on a 6 KB body
        return folded.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii").split()
    return _WORD.findall(folded)


def shingle_words(words: list[str]) -> list[str]:
    """The words shingles are made of: ``words`` (normalized), with each Chinese or Japanese character
    (kana, ideograph) a word of its own. Those scripts put no spaces between words: a clause would be
    one "word", and a whole release too few shingles to get band keys."""
    text = " ".join(words)
    if text.isascii() or not _CJK_CHAR.search(text):
        return words
    return _SHINGLE_WORD.findall(text)


def _release_words(core: str) -> tuple[list[str], list[str]]:
    """The normalized words of the release text (its content hash) and its shingle words."""
    words = normalized_words(core)
    return words, words if core.isascii() else shingle_words(words)


def strip_tail(text: str) -> str:
    """Cut the text at the first line that starts a syndication tail (About
    block, forward-looking statements, contacts, disclaimers, wire footers),
    provided at least 25 words of body come before it."""
    lines = text.splitlines()
    words_before = 0
    for index, line in enumerate(lines):
        if words_before >= _MIN_WORDS_BEFORE_TAIL:
            if _is_tail_marker(line.strip()):
                return "\n".join(lines[:index]).strip()
        else:  # words are counted until there are 25
            words_before += len(line.split())
    return text.strip()


def _is_tail_marker(line: str) -> bool:
    """A tail starts at a heading line, or at a paragraph whose first short
    sentence is a heading (sites that put ``<b>About X.</b>`` inline)."""
    if _TAIL_LINE_STARTS.match(line) or _WIRE_SOURCE_LINE.match(line):
        return True
    end = _FIRST_CLAUSE_END.search(line)
    head = line[:end.start() + 1] if end else line
    return bool(_TAIL_HEADINGS.match(head)) and len(head.split()) <= _MAX_HEADING_WORDS


def strip_dateline(text: str) -> str:
    """Drop a wire dateline at the start (``RENO, Nev., March 4, 2025
    /PRNewswire/ --``, ``AUSTIN, Texas--(BUSINESS WIRE)--``)."""
    match = _DATELINE.match(text)
    if match is None or "\n" in match.group(0).strip():
        return text
    if not _WIRE_WORD.search(match.group(0)):
        return text
    return text[match.end() :]


def strip_wrapper(text: str) -> str:
    """The release itself: tail and dateline removed."""
    return strip_dateline(strip_tail(text).lstrip())


def release_start(core: str, max_words: int) -> int | None:
    """Where the release starts in ``core`` (``strip_wrapper``'s output) when something precedes its wire
    dateline (a partner's intro, highlight bullets, a photo caption; or an ACCESS Newswire dateline, which
    strip_dateline keeps): the end of a dateline naming a wire that opens a line starting within the first
    ``max_words`` words; None without one."""
    position = 0
    while True:  # only the lines with a "/" or "(" (every wire dateline has one) are tried: most texts have none
        found = [at for at in (core.find("/", position), core.find("(", position)) if at >= 0]
        if not found:
            return None
        start = core.rfind("\n", 0, min(found)) + 1
        if len(core[:start].split()) >= max_words:
            return None
        if dateline := _wire_dateline(core, start):
            return dateline.end()
        position = core.find("\n", min(found)) + 1
        if position == 0:
            return None


def wire_dateline_end(text: str) -> int:
    """Where ``text`` goes on after a wire's dateline opening it (``RENO, Nev., March 4, 2025 /PRNewswire/ --``,
    ``AUSTIN, Texas--(BUSINESS WIRE)--``, ``VANCOUVER, BC / ACCESS Newswire / May 1, 2025 /``, or a page's
    ``/PRNewswire/ --``); 0 without one. Summaries and descriptions start there (ingest.normalize). Stricter than
    strip_dateline, which may cut more for keys: the wire must be named in the slashes or parentheses, so
    "Acme reported results for fiscal 2025 – its best year" and "Acme Wireless (NASDAQ: AWI) - ..." stay whole."""
    dateline = _wire_dateline(text, 0)
    return dateline.end() if dateline else 0


def _wire_dateline(text: str, start: int) -> re.Match[str] | None:
    """The wire's dateline opening the line at ``start``, on that one line: its tag (the slashes or parentheses)
    names the wire. A wire's name before the tag is not one: "Acme Wireless Inc. (NASDAQ: AWI) - the storage
    maker - said" is no dateline."""
    dateline = _WIRE_DATELINE.match(text, start)
    if dateline and "\n" not in dateline.group(0).strip() and _WIRE_NAME.search(dateline["tag"]):
        return dateline
    return None


def content_hash(text: str) -> str:
    """Hash of the normalized release text (wrapper removed): equal for exact copies."""
    return _hash_words(normalized_words(strip_wrapper(text)))


def shingles(text: str, size: int = 4) -> frozenset[int]:
    """64-bit hashes of the word ``size``-grams of the normalized release text (``shingle_words``)."""
    return shingles_of(_release_words(strip_wrapper(text))[1], size)


def lead_words(core: str, line: str | None = None) -> list[str]:
    """Shingle words of the lead (``line``, by default ``lead_line(core)``; without one, of the text), at most 50."""
    return _release_words(line or lead_line(core) or core)[1][:_LEAD_MAX_WORDS]


def lead_line(core: str) -> str | None:
    """The lead: the first line that reads like a sentence (at least 8 words, a
    Chinese or Japanese character counting as one; ends with sentence punctuation).
    Header lines (bylines, dates, share bars, titles) are skipped; the lead
    never runs into the next paragraph, so a one-line body followed by
    boilerplate keeps a lead of its own."""
    for line in core.splitlines():
        stripped = line.strip()
        if stripped.endswith(_SENTENCE_ENDS) and _lead_word_count(stripped) >= _LEAD_MIN_WORDS:
            return stripped
    return None


def _lead_word_count(line: str) -> int:
    count = len(line.split())
    if count < _LEAD_MIN_WORDS and _CJK_CHAR.search(line):
        return len(_release_words(line)[1])
    return count


def _hash_words(words: list[str]) -> str:
    return hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=16).hexdigest()


def shingles_of(words: list[str], size: int) -> frozenset[int]:
    """64-bit hashes of the ``size``-grams of already normalized words."""
    return frozenset(_as_ints(gram_digests(words, size)))


def gram_digests(words: list[str], size: int) -> bytes:
    """The shingle hashes in text order, repeats kept: BLAKE2b-64 of each ``size``-gram
    (its words joined by spaces), 8 bytes each, little-endian; fewer words than
    ``size``: the hash of them all; no words: nothing."""
    if len(words) < size:
        return _digest8(" ".join(words)) if words else b""
    digests = []
    for gram in map(" ".join, zip(*(words[i:] for i in range(size)))):  # inlined: hot
        blake = _BLAKE2B_64.copy()  # cheaper than a new blake2b(digest_size=8): ~58 -> ~44 us for a head's 97
        blake.update(gram.encode("utf-8"))
        digests.append(blake.digest())
    return b"".join(digests)


def shingle_count(words: list[str], size: int) -> int:
    """``len(shingles_of(words, size))`` without hashing: the distinct ``size``-grams
    (equal unless two grams of one text collide in 64 bits)."""
    if len(words) < size:
        return 1 if words else 0
    return len(set(zip(*(words[i:] for i in range(size)))))


_BLAKE2B_64 = hashlib.blake2b(digest_size=8)  # nothing hashed yet: copied for each gram


def _digest8(value: str) -> bytes:
    return hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest()


def _as_ints(digests: bytes) -> tuple[int, ...]:
    """The shingle hashes as unsigned integers (``int.from_bytes(digest, "little")``)."""
    return struct.unpack(f"<{len(digests) // 8}Q", digests)


def _head_band_keys(head: bytes, params: DedupParams) -> tuple[int, ...]:
    """Band keys from the head's shingle hashes (``gram_digests`` of the first ``head_words``)."""
    from ingest import minhash  # numpy is imported where fingerprints are computed (the worker processes),
    # not by every process that verifies candidates or reads the store (~0.05 s of imports)
    return minhash.band_keys_of_head(head, params.num_perm, params.seed, params.bands, params.rows)


def title_key(title: str) -> str:
    """Key for the short-text fallback: hash of the normalized title."""
    return hashlib.blake2b(normalize_text(title).encode("utf-8"), digest_size=16).hexdigest()


def fingerprint(title: str, text: str, params: DedupParams, *, wire: bool = False) -> Fingerprint:
    """What the store keeps of one item: equal to ``prepare(...).fingerprint``, but only
    the head's shingles are hashed (the others are only counted)."""
    core = strip_wrapper(text)
    words, grams = _release_words(core)
    count = shingle_count(grams, params.shingle_size)
    if count < params.min_shingles:
        return _fingerprint(title, core, words, count, b"", None, params, wire)
    head = gram_digests(grams[: params.head_words], params.shingle_size)
    return _fingerprint(title, core, words, count, head, release_start(core, params.head_words), params, wire)


def _fingerprint(title: str, core: str, words: list[str], count: int, head: bytes, start: int | None,
                 params: DedupParams, wire: bool = False) -> Fingerprint:
    band_keys = _band_keys(core, head, start, params) if head else ()
    return Fingerprint(content_hash=_hash_words(words), band_keys=band_keys, title_key=title_key(title),
                       shingle_count=count, wire=wire)


def _band_keys(core: str, head: bytes, start: int | None, params: DedupParams) -> tuple[int, ...]:
    """The head's band keys, then the other keys of a second head from the release's start (``release_start``)
    when 15 words or more (its dateline's included) come before it: 30 or more (a partner's intro, highlight
    bullets, a photo caption) often leave a copy's head sharing no band key with the wire's. The first
    ``bands`` keys are the fixed geometry's, as every stored item has them; the others only add candidates."""
    keys = _head_band_keys(head, params)
    if start is None or len(core[:start].split()) < _MIN_PREFIX_WORDS:
        return keys
    release = _release_words(core[start:])[1][: params.head_words]
    if not release:
        return keys
    extra = _head_band_keys(gram_digests(release, params.shingle_size), params)
    return keys + tuple(key for key in extra if key not in keys)


def prepare(
    title: str, text: str, published: dt.date | None, params: DedupParams, *, keys: bool = True
) -> Doc:
    """Keys, shingles and lead shingles of one item, ready for ``match``.
    ``keys=False`` skips the MinHash (candidates read back from the store only
    need verifying). Each shingle is hashed once: the head's are the first of the text's."""
    core = strip_wrapper(text)
    words, grams = _release_words(core)
    digests = gram_digests(grams, params.shingle_size)
    shingle_set = frozenset(_as_ints(digests))
    short = len(shingle_set) < params.min_shingles
    head = b"" if short or not keys else _head_digests(grams, digests, params)
    start = release_start(core, params.head_words)
    fp = _fingerprint(title, core, words, len(shingle_set), head, start, params)
    release = core if start is None else core[start:]  # the lead is the release's, not that of an intro before it
    line = lead_line(release)
    lead = shingles_of(lead_words(release, line), params.shingle_size)
    return Doc(fp, shingle_set, lead, published, short, core, None if line is None else lead_facts(line))


def _head_digests(words: list[str], digests: bytes, params: DedupParams) -> bytes:
    """``gram_digests(words[:head_words])``: a prefix of the whole text's digests."""
    head_grams = min(len(words), params.head_words) - params.shingle_size + 1
    if head_grams < 1:
        return gram_digests(words[: params.head_words], params.shingle_size)
    return digests[: 8 * head_grams]


def similarity(a: Doc, b: Doc) -> Similarity:
    """Exact overlap of two items' shingle sets: Jaccard, containment (overlap
    / smaller set), and lead containment (the larger share of either item's
    lead found anywhere in the other: copies share their lead, releases that
    only share boilerplate do not, since boilerplate sits in the tail)."""
    if not a.shingles or not b.shingles:
        return Similarity(0.0, 0.0, 0.0)
    common = len(a.shingles & b.shingles)
    smaller = min(len(a.shingles), len(b.shingles))
    return Similarity(
        jaccard=common / (len(a.shingles) + len(b.shingles) - common),
        containment=common / smaller,
        lead=max(_share(a.lead, b.shingles), _share(b.lead, a.shingles)),
    )


def _share(part: frozenset[int], whole: frozenset[int]) -> float:
    return len(part & whole) / len(part) if part else 0.0


def verify(sim: Similarity, matched_id: int, params: DedupParams) -> Match | None:
    """Accept a candidate when the leads agree and the whole texts overlap enough."""
    if sim.lead < params.lead_threshold:
        return None
    if sim.jaccard >= params.jaccard_threshold:
        return Match("jaccard", round(sim.jaccard, 4), matched_id)
    if sim.containment >= params.containment_threshold:
        return Match("containment", round(sim.containment, 4), matched_id)
    return None


def lead_facts(line: str) -> frozenset[str]:
    """The facts of a lead line, casefolded: its numbers and capitalised words (names, tickers,
    months). Copies keep them; releases of one template differ there (company, date, amount)."""
    return frozenset(token.casefold() for token in _FACT.findall(unicodedata.normalize("NFKC", line))
                     if token[0].isdigit() or token[0].isupper())


def facts_disagree(a: Doc, b: Doc, params: DedupParams) -> bool:
    """Does the lead of either item state other facts than its copy in the other? Its copy: the other's
    lead if it holds at least half of the lead's shingles, else the other's line holding most of them
    (the first holding ``lead_threshold``), if at least half (else the lead is not in the other: nothing
    to compare). They agree when one's facts contain the other's (one may be longer: a dateline kept, a
    truncated paragraph), misspelt words aside (``facts_agree``)."""
    return _disagree(a, b, params) or _disagree(b, a, params)


def _disagree(x: Doc, y: Doc, params: DedupParams) -> bool:
    if x.lead_facts is None or not x.lead:
        return False
    if y.lead_facts is not None and _share(x.lead, y.lead) >= _LEAD_COPY_SHARE:  # the usual place: y's own lead
        return not facts_agree(x.lead_facts, y.lead_facts)
    found, copy = 0, ""
    for line in y.core.splitlines():
        common = len(x.lead & shingles_of(_release_words(line)[1], params.shingle_size))
        if common > found:
            found, copy = common, line
            if common >= params.lead_threshold * len(x.lead):  # the lead's copy: the lines after it need no look
                break
    if found < _LEAD_COPY_SHARE * len(x.lead):
        return False
    return not facts_agree(x.lead_facts, lead_facts(copy))


def _other_short_leads(a: Doc, b: Doc) -> bool:
    """Are these two short texts under one title two releases: their leads are not each other's copies (neither
    holds half of the other's lead shingles) and state other facts? Two companies' "Quarterly Report" of one
    day. ``facts_disagree`` compares a lead with its copy in the other text only, and here there is none."""
    if not (a.short and b.short) or a.lead_facts is None or b.lead_facts is None:
        return False
    if max(_share(a.lead, b.shingles), _share(b.lead, a.shingles)) >= _LEAD_COPY_SHARE:
        return False
    return not facts_agree(a.lead_facts, b.lead_facts)


def facts_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """One set of facts contains the other, but for misspelt words (a misspelling: one letter dropped,
    added, changed, or two swapped, in a word of 5 letters or more): a template's releases differ in
    names, tickers or numbers."""
    only_a, only_b = a - b, b - a
    return all(any(_misspelt(f, g) for g in only_b) for f in only_a) or \
        all(any(_misspelt(f, g) for g in only_a) for f in only_b)


def _misspelt(a: str, b: str) -> bool:
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 1 or not (a.isalpha() and b.isalpha()):
        return False
    i = 0  # the first difference
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) != len(b):
        shorter, longer = sorted((a, b), key=len)
        return longer[i + 1:] == shorter[i:]
    return a[i + 1:] == b[i + 1:] or (a[i + 2:] == b[i + 2:] and a[i] == b[i + 1] and a[i + 1] == b[i])


def _lead_facts_of(text: str, params: DedupParams) -> frozenset[str] | None:
    """``prepare(...).lead_facts`` alone."""
    core = strip_wrapper(text)
    start = release_start(core, params.head_words)
    line = lead_line(core if start is None else core[start:])
    return None if line is None else lead_facts(line)


def within_days(a: dt.date | None, b: dt.date | None, days: int) -> bool:
    return a is not None and b is not None and abs((a - b).days) <= days


def match(new: Doc, old: Doc, old_id: int, params: DedupParams) -> Match | None:
    """Is ``new`` a copy of ``old``? When either text is short: the title + date
    fallback only (a short generic text such as "Read the full release" proves
    nothing). Otherwise the content hash, then (dated at most ``near_window_days``
    apart, and when both carry band keys) LSH band overlap, then exact verification.
    Matches other than by content hash also need the facts of the leads to agree
    (``facts_disagree``): templated releases (a dividend each quarter, share buybacks
    each day, one announcement by many companies) differ in little else."""
    a, b = new.fingerprint, old.fingerprint
    if new.short or old.short:
        same_title = a.title_key == b.title_key
        if same_title and within_days(new.published, old.published, params.title_window_days) \
                and not facts_disagree(new, old, params) and not _other_short_leads(new, old):
            return Match("title_date", 1.0, old_id)
        return None
    if a.content_hash == b.content_hash:
        return Match("content_hash", 1.0, old_id)
    if not within_days(new.published, old.published, params.near_window_days):
        return None
    if a.band_keys and b.band_keys and not set(a.band_keys) & set(b.band_keys):
        return None
    found = verify(similarity(new, old), old_id, params)
    return None if found is None or facts_disagree(new, old, params) else found


_METHOD_RANK = {"content_hash": 0, "jaccard": 1, "containment": 1, "title_date": 2}


def best_match(matches: Iterable[Match | None]) -> Match | None:
    """The strongest of several matches: exact first, then the most similar, then the oldest item."""
    found = [m for m in matches if m is not None]
    if not found:
        return None
    return min(found, key=lambda m: (_METHOD_RANK.get(m.method, 3), -m.similarity, m.matched_id))


@dataclass(frozen=True)
class Deduplicator:
    """The pipeline's dedup policy: fingerprints new items, judges the store's candidates."""

    params: DedupParams = DedupParams()
    wire_domains: frozenset[str] = frozenset()
    max_candidates: int = 50

    @property
    def title_window(self) -> dt.timedelta:
        return dt.timedelta(days=self.params.title_window_days)

    @property
    def near_window(self) -> dt.timedelta:
        return dt.timedelta(days=self.params.near_window_days)

    @property
    def min_shingles(self) -> int:
        return self.params.min_shingles

    def fingerprint(self, item: Item) -> Fingerprint | None:
        """The item's keys; None when it has no text at all (it stays a cluster of its own)."""
        if not item.body_text.strip():
            return None
        wire = registrable_domain(item.source_link) in self.wire_domains
        return fingerprint(item.title, item.body_text, self.params, wire=wire)

    def facts_may_agree(self, item: Item, texts: Sequence[str]) -> list[bool]:
        """For each text stored under ``item``'s title: may its lead state ``item``'s facts (``facts_agree`` of
        the lead lines; True without a lead on either side)? Two short texts whose leads state other facts are
        two releases (``match``: one lead is the other's copy and its facts differ, or neither is and the facts
        differ), so the store verifies these first when a title is crowded (a hundred trusts' "Net Asset
        Value(s)" of one day). Cheap: a lead line and its facts, no shingles (about a quarter of ``prepare``)."""
        mine = _lead_facts_of(item.body_text, self.params)
        if mine is None:
            return [True] * len(texts)
        return [(other := _lead_facts_of(text, self.params)) is None or facts_agree(mine, other) for text in texts]

    def decide(self, item: Item, candidates: Sequence[Candidate]) -> Match | None:
        """The candidate ``item`` is a copy of, if any (exact verification of each)."""
        if not candidates:
            return None
        new = prepare(item.title, item.body_text, item.date.date(), self.params, keys=False)
        return best_match(
            match(new, prepare(c.title, c.body_text, c.date.date(), self.params, keys=False), c.id, self.params)
            for c in candidates
        )
