from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from ingest.extract import extract_page, from_feed
from ingest.frontmatter import parse
from ingest.model import EntryKeys, Extraction, FeedEntry
from ingest.normalize import _sentences, entry_keys, first_sentences, normalize, slugify
from ingest.sentences import ABBREVIATION

from conftest import write_config, Presswire
from hostile import HTML_TYPE, RSS_TYPE, item, rss

SEEN = datetime(2025, 5, 16, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def presswire_site(tmp_path, sqlite_url, empty_server):
    """poll(title=, summary_html=, page=, channel=, source=): a feed of that one item (and its page, if any) on
    127.0.0.1, its <channel><title> `channel`, polled through the CLI as the source named `source`; the item's
    front matter as `items show` prints it."""
    def poll(title: str = "Acme Wins a Contract", summary_html: str = "A summary.", page: str = "",
             channel: str = "Wire", source: str = "Wire") -> dict:
        link = empty_server.url("/news/acme-wins")
        if page:
            empty_server.route("/news/acme-wins", body=page, headers=HTML_TYPE)
        feed = rss(item("g1", title, link, f"<![CDATA[{summary_html}]]>",
                        "<pubDate>Thu, 15 May 2025 13:30:00 +0000</pubDate>"))
        empty_server.route("/feed.xml", body=feed.replace("<title>Wire</title>", f"<title>{channel}</title>", 1),
                           headers=RSS_TYPE)
        pw = Presswire(write_config(tmp_path / "presswire.toml", sqlite_url, [(empty_server.url("/feed.xml"), source)]))
        pw("poll")
        return parse(pw("items", "show", "1").stdout).front
    return poll


@pytest.mark.parametrize("title,slug", [
    ("China Emerges as Global Leader in Advanced Battery Technology, Shaping Future of Energy and Industry",
     "china-emerges-as-global-leader-in-advanced-battery-technology-shaping-future-of-energy-and-industry"),
    ("Café Société: Ünïcode & “Quotes”", "cafe-societe-unicode-quotes"),
    ("../../etc/passwd", "etc-passwd"),
    ("///", "item"),
    ("", "item"),
    ("x" * 50 + " " + "y" * 100, "x" * 50),
])
def test_slugify(title, slug):
    assert slugify(title) == slug


@pytest.mark.parametrize("title,slug", [
    ("x" * 60 + " " + "y" * 59 + " zzz", "x" * 60 + "-" + "y" * 59),  # the limit falls right after a word
    ("x" * 60 + " " + "y" * 58 + " zzz", "x" * 60 + "-" + "y" * 58),  # ... or on the hyphen after it
    ("x" * 60 + " " + "y" * 60 + "z", "x" * 60),  # ... or inside a word
    ("x" * 130, "x" * 120),  # one word longer than the limit
])
def test_a_long_slug_is_cut_after_its_last_whole_word(title, slug):
    assert slugify(title) == slug


def test_a_polled_title_of_exactly_the_slug_limit_keeps_its_last_word(presswire_site):
    title = "Helio Grid Systems Inks a Forty Megawatt-Hour Storage Contract With a Western Utility for Its Solar " \
            "Plant Expansion Next Year"
    front = presswire_site(title=title)
    assert front["url"] == "2025-05-15-helio-grid-systems-inks-a-forty-megawatt-hour-storage-contract-with-a-" \
                           "western-utility-for-its-solar-plant-expansion-next"


def test_first_sentences_keeps_whole_sentences():
    text = ("China leads the global race in battery technology, with companies like QuantumScape Corp. striving "
            "to catch up. BillionDollarClub provides a platform. " + "More words here. " * 30)
    out = first_sentences(text, 160)
    assert out == "China leads the global race in battery technology, with companies like QuantumScape Corp. " \
                  "striving to catch up. BillionDollarClub provides a platform."
    assert first_sentences("short text", 300) == "short text"
    assert first_sentences("a" * 400, 100).endswith("…") and len(first_sentences("a" * 400, 100)) <= 100


@pytest.mark.parametrize("text,sentences", [
    ("Acme Corp. (NASDAQ: ACME) today announced record revenue. Shares rose.",
     ["Acme Corp. (NASDAQ: ACME) today announced record revenue.", "Shares rose."]),
    ("Dr. Jane Smith said so. The U.S. Market rose 2%. Prof. Li agreed.",
     ["Dr. Jane Smith said so.", "The U.S. Market rose 2%.", "Prof. Li agreed."]),
    ("John F. Kennedy and Helio Grid Systems Inc. (NASDAQ: HGRD) signed. It is the No. 1 deal, vs. Mar. 3.",
     ["John F. Kennedy and Helio Grid Systems Inc. (NASDAQ: HGRD) signed.", "It is the No. 1 deal, vs. Mar. 3."]),
    ("Why now? Because Acme Inc. Said so! See (St. Louis) filings. 20% more.",
     ["Why now?", "Because Acme Inc. Said so!", "See (St. Louis) filings.", "20% more."]),
])
def test_sentences_do_not_end_at_initials_or_abbreviations(text, sentences):
    assert list(_sentences(text)) == sentences


@pytest.mark.parametrize("text,sentences", [
    ('Smith said "We won the contract." The company expects more.',
     ['Smith said "We won the contract."', "The company expects more."]),
    ("Revenue rose (as expected.) Shares fell. “It is a start.” Growth continues.",
     ["Revenue rose (as expected.)", "Shares fell.", "“It is a start.”", "Growth continues."]),
    ("董事长说：「我们赢了。」公司很高兴！ 新工厂明年投产？是的。",
     ["董事长说：「我们赢了。」", "公司很高兴！", "新工厂明年投产？", "是的。"]),
])
def test_sentences_keep_their_closing_quote_or_parenthesis(text, sentences):
    assert list(_sentences(text)) == sentences


def test_a_summary_never_leaves_a_quote_open(presswire_site):
    lead = 'Acme Corp. (NYSE: ACME) said "We won the contract." The company expects revenue of $5.2 million.'
    front = presswire_site(summary_html=f"<p>{lead} " + "More details follow here. " * 12 + "</p>")
    assert front["summary"].startswith(lead + " More details follow here.")
    assert front["summary"].count('"') == 2


def test_a_chinese_summary_is_cut_at_its_full_stops(presswire_site):
    sentence = "比亚迪今天发布了新一代电池。"  # 14 characters: 21 fit in 300
    front = presswire_site(title="比亚迪发布新电池", summary_html=f"<p>{sentence * 30}</p>")
    assert front["summary"] == sentence * 21


def test_a_long_meta_description_is_cut_at_a_word(presswire_site):
    meta = ("Acme Corporation today announced a wide-ranging strategic partnership with Globex to deliver battery "
            "storage systems across North America, Europe and the Asia-Pacific region over the next decade.")
    body = "<p>Acme Corporation today announced a partnership with Globex Industries to deliver storage.</p>" * 4
    page = f'<html><head><meta name="description" content="{meta}"></head><body><article>{body}</article></body></html>'
    front = presswire_site(page=page)
    assert front["description"] == ("Acme Corporation today announced a wide-ranging strategic partnership with "
                                     "Globex to deliver battery storage systems across North America, Europe and the…")


def test_summary_and_description_start_at_the_lead_not_the_lines_above_it(presswire_site):
    lead = "Acme Corporation today announced a partnership with Globex Industries to deliver storage systems."
    body = ("<p>FOR IMMEDIATE RELEASE</p><p>Photo credit: John Smith / Reuters</p>"
            f"<p>{lead}</p><p>The agreement covers projects in twelve countries over the next five years.</p>")
    front = presswire_site(summary_html="", page=f"<html><body><article>{body}</article></body></html>")
    assert front["summary"] == lead + " The agreement covers projects in twelve countries over the next five years."
    assert front["description"] == lead


@pytest.mark.parametrize("dateline", [
    "RENO, Nev., March 4, 2025 /PRNewswire/ -- ",
    "AUSTIN, Texas--(BUSINESS WIRE)--",
    "NEW YORK, March 4, 2025 (GLOBE NEWSWIRE) -- ",
    "Toronto, Ontario--(Newsfile Corp. - March 4, 2025) - ",
    "VANCOUVER, BC / ACCESS Newswire / March 4, 2025 / ",
    # no wire named: the place in capitals, a month and day, a dash
    "TULSA, Okla., March 3, 2025 \u2014 ",
    "PHOENIX, May 15, 2025 -- ",
    "ST. LOUIS, Mo., Sept. 3 \u2013 ",
])
def test_summary_and_description_start_after_the_wire_dateline(presswire_site, dateline):
    lead = "Acme Corp. (NASDAQ: ACME) today announced a partnership with Globex Industries to deliver storage."
    more = "<p>The agreement covers projects in twelve countries over the next five years.</p>" * 3
    page = f"<html><body><article><p>{dateline}{lead}</p>{more}</article></body></html>"
    front = presswire_site(summary_html=f"<p>{dateline}{lead}</p>", page=page)
    assert front["summary"] == lead and front["description"] == lead  # from the feed's summary, the page's lead


def test_a_meta_description_starts_after_the_wire_dateline_and_lookalikes_stay_whole(presswire_site):
    meta = "/PRNewswire/ -- Acme Corp. today announced a partnership with Globex Industries."
    lookalike = "Acme Wireless Inc. (NASDAQ: AWI) - the storage maker - reported results for fiscal 2025 – a record."
    page = (f'<html><head><meta name="description" content="{meta}"></head><body><article>'
            + f"<p>{lookalike} More storage sites are planned for next year in twelve countries.</p>" * 3
            + "</article></body></html>")
    front = presswire_site(summary_html=f"<p>{lookalike}</p>", page=page)
    assert front["description"] == "Acme Corp. today announced a partnership with Globex Industries."
    assert front["summary"] == lookalike


@pytest.mark.parametrize("lead", [
    "Phoenix, May 15, 2025 \u2013 Acme Corp. today announced a partnership with Globex Industries.",  # mixed case
    "Friday, May 15 \u2013 the day Acme Corp. announced a partnership with Globex Industries.",
    "Acme reported results for fiscal 2025 \u2013 its best year yet, with storage sales up in twelve countries.",
])
def test_a_lead_that_only_looks_like_a_dateline_stays_whole(presswire_site, lead):
    more = "<p>The agreement covers projects in twelve countries over the next five years.</p>" * 3
    page = f"<html><body><article><p>{lead}</p>{more}</article></body></html>"
    front = presswire_site(summary_html=f"<p>{lead}</p>", page=page)
    assert front["summary"] == lead and front["description"].startswith(lead)


@pytest.mark.parametrize(("feed_title", "head", "title"), [
    # the source's name ("Wire", see presswire_site) or the site's (og:site_name, the host) goes, on either side
    ("Acme Wins a Contract | Wire", "", "Acme Wins a Contract"),
    ("", '<meta property="og:title" content="Acme Wins a Contract | Business Wire">'
         '<meta property="og:site_name" content="Business Wire">', "Acme Wins a Contract"),
    ("", '<meta property="og:title" content="InvestorBrandNetwork | Acme Wins a Contract">'
         '<meta property="og:site_name" content="InvestorBrandNetwork">', "Acme Wins a Contract"),
    ("", '<meta property="og:title" content="Theranos News | Acme Wins a Contract">'
         '<meta property="og:site_name" content="Ranos News">', "Theranos News | Acme Wins a Contract"),
    # a name before a colon is the headline's subject
    ("", '<meta property="og:title" content="Acme: Q3 Results Beat Estimates">'
         '<meta property="og:site_name" content="Acme">', "Acme: Q3 Results Beat Estimates"),
    # any other text after a dash stays
    ("Acme - the company that makes widgets | Wire", "", "Acme - the company that makes widgets"),
    ("", "<title>Q3 Results - Revised</title>", "Q3 Results - Revised"),
])
def test_a_title_drops_the_source_or_site_name_and_nothing_else(presswire_site, feed_title, head, title):
    body = "<p>Acme Corporation today announced a partnership with Globex Industries to deliver storage.</p>" * 4
    front = presswire_site(title=feed_title, page=f"<html><head>{head}</head><body><article>{body}</article></body></html>")
    assert front["title"] == title


@pytest.mark.parametrize(("feed_title", "channel", "head", "title"), [
    # the feed's own <title>, or the page's og:site_name, names the site the feed's title ends with
    ("Acme Wins a Contract | Business Wire", "Business Wire", "", "Acme Wins a Contract"),
    ("Acme Wins a Contract | Business Wire", "BW news", '<meta property="og:site_name" content="Business Wire">',
     "Acme Wins a Contract"),
    ("Business Wire | Acme Wins a Contract", "Business Wire", "", "Acme Wins a Contract"),
    # a name before a colon is the headline's subject; another name after a separator is the headline's
    ("Business Wire: Acme Wins a Contract", "Business Wire", "", "Business Wire: Acme Wins a Contract"),
    ("Acme Wins a Contract | Globex Industries", "Business Wire", '<meta property="og:site_name" content="Globex">',
     "Acme Wins a Contract | Globex Industries"),
])
def test_a_feed_title_drops_the_name_its_feed_or_page_gives_the_site(presswire_site, feed_title, channel, head, title):
    body = "<p>Acme Corporation today announced a partnership with Globex Industries to deliver storage.</p>" * 4
    front = presswire_site(title=feed_title, channel=channel, source="BW",
                           page=f"<html><head>{head}</head><body><article>{body}</article></body></html>")
    assert front["title"] == title


def test_a_canonical_naming_the_home_page_is_not_the_source_link(presswire_site):
    body = "<p>Acme Corporation today announced a partnership with Globex Industries to deliver storage.</p>" * 4
    front = presswire_site(page=f'<html><head><link rel="canonical" href="/"></head><body><article>{body}'
                                f'</article></body></html>')
    assert front["source_link"].endswith("/news/acme-wins")


def test_a_description_does_not_stop_at_an_abbreviation():
    text = ("Acme Corp. (NASDAQ: ACME) today announced that its third-quarter revenue rose 20% to $5.2 million, "
            "beating analyst estimates by a wide margin, and that the company has raised its guidance for 2025.")
    assert first_sentences(text, 160) == text[:159].rsplit(" ", 1)[0] + "…"  # not "Acme Corp."


_ENDS_WITH_ABBREVIATION = re.compile(rf"(?:^| )(?:{ABBREVIATION.pattern})$", re.IGNORECASE)


def _first_sentences_of_all(text: str, limit: int) -> str:
    """first_sentences as it was written before it read only the start of the text: all of it split with one
    regex (the separators kept), a sentence that ends with initials or an abbreviation joined to the next, a
    closing quote after a sentence's stop kept with it."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    pieces = re.split(r"(?<=[.!?])([\"”’)]?\s+)(?=[A-Z0-9\"“(])", text)
    sentences = pieces[:1]
    for separator, piece in zip(pieces[1::2], pieces[2::2]):
        if _ENDS_WITH_ABBREVIATION.search(sentences[-1]):
            sentences[-1] += separator + piece
        else:
            sentences[-1] += separator.strip()
            sentences.append(piece)
    out = ""
    for sentence in sentences:
        candidate = f"{out} {sentence}".strip()
        if len(candidate) > limit:
            break
        out = candidate
    if not out:
        out = text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return out


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["A", "b", "1", ".", "!", "?", " ", "  ", "\n", "\u00a0", '"', "”", ")", "(", ","]),
                max_size=300).map("".join), st.integers(min_value=1, max_value=60))
def test_first_sentences_reads_only_the_start_with_the_same_result(text: str, limit: int) -> None:
    # short sentences and dropped quotes are the worst case for reading only the start of the text
    assert first_sentences(text, limit) == _first_sentences_of_all(text, limit)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["Acme", "rose", "Inc.", "Corp.", "Dr.", "U.S.", "F.", "e.g.", "No.", "(NASDAQ:",
                                 "ACME)", "sold.", "Q3.", "1.", "why?", "won!", "“We", "(see", "it.)", "said.”", ".", "B"]),
                max_size=150).map(" ".join), st.integers(min_value=1, max_value=160))
def test_first_sentences_with_abbreviations_reads_only_the_start_with_the_same_result(text: str, limit: int) -> None:
    assert first_sentences(text, limit) == _first_sentences_of_all(text, limit)


def test_first_sentences_of_many_short_quoted_sentences() -> None:
    text = " ".join(['1."'] * 400)  # 'A."' would be an initial now: one sentence
    for limit in (1, 2, 3, 10, 160, 300):
        assert first_sentences(text, limit) == _first_sentences_of_all(text, limit)


def test_entry_keys_canonicalize_links_and_fall_back_to_a_hash():
    keys = entry_keys(FeedEntry(guid=None, link="HTTPS://Example.com/a?utm_source=x#top", title="t"))
    assert keys.link == "https://example.com/a" and keys.guid is None
    bare = entry_keys(FeedEntry(guid=None, link=None, title="t", summary_html="s"))
    assert bare.guid.startswith("sha256:") and bare == entry_keys(FeedEntry(None, None, "t", "s"))


def test_entry_keys_leave_out_the_key_its_feed_shares_between_entries():
    assert entry_keys(FeedEntry("g", "https://x/a#1", "t", identity="link")) == EntryKeys(None, "https://x/a")
    assert entry_keys(FeedEntry("g", "https://x/a#1", "t", identity="guid")) == EntryKeys("g", None)
    assert entry_keys(FeedEntry("g", "https://x/a#1", "t")) == EntryKeys("g", "https://x/a")
    assert entry_keys(FeedEntry("g", None, "t", identity="link")) == EntryKeys("g", None)  # never both gone


def test_page_html_is_rebuilt_not_copied():
    page = b"""<html><head><title>T</title></head><body><article><h1>T</h1>
    <p onclick="steal()">First paragraph of a sufficiently long article body that the extractor keeps as content.
    <script>alert(1)</script><a href="javascript:alert(2)">bad link</a> <a href="/rel">relative</a></p>
    <style>p{color:red}</style><iframe src="https://evil/"></iframe>
    <p>Second paragraph with <b>bold</b> and <img src=x onerror=alert(3)> more text to make it count.</p>
    </article></body></html>"""
    got = extract_page(page, "https://news.example/story")
    assert got.ok
    for bad in ("script", "style", "iframe", "onclick", "onerror", "javascript:", "<b>", "<img"):
        assert bad not in got.body_html
    assert '<a href="https://news.example/rel">relative</a>' in got.body_html
    assert got.body_html.startswith("<p>First paragraph")


def test_normalize_reads_links_as_browsers_do():
    entry = FeedEntry(guid="g", link=" https://x/Q3 2025\n Results.html\t", title="T", enclosure="https://x/a b.jpg")
    item = normalize(entry, Extraction(failure="no page"), source_name="S", seen_at=SEEN, feed_body=from_feed(entry))
    assert item.source_link == "https://x/Q3%202025%20Results.html" and item.enclosure == "https://x/a%20b.jpg"


def test_normalize_prefers_feed_date_and_enclosure_and_falls_back_to_feed_content():
    entry = FeedEntry(guid="g", link="https://x/a", title="<b>Bold</b> &amp; title", summary_html="<p>Lead one. Two.</p>",
                      published=None, enclosure=None)
    page = Extraction(failure="fetch https://x/a: HTTP 404")
    item = normalize(entry, page, source_name="S", seen_at=SEEN, feed_body=from_feed(entry))
    assert item.title == "Bold & title" and item.date == SEEN and item.enclosure == ""
    assert item.body_html == "<p>Lead one. Two.</p>" and item.method == "feed"
    assert item.failure == "fetch https://x/a: HTTP 404" and item.slug == "2025-05-16-bold-title"
