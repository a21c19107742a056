"""Pure dedup functions: normalization, wrapper stripping, hashes, MinHash/LSH, decisions."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
import re
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from fixtures.dedup.hard_cases import (
    CAPTION,
    HIGHLIGHTS,
    INTRO,
    JA,
    OWN_SHARES,
    RUSSELL_COMPANIES,
    TH,
    TH_OTHER,
    ZH,
    ZH_OTHER,
    ja_partner,
    nav_note,
    own_shares,
    russell,
    th_partner,
    zh_partner,
)
from ingest.dedup import (
    DedupParams,
    Match,
    content_hash,
    facts_agree,
    fingerprint,
    lead_facts,
    match,
    normalize_text,
    normalized_words,
    prepare,
    release_start,
    shingle_count,
    shingle_words,
    shingles,
    shingles_of,
    similarity,
    strip_dateline,
    strip_tail,
    strip_wrapper,
    title_key,
    verify,
    wire_dateline_end,
)
from ingest.minhash import band_keys, signature

ROOT = Path(__file__).resolve().parent.parent
PARAMS = DedupParams()
DAY = dt.date(2025, 3, 4)

BODY = """Voltaris Energy Inc. today broke ground on a new battery module and energy storage system assembly plant in Sparks, Nevada. The 410,000 square foot facility is designed for an initial annual capacity of 8 gigawatt-hours and is expected to begin production in the second half of 2026.
The plant will assemble lithium iron phosphate modules and containerized storage systems for utility customers and independent power producers. Voltaris expects the site to create approximately 650 full-time jobs when it reaches full output.
"Demand for long-duration storage on the western grid has more than doubled in the past two years," said Elena Marsh, chief executive officer of Voltaris. "Sparks gives us room to grow and short routes to the largest storage markets in California and Arizona."
The company has secured a $140 million tax-exempt bond allocation from the State of Nevada and a twelve-year lease on the land from the Reno-Sparks industrial authority."""

OTHER_BODY = """Voltaris Energy Inc. has signed a supply agreement with Desert Sun Power, an Arizona utility, to deliver 1.2 gigawatt-hours of battery energy storage systems for three solar-plus-storage projects near Phoenix and Tucson.
Under the agreement, Voltaris will supply containerized systems, power conversion equipment and a fifteen-year service contract covering monitoring, maintenance and performance guarantees. Deliveries are scheduled to begin in the first quarter of 2026.
"Desert Sun needs storage that can shift midday solar into the evening peak every day of the summer," said Tomas Greer, vice president of grid operations at Desert Sun Power.
Financial terms beyond the backlog estimate were not disclosed."""

ABOUT = """About Voltaris Energy Inc.
Voltaris Energy Inc. designs and manufactures lithium iron phosphate battery systems for utility-scale storage, commercial buildings and electric fleets. Founded in 2016 and headquartered in Reno, Nevada, the company operates production facilities in Nevada and Ohio and serves customers in North America and Europe. For more information, visit www.voltaris-energy.com.
Forward-Looking Statements
This press release contains forward-looking statements within the meaning of the Private Securities Litigation Reform Act of 1995, including statements regarding production capacity, the timing of construction and future financial results. Actual results may differ materially.
Media Contact:
Dana Whitfield
press@voltaris-energy.com"""


def wire_copy(body: str) -> str:
    return f"RENO, Nev., March 4, 2025 /PRNewswire/ -- {body}\n{ABOUT}\nSOURCE Voltaris Energy Inc."


def partner_copy(body: str) -> str:
    header = "Posted by Newsdesk on March 5, 2025\nShare: Facebook | X | LinkedIn"
    footer = (
        "MarketPulse Daily republishes company announcements for individual investors and does not "
        "verify them; readers should do their own research."
    )
    return f"{header}\nRENO, Nev., March 4, 2025 (GLOBE NEWSWIRE) -- {body}\n{ABOUT}\n{footer}"


def newsroom_copy(body: str) -> str:
    """Boilerplate under headings no tail rule knows: nothing gets stripped."""
    about = ABOUT.replace("About Voltaris Energy Inc.", "Company Profile")
    about = about.replace("Forward-Looking Statements", "Looking Ahead").replace("Media Contact:", "Press Office")
    return f"March 4, 2025\n{body}\n{about}"


# --- normalization and hashing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("  Tabs\tand\nnewlines  ", "tabs and newlines"),
        ("Straße", "strasse"),  # casefold, not lower
        ("ﬁnancial ＡＢＣ １２３", "financial abc 123"),  # NFKC: ligature, full width
        ("“Curly” ‘quotes’ — dashes…", "curly quotes dashes"),
        ("up 38% to $212.4M", "up 38 percent to 212 4m"),
        ("Smith & Co.", "smith and co"),
        ("snake_case-and-hyphens", "snake case and hyphens"),
        ("", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_content_hash_ignores_dateline_tail_and_typography() -> None:
    plain = content_hash(BODY)
    assert content_hash(wire_copy(BODY)) == plain
    typographic = BODY.replace('"', "\u201c").replace(" percent", "%").upper()
    assert content_hash(typographic) == plain
    assert content_hash(OTHER_BODY) != plain


def test_content_hash_is_stable_across_versions() -> None:
    # Stored in the database: a change here silently breaks exact-duplicate detection.
    # Definition: BLAKE2b-128 of the normalized words joined by single spaces.
    assert content_hash("Hello, World!") == "e9a804b2e527fd3601d2ffc0bb023cd6"
    assert title_key("Hello,  WORLD") == "e9a804b2e527fd3601d2ffc0bb023cd6"


# --- wrapper stripping ----------------------------------------------------------------------

LEAD = "Acme Corp. today announced a new widget line for industrial customers in North America, with shipments starting next month from its plant in Ohio and a second plant in Texas later this year."


@pytest.mark.parametrize(
    "tail",
    [
        "About Acme Corp.\nAcme makes widgets.",
        "About the Company\nAcme makes widgets.",
        "About Acme Corp. Acme Corp. is a maker of widgets founded in 1950 in Ohio.",  # inline heading
        "Forward-Looking Statements\nThis release contains forward-looking statements.",
        "Forward-looking statements. This release contains statements about the future.",
        "Cautionary Note Regarding Forward-Looking Statements\nStatements...",
        "Safe Harbor Statement\nThis release may contain...",
        "Media Contact:\nJane Doe\njane@acme.example",
        "Investor and Media Contact:\nJane Doe",
        "Contacts\nJane Doe",
        "Media:\nJane Doe",
        "For further information:\nJane Doe",
        "Notes to Editors\nAcme was founded in 1950.",
        "###",
        "- 30 -",
        "SOURCE Acme Corp.",
        "Source: Acme Corp.",
        "View original content to download multimedia: https://www.prnewswire.com/x.html",
        "Disclaimer: this content is provided by a third party.",
        "Please see full terms of use and disclaimers on the IBN website.",
        "This press release shall not constitute an offer to sell or the solicitation of an offer to buy.",
        "Related Stories\nAnother headline",
        "Attachment\nAcme logo",
    ],
)
def test_strip_tail_cuts_at_tail_markers(tail: str) -> None:
    assert strip_tail(f"{LEAD}\nShipments will be handled by partners.\n{tail}\nMore.") == (
        f"{LEAD}\nShipments will be handled by partners."
    )


@pytest.mark.parametrize(
    "line",
    [
        "About 40 percent of the output will be exported to Canada.",  # 'About' as a word
        "Source of funds for the plant is a bank loan signed in March with three lenders.",
        "Media coverage of the launch was strong across trade publications and local newspapers.",
        "Contacts between the two companies started in 2023, according to people familiar.",
        "Related companies in the region have announced similar expansions of their plants this year.",
    ],
)
def test_strip_tail_keeps_body_lines_that_only_look_like_markers(line: str) -> None:
    text = f"{LEAD}\n{line}\nThe company expects the line to be profitable in its second year."
    assert strip_tail(text) == text


def test_strip_tail_never_cuts_before_25_words() -> None:
    text = "Short lead of a few words.\nAbout Acme Corp.\nAcme makes widgets."
    assert strip_tail(text) == text


def _strip_tail_by_the_first_definition(text: str) -> str:
    """strip_tail as first written: words counted on every line, the head found by re.split."""
    from ingest.dedup import _TAIL_HEADINGS, _TAIL_LINE_STARTS, _WIRE_SOURCE_LINE

    def is_tail_marker(line: str) -> bool:
        if _TAIL_LINE_STARTS.match(line) or _WIRE_SOURCE_LINE.match(line):
            return True
        head = re.split(r"(?<=[.:])\s+", line, maxsplit=1)[0]
        return len(head.split()) <= 10 and bool(_TAIL_HEADINGS.match(head))

    lines = text.splitlines()
    words_before = 0
    for index, line in enumerate(lines):
        if words_before >= 25 and is_tail_marker(line.strip()):
            return "\n".join(lines[:index]).strip()
        words_before += len(line.split())
    return text.strip()


TAIL_PIECES = ["About", "About the", "Acme", "Media", "Contacts", "Investor", "Source", "SOURCE", "Forward-looking",
               "statements", "word", "w", ".", ":", " ", "  ", "\u00a0", "\u2003", "\t", "\n", "\n\n", "- 30 -",
               "###", "Tags:", "For more information", "Related Stories"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TAIL_PIECES), max_size=80).map("".join))
def test_strip_tail_equals_its_first_definition(text: str) -> None:
    assert strip_tail(text) == _strip_tail_by_the_first_definition(text)
    after_a_lead = f"{LEAD}\n{text}"  # every line of text is looked at
    assert strip_tail(after_a_lead) == _strip_tail_by_the_first_definition(after_a_lead)


@pytest.mark.parametrize("space", [" ", "\t", "\u00a0", "\u2003", "  "])
def test_a_heading_clause_ends_before_any_white_space(space: str) -> None:
    for line in (f"About Acme.{space}" + "Acme makes widgets " * 4, f"Media:{space}" + "Jane Doe phone " * 4):
        assert strip_tail(f"{LEAD}\n{line}") == LEAD == _strip_tail_by_the_first_definition(f"{LEAD}\n{line}")


def test_strip_tail_equals_its_first_definition_on_the_fixture_texts() -> None:
    texts = [text for _, text in _fixture_texts()]
    assert sum(strip_tail(text) != text.strip() for text in texts) > 10  # tails are cut
    for text in texts:
        assert strip_tail(text) == _strip_tail_by_the_first_definition(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RENO, Nev., March 4, 2025 /PRNewswire/ -- Voltaris broke ground.", "Voltaris broke ground."),
        ("RENO, Nev., March 4, 2025 (GLOBE NEWSWIRE) -- Voltaris broke ground.", "Voltaris broke ground."),
        ("AUSTIN, Texas--(BUSINESS WIRE)--Helixa AI today launched.", "Helixa AI today launched."),
        ("NEW YORK, May 15, 2025 (IBN) \u2013 China leads.", "China leads."),
        ("LONDON, May 15, 2025 -- Acme said.", "Acme said."),
        ("Acme (NASDAQ: ACME) - the widget maker - said.", "Acme (NASDAQ: ACME) - the widget maker - said."),
        ("No dateline here at all.", "No dateline here at all."),
        ("Line one without a tag\nsecond line (GLOBE NEWSWIRE) -- text", "Line one without a tag\nsecond line (GLOBE NEWSWIRE) -- text"),
    ],
)
def test_strip_dateline(text: str, expected: str) -> None:
    assert strip_dateline(text) == expected


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("RENO, Nev., March 4, 2025 /PRNewswire/ -- Voltaris broke ground.", "Voltaris broke ground."),
        ("/PRNewswire/ -- Voltaris broke ground.", "Voltaris broke ground."),  # PR Newswire's meta description
        ("AUSTIN, Texas--(BUSINESS WIRE)--Helixa AI today launched.", "Helixa AI today launched."),
        ("RENO, NV / ACCESS Newswire / March 4, 2025 / Voltaris broke ground.", "Voltaris broke ground."),
        ("NEW YORK, May 15, 2025 (IBN) \u2013 China leads.", "China leads."),
        # no wire named in slashes or parentheses: strip_dateline cuts some of these, a summary keeps them whole
        ("LONDON, May 15, 2025 -- Acme said.", None),
        ("Acme reported results for fiscal 2025 \u2013 its best year yet.", None),
        ("Acme Wireless Inc. (NASDAQ: AWI) - the storage maker - said.", None),
        ("Line one\nsecond line (GLOBE NEWSWIRE) -- text", None),
    ],
)
def test_wire_dateline_end(text: str, rest: str | None) -> None:
    assert text[wire_dateline_end(text):] == (text if rest is None else rest)


# --- shingles, MinHash, LSH -----------------------------------------------------------------


def test_shingles_are_word_ngrams_of_the_release() -> None:
    assert len(shingles("one two three four five", 4)) == 2
    assert shingles("One, two; THREE four!", 4) == shingles("one two three four", 4)
    assert len(shingles("one two", 4)) == 1
    assert shingles("", 4) == frozenset()
    assert shingles(wire_copy(BODY), 4) == shingles(BODY, 4)  # wrapper removed first


def test_minhash_estimates_jaccard() -> None:
    common = set(range(0, 600))
    a = frozenset(x * 2654435761 for x in common | set(range(1000, 1200)))
    b = frozenset(x * 2654435761 for x in common | set(range(2000, 2200)))
    true_j = len(a & b) / len(a | b)  # 0.6
    sig_a, sig_b = signature(a, 256, 1), signature(b, 256, 1)
    estimate = sum(x == y for x, y in zip(sig_a, sig_b)) / 256
    assert abs(estimate - true_j) < 0.08
    assert signature(a, 256, 1) == sig_a  # deterministic
    assert signature(frozenset(), 16, 1) == ()


def test_band_keys_are_signed_64bit_and_depend_on_band_position() -> None:
    sig = tuple(range(80))
    keys = band_keys(sig, 20, 4)
    assert len(keys) == 20 and len(set(keys)) == 20
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert band_keys(sig, 20, 4) == keys
    swapped = sig[4:8] + sig[0:4] + sig[8:]  # same values, other band: other keys
    assert set(band_keys(swapped, 20, 4)[:2]).isdisjoint(keys[:2])
    assert band_keys(sig[:10], 20, 4) == ()


def test_band_keys_and_signature_are_stable_across_versions() -> None:
    # Band keys are stored in item_bands: a change in shingling, MinHash or banding silently stops new
    # copies from finding the items stored before it. Values computed by the pure-Python definition
    # (``(a * x + b) mod (2**61 - 1)`` over BLAKE2b-64 word 4-gram hashes masked to 61 bits).
    fp = prepare("Voltaris breaks ground", BODY, None, PARAMS).fingerprint
    assert (fp.content_hash, fp.title_key, fp.shingle_count) == (
        "c015074248ff4f608277e3fbc273129d", "f95e9d617597a3f5dd5dc6739586201b", 155)
    assert fp.band_keys == (
        3670300615452418769, -4257000877644249666, 6706365070084977829, -7497077394893825522,
        2557514102740391375, -905937941507815519, -9037650608358717613, -7288715552064158232,
        1441451727625516059, -4417341358624926396, 4248461699239064923, 7633560544292738892,
        4599875847394187840, 3437217716358876602, -5362490993237466421, -778983443856426650,
        7313804202637718831, 6990185674918767442, -3001494242956614716, 7101313631914217900,
    )
    edge = frozenset({1, 2**64 - 1, 2**61 - 1, 2**61, 12345678901234567890})  # values at the 61-bit mask
    assert signature(edge, 8, 1) == (
        856549038614846678, 271902015394427964, 537740303338483232, 484122828592498198,
        878926695003387446, 1400656654617924230, 459066383652264450, 157159171974479405,
    )


def test_fixture_fingerprints_are_stable_across_versions() -> None:
    rows = [json.loads(line) for line in (ROOT / "fixtures" / "dedup" / "pairs.jsonl").read_text().splitlines()]
    first, every = [], []
    for row in rows:
        for side in ("a", "b"):
            fp = prepare(row[side]["title"], row[side]["text"], None, PARAMS).fingerprint
            first.append([fp.content_hash, fp.title_key, fp.shingle_count, list(fp.band_keys[: PARAMS.bands])])
            every.append(list(fp.band_keys))
    # the keys of the fixed geometry, as every stored item has them: unchanged since they were first stored
    assert hashlib.blake2b(json.dumps(first).encode(), digest_size=16).hexdigest() == "b7af45d3946c9eb9f2e7f129e9477b92"
    # with the keys of the second head (from a wire dateline after 15 words or more), stored since
    assert hashlib.blake2b(json.dumps(every).encode(), digest_size=16).hexdigest() == "4acbd37d0b197025866c6191acf7946b"
    assert sum(len(keys) > PARAMS.bands for keys in every) > 10


# The definitions, in plain Python integers: what the stored keys were first computed with.
_P = (1 << 61) - 1


def reference_signature(hashes: frozenset[int], num_perm: int, seed: int) -> tuple[int, ...]:
    rng = random.Random(seed)
    perms = [(rng.randrange(1, _P), rng.randrange(0, _P)) for _ in range(num_perm)]
    return tuple(min((a * (h & _P) + b) % _P for h in hashes) for a, b in perms) if hashes else ()


def reference_fingerprint(title: str, text: str, params: DedupParams) -> tuple:
    core = strip_wrapper(text)
    words = _reference_words(core)
    grams = _reference_shingle_words(words)

    def hashed(ws: list[str]) -> frozenset[int]:
        grams = [" ".join(ws[i : i + 4]) for i in range(len(ws) - 3)] if len(ws) >= 4 else [" ".join(ws)] * bool(ws)
        return frozenset(int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") for g in grams)

    def band_keys(ws: list[str]) -> tuple[int, ...]:
        sig = reference_signature(hashed(ws[: params.head_words]), params.num_perm, params.seed)
        return tuple(int.from_bytes(hashlib.blake2b(struct.pack("<I4Q", band, *sig[band * 4 : band * 4 + 4]),
                                                    digest_size=8).digest(), "little", signed=True)
                     for band in range(params.bands))

    count = len(hashed(grams))
    keys: tuple[int, ...] = ()
    if count >= params.min_shingles:
        keys = band_keys(grams)
        start = release_start(core, params.head_words)
        if start is not None and len(core[:start].split()) >= 15:  # the second head, from the release's dateline
            keys += tuple(key for key in band_keys(_reference_shingle_words(_reference_words(core[start:])))
                          if key not in keys)
    return hashlib.blake2b(" ".join(words).encode(), digest_size=16).hexdigest(), keys, title_key(title), count


def _reference_words(text: str) -> list[str]:
    return " ".join(re.sub(r"[\W_]+", " ", _fold(text)).split()).split()


_CJK_NAMES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA", "HENTAIGANA",
              "IDEOGRAPHIC ITERATION MARK", "IDEOGRAPHIC CLOSING MARK", "IDEOGRAPHIC NUMBER ZERO")  # 々 〆 〇


def _reference_shingle_words(words: list[str]) -> list[str]:
    """Every Chinese or Japanese character (by its Unicode name) a word of its own."""
    import unicodedata

    out = []
    for word in words:
        run = ""
        for char in word:
            if unicodedata.name(char, "").startswith(_CJK_NAMES):
                out += [run, char] if run else [char]
                run = ""
            else:
                run += char
        out += [run] if run else []
    return out


def _fold(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text).casefold().replace("%", " percent ").replace("&", " and ")


@settings(max_examples=150, deadline=None)
@given(st.frozensets(st.integers(0, 2**64 - 1), min_size=1, max_size=300), st.integers(1, 90), st.integers(0, 9))
def test_vectorized_minhash_equals_the_integer_definition(hashes, num_perm, seed) -> None:
    # Sets of up to 300 cover several passes of 128 shingles; 0 and 2**64 - 1 reach both ends of the mask.
    assert signature(hashes, num_perm, seed) == reference_signature(hashes, num_perm, seed)


def test_minhash_at_the_modulus_edges() -> None:
    edges = {0, 1, _P - 1, _P, _P + 1, 2**61, 2**62 - 1, 2**63, 2**64 - 1, (_P << 3) | 7}
    rng = random.Random(3)
    for _ in range(200):  # shingles whose (a * x + b) mod p is 0..5: the sums that fold to p..p+5
        a, b = rng.randrange(1, _P), rng.randrange(0, _P)
        edges.update((k - b) * pow(a, -1, _P) % _P for k in range(6))
    assert signature(frozenset(edges), 200, 3) == reference_signature(frozenset(edges), 200, 3)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_normalized_words_equal_the_substitute_and_split_definition(text: str) -> None:
    assert normalize_text(text) == " ".join(re.sub(r"[\W_]+", " ", _fold(text)).split())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_normalized_words_of_ascii_text_equal_the_definition(text: str) -> None:
    assert normalize_text(text) == " ".join(re.sub(r"[\W_]+", " ", _fold(text)).split())


CJK_SAMPLES = "北京年月日人々〇〆はがカタナーｶﾀｶﾅ㈱豈𠀋𪚥𰀀ㇰ𛀂𛅤한국어 abcé1２,。、「」・\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
       | st.text(alphabet=st.sampled_from(CJK_SAMPLES), max_size=80))
def test_shingle_words_make_each_chinese_or_japanese_character_a_word(text: str) -> None:
    words = normalized_words(text)
    assert shingle_words(words) == _reference_shingle_words(words)
    assert "".join(shingle_words(words)) == "".join(words)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "dé", "ﬁ", "x1"]), max_size=30))
def test_shingle_count_counts_distinct_grams(words: list[str]) -> None:
    assert shingle_count(words, 4) == len(shingles_of(words, 4))


def _fixture_texts() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (ROOT / "fixtures" / "dedup" / "pairs.jsonl").read_text().splitlines()]
    return [(row[side]["title"], row[side]["text"]) for row in rows for side in ("a", "b")]


def test_fingerprint_equals_the_definition_and_prepare() -> None:
    rng = random.Random(3)
    vocab = sorted(set(" ".join(text for _, text in _fixture_texts()).split())) + ["Straße", "ＡＢＣ", "38%", "R&D"]
    vocab += ["北京2025年", "日本語の", "カタカナ", "人々", "ｶﾀｶﾅ", "公司今天宣布，", "한국어"]  # Chinese, Japanese, Korean
    synthetic = [("T", "\n".join(" ".join(rng.choice(vocab) for _ in range(rng.randrange(1, 30)))
                                 for _ in range(rng.randrange(0, 12)))) for _ in range(150)]
    for title, text in _fixture_texts() + synthetic:
        fp = fingerprint(title, text, PARAMS)
        expected = reference_fingerprint(title, text, PARAMS)
        assert (fp.content_hash, fp.band_keys, fp.title_key, fp.shingle_count) == expected
        doc = prepare(title, text, None, PARAMS)
        assert doc.fingerprint == fp and doc.shingles == shingles(text)


def test_exact_copies_share_every_band_key() -> None:
    # store.repository._find_copy looks for an exact copy only among items sharing a band key
    rows = [json.loads(line) for line in (ROOT / "fixtures" / "dedup" / "pairs.jsonl").read_text().splitlines()]
    exact = 0
    for row in rows:
        a, b = (fingerprint(row[side]["title"], row[side]["text"], PARAMS) for side in ("a", "b"))
        if a.content_hash == b.content_hash and not a.is_short:
            exact += 1
            assert a.band_keys == b.band_keys
    assert exact >= 5


def test_short_text_has_no_band_keys() -> None:
    doc = prepare("Acme opens a branch", "Acme opened a branch in Dublin, Ohio today.", DAY, PARAMS)
    assert doc.fingerprint.is_short and doc.fingerprint.band_keys == ()
    long_doc = prepare("t", BODY, DAY, PARAMS)
    assert not long_doc.fingerprint.is_short and len(long_doc.fingerprint.band_keys) == PARAMS.bands


# --- decisions ------------------------------------------------------------------------------


def test_same_release_with_different_wrappers_is_a_near_duplicate() -> None:
    wire = prepare("Voltaris breaks ground", wire_copy(BODY), DAY, PARAMS)
    partner = prepare("Voltaris breaks ground | MarketPulse", partner_copy(BODY), DAY, PARAMS)
    newsroom = prepare("Voltaris breaks ground", newsroom_copy(BODY), DAY, PARAMS)
    found = match(partner, wire, 7, PARAMS)
    assert found is not None and found.method in ("jaccard", "containment") and found.matched_id == 7
    assert found.similarity >= 0.7
    unstripped = match(newsroom, wire, 8, PARAMS)  # boilerplate kept on one side
    assert unstripped is not None and unstripped.matched_id == 8
    assert similarity(newsroom, wire).jaccard < similarity(partner, wire).jaccard


def test_same_text_under_another_url_is_an_exact_duplicate() -> None:
    a = prepare("Voltaris breaks ground", wire_copy(BODY), DAY, PARAMS)
    b = prepare("VOLTARIS BREAKS GROUND", BODY.replace("\n", "\n\n"), DAY + dt.timedelta(days=30), PARAMS)
    assert match(b, a, 3, PARAMS) == Match("content_hash", 1.0, 3)


def test_releases_sharing_only_the_about_block_stay_apart() -> None:
    for wrap in (wire_copy, newsroom_copy):
        a = prepare("Voltaris breaks ground", wrap(BODY), DAY, PARAMS)
        b = prepare("Voltaris signs Desert Sun", wrap(OTHER_BODY), DAY, PARAMS)
        assert match(b, a, 1, PARAMS) is None
        assert similarity(a, b).lead < 0.2


def test_short_releases_sharing_the_about_block_stay_apart() -> None:
    # unstripped boilerplate makes these "long", and they share most of their text
    first = newsroom_copy("Northgate will webcast its first quarter earnings call on April 24.")
    second = newsroom_copy("Northgate Bank opened its 58th branch today in Dublin, Ohio.")
    a = prepare("Northgate to webcast call", first, DAY, PARAMS)
    b = prepare("Northgate opens branch", second, DAY, PARAMS)
    assert similarity(a, b).containment > 0.7  # the trap
    assert match(b, a, 1, PARAMS) is None


def test_short_text_falls_back_to_title_and_date() -> None:
    text = "Cobalt Ridge has granted 1,150,000 stock options exercisable at $0.42 for five years."
    a = prepare("Cobalt Ridge Grants Stock Options", text, DAY, PARAMS)
    b = prepare("COBALT RIDGE GRANTS STOCK OPTIONS", "Posted by staff. " + text, DAY + dt.timedelta(days=1), PARAMS)
    assert a.fingerprint.is_short
    assert match(b, a, 5, PARAMS) == Match("title_date", 1.0, 5)
    late = prepare("Cobalt Ridge Grants Stock Options", text + " Filed.", DAY + dt.timedelta(days=3), PARAMS)
    assert match(late, a, 5, PARAMS) is None  # outside the 2-day window
    other = prepare("Cobalt Ridge Appoints Director", text + " Filed.", DAY, PARAMS)
    assert match(other, a, 5, PARAMS) is None
    undated = prepare("Cobalt Ridge Grants Stock Options", text + " Filed.", None, PARAMS)
    assert match(undated, a, 5, PARAMS) is None


def test_short_texts_of_two_releases_under_one_generic_title_stay_apart() -> None:
    acme = "Acme Corp. has published its quarterly report for the first quarter of 2025 on its website."
    globex = "Globex Inc. reported revenue of $12 million and a net loss of $3 million for the quarter ended March 31."
    a, b = (prepare("Quarterly Report", text, DAY, PARAMS) for text in (acme, globex))
    assert a.short and b.short
    assert match(b, a, 1, PARAMS) is None and match(a, b, 1, PARAMS) is None  # neither lead is in the other
    copy = prepare("QUARTERLY REPORT", "Posted by staff.\n" + acme + " Read more.", DAY, PARAMS)
    assert match(copy, a, 1, PARAMS) == Match("title_date", 1.0, 1)
    teaser = prepare("Quarterly Report", "Read the full report.", DAY, PARAMS)  # no lead: the title decides
    assert match(teaser, a, 1, PARAMS) == Match("title_date", 1.0, 1)


def test_verify_requires_the_lead_and_enough_overlap() -> None:
    from ingest.dedup import Similarity

    assert verify(Similarity(0.9, 0.95, 0.5), 1, PARAMS) is None  # lead not shared
    assert verify(Similarity(0.9, 0.95, 0.9), 1, PARAMS) == Match("jaccard", 0.9, 1)
    assert verify(Similarity(0.4, 0.95, 0.9), 1, PARAMS) == Match("containment", 0.95, 1)
    assert verify(Similarity(0.4, 0.6, 1.0), 1, PARAMS) is None


def test_near_copies_are_dated_at_most_near_window_days_apart() -> None:
    wire = prepare("Voltaris breaks ground", wire_copy(BODY), DAY, PARAMS)
    for days, found in ((-3, True), (3, True), (4, False), (-90, False)):
        partner = prepare("Voltaris breaks ground", partner_copy(BODY), DAY + dt.timedelta(days=days), PARAMS)
        assert (match(partner, wire, 1, PARAMS) is not None) is found, days
    late = prepare("Voltaris breaks ground", partner_copy(BODY), DAY + dt.timedelta(days=10), PARAMS)
    assert match(late, wire, 1, replace(PARAMS, near_window_days=10)) is not None
    undated = prepare("Voltaris breaks ground", partner_copy(BODY), None, PARAMS)
    assert match(undated, wire, 1, PARAMS) is None
    exact = prepare("Voltaris breaks ground", BODY, DAY + dt.timedelta(days=400), PARAMS)
    assert match(exact, wire, 1, PARAMS) == Match("content_hash", 1.0, 1)  # the same words: at any distance


def test_one_announcement_by_several_companies_is_one_story_each() -> None:
    day = dt.date(2025, 6, 24)
    docs = [prepare(*russell(*company), day, PARAMS) for company in RUSSELL_COMPANIES]
    for a, b in itertools.combinations(docs, 2):
        assert verify(similarity(a, b), 1, PARAMS) is not None  # the trap: only name, ticker and CEO differ
        assert match(a, b, 1, PARAMS) is None and match(b, a, 1, PARAMS) is None
    for company, doc in zip(RUSSELL_COMPANIES, docs):  # while each company's partner copies still match
        title, text = russell(*company)
        partner = prepare(title, partner_copy(text), day + dt.timedelta(days=1), PARAMS)
        assert [match(partner, other, n, PARAMS) is not None for n, other in enumerate(docs)] == \
            [other is doc for other in docs]


def test_a_companys_notices_of_consecutive_days_are_one_story_each() -> None:
    notices = [prepare("Transaction in Own Shares", own_shares(*args), DAY + dt.timedelta(days=n), PARAMS)
               for n, args in enumerate(OWN_SHARES)]
    assert verify(similarity(notices[0], notices[1]), 1, PARAMS) is not None  # the trap
    for a, b in itertools.combinations(notices, 2):
        assert match(b, a, 1, PARAMS) is None
    newsroom = prepare("Transaction in Own Shares", "Regulatory news\n" + own_shares(*OWN_SHARES[1]), DAY, PARAMS)
    assert match(newsroom, notices[1], 1, PARAMS) is not None  # the same day's notice elsewhere is its copy


def test_short_notes_of_consecutive_days_are_one_story_each() -> None:
    notes = [prepare("Net Asset Value(s)", nav_note(12 + n, nav), DAY + dt.timedelta(days=n), PARAMS)
             for n, nav in enumerate(["312.45", "309.80", "315.02"])]
    assert all(note.short for note in notes)
    for a, b in itertools.combinations(notes, 2):
        assert match(b, a, 1, PARAMS) is None
    copy = prepare("NET ASSET VALUE(S)", "Greyfriars Income Trust plc\n" + nav_note(13, "309.80"), DAY, PARAMS)
    assert match(copy, notes[1], 1, PARAMS) == Match("title_date", 1.0, 1)


LEAD_FACTS = "Northgate Bancorp, Inc. (NYSE: NGB) declared a dividend of $0.31 per share, payable May 20, 2025."


@pytest.mark.parametrize(
    ("other", "agree"),
    [
        (LEAD_FACTS, True),
        ("COLUMBUS, Ohio, April 22, 2025 /PRNewswire/ -- " + LEAD_FACTS, True),  # a dateline kept: more facts
        ("Northgate Bancorp, Inc. (NYSE: NGB) declared a dividend of $0.31 per share.", True),  # cut short
        (LEAD_FACTS.replace("Northgate", "Nrothgate"), True),  # misspelt
        (LEAD_FACTS.replace("$0.31", "$0.32"), False),
        (LEAD_FACTS.replace("May 20", "August 19"), False),
        (LEAD_FACTS.replace("Northgate Bancorp, Inc. (NYSE: NGB)", "Eastgate Financial Corp. (NYSE: EGF)"), False),
        (LEAD_FACTS.replace("NGB", "NGC"), False),  # tickers are too short to be misspelt
    ],
)
def test_facts_of_two_leads_agree_when_one_contains_the_other(other: str, agree: bool) -> None:
    a, b = lead_facts(LEAD_FACTS), lead_facts(other)
    assert "0.31" in a and "ngb" in a and "20" in a and "per" not in a
    assert facts_agree(a, b) is agree and facts_agree(b, a) is agree


@pytest.mark.parametrize("prefix", [INTRO, HIGHLIGHTS, CAPTION, HIGHLIGHTS + CAPTION])
def test_copies_with_words_before_the_wire_dateline_are_found_and_verified(prefix: str) -> None:
    assert len(prefix.split()) >= 20
    wire = prepare("Voltaris breaks ground", wire_copy(BODY), DAY, PARAMS)
    partner = prepare("Voltaris breaks ground", prefix + wire_copy(BODY), DAY + dt.timedelta(days=1), PARAMS)
    other = prepare("Voltaris breaks ground", "Posted by Newsdesk\n" + INTRO + partner_copy(BODY), DAY, PARAMS)
    for a, b in ((partner, wire), (wire, partner), (partner, other)):
        assert set(a.fingerprint.band_keys) & set(b.fingerprint.band_keys)
        found = match(a, b, 1, PARAMS)
        assert found is not None and found.method in ("jaccard", "containment")
    assert len(wire.fingerprint.band_keys) == PARAMS.bands  # no second head for the wire's copy
    head = normalized_words(strip_wrapper(prefix + wire_copy(BODY)))[: PARAMS.head_words]  # the first head's keys,
    sig = signature(shingles_of(head, PARAMS.shingle_size), PARAMS.num_perm, PARAMS.seed)  # as stored before
    assert partner.fingerprint.band_keys[: PARAMS.bands] == band_keys(sig, PARAMS.bands, PARAMS.rows)


@pytest.mark.parametrize(
    "dateline",
    [
        "RENO, Nev., March 4, 2025 /PRNewswire/ -- ",
        "Reno, NV, March 4, 2025 (GLOBE NEWSWIRE) -- ",
        "RENO, Nev.--(BUSINESS WIRE)--",
        "RENO, NV / ACCESS Newswire / March 4, 2025 / ",
        "TORONTO, March 4, 2025 /CNW/ - ",
        "Vancouver, British Columbia--(Newsfile Corp. - March 4, 2025) - ",
        "Reno, NV (PRWEB) March 4, 2025 -- ",
    ],
)
def test_the_release_starts_after_a_wire_dateline_in_the_head(dateline: str) -> None:
    release = "Voltaris Energy Inc. (NASDAQ: VLTX) broke ground - at last - on its plant.\nMore."
    lookalikes = (
        "Voltaris Energy Inc. (NASDAQ: VLTX) - the battery maker - broke ground.",
        "The planned plant at night (Photo: Business Wire)",
        "Sales in 2024-2025 rose - again - by a third.",
        "LONDON, March 4, 2025 -- Voltaris broke ground.",  # a dateline, but no wire's
        # a wire's name, but not in the tag
        "Acme Wireless Inc. (NASDAQ: AWI) - the storage maker - broke ground.",
        "Shares of Wirecard (XETRA: WDI) - once a darling - fell.",
    )
    for before in ("", "A caption (Image: Voltaris)\n", "Highlights\n" + "a plant, " * 40 + "\nJobs\n",
                   *(f"An intro.\n{line}\n" for line in lookalikes)):
        core = before + dateline + release
        assert core[release_start(core, 100):] == release
    late = "word " * 100 + "\n" + dateline + release
    assert release_start(late, 100) is None and release_start(late, 101) is not None


@pytest.mark.parametrize(("title", "text", "partner", "other", "min_shingles"), [
    ("北风机器人与海港物流签署协议", ZH, zh_partner, ZH_OTHER, 200),  # about one a character
    ("北风机器人与海港物流签署协议", JA, ja_partner, ZH_OTHER, 200),
    # Thai has no spaces between words either; its marks split the text into syllable-sized words, enough
    # shingles for band keys without shingling it by character
    ("นอร์ทวินด์ลงนามข้อตกลง", TH, th_partner, TH_OTHER, 150),
], ids=["chinese", "japanese", "thai"])
def test_releases_in_scripts_without_spaces_get_band_keys_and_their_copies_match(
        title: str, text: str, partner, other: str, min_shingles: int) -> None:
    wire = prepare(title, text, DAY, PARAMS)
    assert not wire.short and len(wire.fingerprint.band_keys) == PARAMS.bands
    assert wire.fingerprint.shingle_count > min_shingles
    copy = prepare("another title", partner(text), DAY + dt.timedelta(days=1), PARAMS)
    found = match(copy, wire, 1, PARAMS)
    assert found is not None and found.method == "jaccard" and found.similarity > 0.85
    another = prepare(title, other, DAY, PARAMS)  # the same title, another release
    assert not set(another.fingerprint.band_keys) & set(wire.fingerprint.band_keys)
    assert match(another, wire, 1, PARAMS) is None


# --- fixtures -------------------------------------------------------------------------------


def test_fixture_pairs_are_complete_and_up_to_date() -> None:
    path = ROOT / "fixtures" / "dedup" / "pairs.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100 and len({r["id"] for r in rows}) == len(rows)
    assert {r["duplicate"] for r in rows} == {True, False}
    for row in rows:
        assert set(row) == {"id", "kind", "a", "b", "duplicate", "note"}
        for side in (row["a"], row["b"]):
            assert set(side) == {"url", "title", "text", "source", "published"}
    check = subprocess.run(
        [sys.executable, "fixtures/dedup/make_pairs.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
