"""Tests for ingest.promo against the real default rules file (config/promo_rules.toml)."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.promo import (
    DEFAULT_RULES_PATH,
    PromoResult,
    Rules,
    RulesError,
    Span,
    classify,
    clean_text,
    load_rules,
    without_boilerplate,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "promo"
LEAD = "Lithium prices rose again this quarter as battery makers signed long-term supply deals.\n\n"

SEED_002_SUMMARY = (
    "China leads the global race in battery technology, with companies like QuantumScape Corp. "
    "striving to catch up. BillionDollarClub provides a platform for companies to reach a wide "
    "audience of investors and influencers."
)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


def fired(result: PromoResult) -> set[str]:
    return {r.rule for r in result.reasons}


def fixture_items(split: str) -> list[dict[str, str]]:
    items = []
    for path in sorted((FIXTURES / split).glob("*.toml")):
        items.extend(tomllib.loads(path.read_text(encoding="utf-8"))["item"])
    return items


def run(rules: Rules, item: dict[str, str]) -> PromoResult:
    return classify(item["text"], title=item["title"], source_name=item["source_name"],
                    source_url=item["source_url"], rules=rules)


# ---------------------------------------------------------------- each rule: fires / near-miss
# (rule, keyword arguments for classify that must fire it, arguments that must not)

T = dict  # keyword arguments for classify

RULE_CASES = [
    ("compensation_disclosure",
     T(text=LEAD + "Acme Wire has been compensated by Foo Corp. for the distribution of this article."),
     T(text=LEAD + "The chief executive was paid $4 million last year, according to the proxy filing.")),
    ("compensation_disclosure",
     T(text=LEAD + "SSW received a fee from Foo Corp. for the creation and distribution of this article."),
     T(text=LEAD + "We have not been compensated for the distribution of this article.")),
    ("paid_content",
     T(text=LEAD + "This profile is a paid advertisement."),
     T(text=LEAD + "The conference is sponsored by the local Chamber of Commerce.")),
    ("investor_awareness",
     T(text=LEAD + "This article is part of an investor awareness program."),
     T(text=LEAD + "The campaign aims to raise awareness among investors of fraud.")),
    ("vague_disclosure",
     T(text=LEAD + "The publisher may receive compensation from companies it covers."),
     T(text=LEAD + "Executives may receive bonuses if sales targets are met.")),
    ("vague_disclosure",
     T(text=LEAD + "NNW may be compensated by the companies it covers."),
     T(text=LEAD + "Investors who lost money may be entitled to compensation.")),
    ("vague_disclosure",
     T(text=LEAD + "The author may buy or sell shares at any time."),
     T(text=LEAD + "The author holds no position in any of the stocks mentioned.")),
    ("not_advice_disclaimer",
     T(text=LEAD + "This is not investment advice."),
     T(text=LEAD + "She gave investment advice to farmers for twenty years.")),
    ("network_boilerplate",
     T(text=LEAD + "BDC provides a platform for companies to reach a wide audience of investors."),
     T(text=LEAD + "The app provides a platform for students to share lecture notes.")),
    ("network_source",
     T(text=LEAD, source_name="InvestorBrandNetwork (IBN)"),
     T(text=LEAD, source_name="InvestorBrandNetworking Weekly")),
    ("network_source",
     T(text=LEAD, source_url="https://rss.investorbrandnetwork.com/bdc/item/"),
     T(text=LEAD, source_url="https://investorbrandnetwork.com.example.org/bdc/item/")),
    ("network_mention",
     T(text=LEAD + "The interview first appeared on NetworkNewsWire."),
     T(text=LEAD + "The interview first appeared on a network news wire.")),
    ("sms_alerts",
     T(text=LEAD + 'For alerts, text "BDC" to 888-902-4192 (U.S. Mobile Phones Only).'),
     T(text=LEAD + "Customers can text their questions to our support team.")),
    ("powered_by_network",
     T(text=LEAD + "BillionDollarClub is powered by IBN"),
     T(text=LEAD + "The truck is powered by a hydrogen fuel cell.")),
    ("read_more_teaser",
     T(text=LEAD + "The company expects to start production next year. Read More>>"),
     T(text=LEAD + "Read more about our products on our website.")),
    ("microcap_venue",
     T(text=LEAD + "Shares of Foo Corp. (OTCQB: FOOC) rose."),
     T(text=LEAD + "Sales of OTC drugs rose during the flu season.")),
    ("stock_ticker",
     T(text=LEAD + "QuantumScape Corp. (NYSE: QS) makes batteries."),
     T(text=LEAD + "The index (Nasdaq: up 2%) rose. NYSE: QS is not in parentheses.")),
    ("cashtag",
     T(text=LEAD + "Traders piled into $QLNK on Monday."),
     T(text=LEAD + "The company raised $40 million, or US$5 per share.")),
    ("hype",
     T(text=LEAD + "This company is poised for explosive growth."),
     T(text=LEAD + "About Foo Corp.\nFoo Corp. is a revolutionary company poised for explosive growth.")),
    ("call_to_action",
     T(text=LEAD + "Click here to get the full report."),
     T(text=LEAD + "Media Contact:\nClick here to email Jane Doe.")),
    ("wire_dateline",
     T(text="ATLANTA, May 06, 2025 (GLOBE NEWSWIRE) -- Foo Corp. reported first quarter results today."),
     T(text="NEW YORK, May 14 (Reuters) - U.S. stocks closed higher on Wednesday after inflation data.")),
    ("wire_dateline",
     T(text="SAN JOSE, Calif.--(BUSINESS WIRE)--Foo Corp. appointed a new chief financial officer."),
     T(text="CHICAGO (AP) — Severe thunderstorms swept across the Midwest overnight, officials said.")),
    ("release_marker",
     T(text="FOR IMMEDIATE RELEASE\nThe city council approved the new bus network on Thursday night."),
     T(text=LEAD + "The state approved the money for immediate release to flooded counties.")),
    ("today_announced",
     T(text=LEAD + "Foo Corp. today announced a merger with Bar Inc."),
     T(text=LEAD + "Foo Corp. announced a merger with Bar Inc. on Tuesday.")),
    ("about_section",
     T(text=LEAD + "About Foo Corp.\nFoo Corp. makes widgets."),
     T(text=LEAD + "About 40 percent of voters said they had not decided.")),
    ("forward_looking",
     T(text=LEAD + "This release contains forward-looking statements."),
     T(text=LEAD + "Management gave forward guidance and looked forward to its statements.")),
    ("contact_block",
     T(text=LEAD + "Media Contact:\nJane Doe\njane@example.com"),
     T(text=LEAD + "Contacts between the two sides broke down in March.")),
    ("exchange_disclaimer",
     T(text=LEAD + "Neither the TSX Venture Exchange nor its Regulation Services Provider accepts responsibility."),
     T(text=LEAD + "The TSX Venture Exchange index rose 2% on Monday.")),
    ("attorney_advertising",
     T(text=LEAD + "Attorney Advertising. Prior results do not guarantee a similar outcome."),
     T(text=LEAD + "The attorney said the advertising rules had changed.")),
    ("wire_source",
     T(text=LEAD, source_name="GlobeNewswire"),
     T(text=LEAD, source_name="The Globe and Mail")),
]


@pytest.mark.parametrize(("rule", "hit", "miss"), RULE_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(RULE_CASES)])
def test_rule_fires_on_example_and_not_on_near_miss(rules: Rules, rule: str, hit: dict, miss: dict) -> None:
    assert rule in fired(classify(rules=rules, **hit))
    assert rule not in fired(classify(rules=rules, **miss))


def test_every_configured_rule_has_a_case(rules: Rules) -> None:
    assert {r.name for r in rules.rules} == {c[0] for c in RULE_CASES}


def test_reason_records_exact_matched_text_and_weight(rules: Rules) -> None:
    text = LEAD + "Acme Wire has been compensated by Foo Corp. for the distribution of this article."
    result = classify(text, rules=rules)
    (reason,) = [r for r in result.reasons if r.rule == "compensation_disclosure"]
    assert reason.score == "promo" and reason.weight == 6.0 and reason.field == "text"
    assert text[reason.start:reason.end] == reason.match
    assert reason.match.startswith("been compensated") and reason.match.endswith("distribution")


def test_source_reason_points_into_the_source_field(rules: Rules) -> None:
    url = "https://rss.investorbrandnetwork.com/bdc/x/"
    (reason,) = [r for r in classify(LEAD, source_url=url, rules=rules).reasons]
    assert (reason.rule, reason.field, url[reason.start:reason.end]) == (
        "network_source", "source_url", "rss.investorbrandnetwork.com")


def test_hits_beyond_max_hits_are_not_counted(rules: Rules) -> None:
    body = " ".join(["A revolutionary, game-changing ten-bagger with massive upside and huge potential."] * 3)
    result = classify(LEAD + body, rules=rules)
    hype = [r for r in result.reasons if r.rule == "hype"]
    assert len(hype) == 3 and result.promo_score == 1.5


# ---------------------------------------------------------------- labels and seeds


COMPENSATION_BLOCK = (
    'name = "compensation_disclosure"\n'
    'description = "The publisher says it was paid/compensated/engaged to produce or distribute the content."\n'
    'score = "promo"\nweight = 6.0\ndecisive = true')


def test_compensation_disclosure_is_decisive_whatever_its_weight(tmp_path: Path) -> None:
    text = LEAD + "Acme Wire has been compensated by Foo Corp. for the distribution of this article."
    light = load_rules(copy_rules(tmp_path, COMPENSATION_BLOCK, COMPENSATION_BLOCK.replace("6.0", "0.5")))
    result = classify(text, rules=light)
    assert (result.label, result.promo_score) == ("promotional", 0.5)
    not_decisive = COMPENSATION_BLOCK.replace("6.0", "0.5").replace("true", "false")
    assert classify(text, rules=load_rules(copy_rules(tmp_path, COMPENSATION_BLOCK, not_decisive))).label == "news"


def test_seed_002_summary_second_sentence_is_promotional_boilerplate(rules: Rules) -> None:
    result = classify(SEED_002_SUMMARY, rules=rules)
    second = SEED_002_SUMMARY.index("BillionDollarClub provides")
    assert result.boilerplate == (Span(second, len(SEED_002_SUMMARY), "network_boilerplate"),)
    assert clean_text(SEED_002_SUMMARY, result) == (
        "China leads the global race in battery technology, with companies like QuantumScape Corp. "
        "striving to catch up.")


@pytest.mark.parametrize(("seed_id", "label"), [("seed-000", "news"), ("seed-002", "promotional")])
def test_seed_labels(rules: Rules, seed_id: str, label: str) -> None:
    (item,) = [i for i in fixture_items("dev") if i["id"] == seed_id]
    assert run(rules, item).label == label


def test_seed_002_reasons_explain_the_label(rules: Rules) -> None:
    (item,) = [i for i in fixture_items("dev") if i["id"] == "seed-002"]
    result = run(rules, item)
    assert {"network_source", "network_boilerplate", "network_mention"} <= fired(result)
    assert "BillionDollarClub provides a platform" not in clean_text(item["text"], result)


def test_press_release_and_news_labels(rules: Rules) -> None:
    pr = "ATLANTA, May 06, 2025 (GLOBE NEWSWIRE) -- Foo Corp. (NYSE: FOO) today reported results."
    news = "Heavy rain closed three county roads on Monday, and crews expect to reopen them by Friday."
    assert classify(pr, rules=rules).label == "press_release"
    assert classify(news, rules=rules).label == "news"


# A negated payment, or someone hired to do ordinary work, is not a disclosure; a "paid for by" line, an
# amount paid by a company or a third party, or payment "for this communication" is.
DISCLOSURE_LABELS = [
    ("The author was not paid to write this article and holds no shares in the companies mentioned.", "news"),
    ("Our reporter is not compensated for coverage by any company named in this story.", "news"),
    ("We haven't been compensated for the distribution of this article.", "news"),
    ("Pinewood Studios was hired to produce the new series for the BBC, the broadcaster said in a statement.",
     "news"),
    ("McKesson has been retained to distribute the vaccines to pharmacies across the country.", "news"),
    ("Jane Doe was hired by Acme to lead marketing for a salary of $2 million a year.", "news"),
    ("The ad was paid for by the campaign, according to its filings.", "news"),
    ("Paid for by Acme Lithium Corp.", "promotional"),
    ("This video was paid for by Acme Lithium Corp.", "promotional"),
    ("This message was paid for by Acme Lithium Corp.", "promotional"),
    ("Stock Promo Media LLC has been compensated fifty thousand dollars by Acme Lithium Corp.", "promotional"),
    ("We have been compensated $50,000 by a third party, Acme Capital.", "promotional"),
    ("IBN is compensated by the company for this communication.", "promotional"),
    # a payment the sentence attributes to someone else is news about promotion, not this item's disclosure
    ("The writers were paid more than $2 million in stock to publish articles touting the company, the SEC said.",
     "news"),
    ("According to the complaint, one publisher was compensated $300,000 by Glenmore Lithium Corp. for a campaign.",
     "news"),
    ("Prosecutors allege that the writers received payments from the company for producing favorable reviews.",
     "news"),
    ("The SEC said on Tuesday that influencers were paid up to $5,000 per post to promote the shares.", "news"),
    ("Pursuant to Section 17(b) of the Securities Act of 1933, Acme Media discloses that it has been compensated "
     "ten thousand dollars by Acme Lithium Corp.", "promotional"),
    ("According to SEC Rule 17(b), we disclose that IBN was compensated $5,000 by Acme Lithium Corp. for this article.",
     "promotional"),
]


@pytest.mark.parametrize(("sentence", "label"), DISCLOSURE_LABELS, ids=[s[:40] for s, _ in DISCLOSURE_LABELS])
def test_disclosure_wording_and_near_misses(rules: Rules, sentence: str, label: str) -> None:
    assert classify(LEAD + sentence, title="Acme news", rules=rules).label == label


# An issuer announcing its own investor awareness engagement is a press release about a contract: with the phrase,
# a microcap venue and two tickers it was promotional (5.5), and its lead sentence was cut from the summary.
ENGAGEMENT_LEAD = ("Vancouver, British Columbia--(Newsfile Corp. - March 4, 2025) - Redcliff Copper Corp. (TSXV: RCC) "
                   "(OTCQB: RDCFF) announces that it has engaged Plutus Media Inc. to provide investor awareness and "
                   "digital marketing services to the Company.")
ENGAGEMENTS = [
    "Plutus Media will provide investor awareness services for three months for a fee of C$50,000.",
    "Redcliff has also retained Plutus Media to carry out an investor awareness campaign in Europe.",
]
AWARENESS_CAMPAIGNS = [
    "This article is part of an investor awareness program for Skyvane Defense Corp.",
    "Tech Growth Spotlight is an investor awareness platform.",
    "MNW has been retained by Redcliff Copper Corp. for an investor awareness campaign that includes this article.",
]


def test_an_issuers_investor_awareness_engagement_is_a_press_release(rules: Rules) -> None:
    for sentence in ENGAGEMENTS:
        text = f"{ENGAGEMENT_LEAD}\n\n{sentence}\n\nAbout Redcliff Copper Corp.\nRedcliff explores for copper."
        result = classify(text, title="Redcliff Copper Engages Plutus Media", source_name="Newsfile", rules=rules)
        assert "investor_awareness" not in fired(result) and result.label == "press_release"
        assert clean_text(text, result).startswith(ENGAGEMENT_LEAD + "\n\n" + sentence)
    for sentence in AWARENESS_CAMPAIGNS:
        assert "investor_awareness" in fired(classify(LEAD + sentence, rules=rules))


# paid_content: a label about this item is decisive, at the top or the bottom of the text: a label line, or a
# sentence in which the item names itself. Paid content mentioned in prose is not (ad-tech releases, earnings,
# news about advertising rules): each of these made the item promotional, and so left out of exports.
PLASTIFUEL = ("PlastiFuel Technologies Corp. (CSE: PFT) (OTCQB: PFTTF) believes it has found a profitable way to turn "
              "plastic waste into diesel. Its first commercial plant in Alberta is expected to begin operating in the "
              "fourth quarter.")
PAID_LABELS = [
    "Paid Post",
    "Partner Content",
    "Promoted Content",
    "Advertiser content from PlastiFuel",
    "Sponsored by PlastiFuel Technologies Corp.",
    "This article was commissioned by PlastiFuel Technologies Corp.",
    "This content was produced on behalf of PlastiFuel Technologies Corp.",
    "PlastiFuel Technologies Corp. paid for this article.",
    "PlastiFuel Technologies Corp. paid Smallcap Signal $25,000 for this article.",
    "PlastiFuel Technologies Corp. has paid us twenty-five thousand dollars for this newsletter.",
]


@pytest.mark.parametrize("where", ["top", "bottom"])
@pytest.mark.parametrize("label", PAID_LABELS)
def test_paid_content_labels_at_the_top_or_bottom_are_decisive(rules: Rules, label: str, where: str) -> None:
    title = "Meet the Company Turning Plastic Waste Into Fuel"
    assert classify(PLASTIFUEL, title=title, rules=rules).label == "news"  # microcap tickers alone are not enough
    text = f"{label}\n\n{PLASTIFUEL}" if where == "top" else f"{PLASTIFUEL}\n\n{label}"
    result = classify(text, title=title, rules=rules)
    assert result.label == "promotional" and "paid_content" in fired(result)
    assert clean_text(text, result) == PLASTIFUEL  # the label is boilerplate


PAID_MENTIONS = [
    "Revenue was $48.2 million, up 21% year over year, driven by growth in paid advertising on our marketplace.",
    "Publishers using the beta increased revenue from sponsored content by 34 percent on average.",
    "The rules require social media influencers to disclose paid promotion and sponsored content more clearly.",
    "Paid advertising rose 9% in the first quarter, offsetting a decline in print subscriptions.",
    "The post was sponsored by Nike, according to the complaint.",
    "The report was paid for by an oil industry group, critics said.",
]


@pytest.mark.parametrize("sentence", PAID_MENTIONS, ids=[s[:40] for s in PAID_MENTIONS])
def test_paid_content_mentioned_in_prose_is_not_a_label(rules: Rules, sentence: str) -> None:
    result = classify(LEAD + sentence, title="Acme news", rules=rules)
    assert "paid_content" not in fired(result) and result.label == "news"
    assert clean_text(LEAD + sentence, result) == LEAD + sentence  # nothing is cut from the text


# near misses of the label patterns: not a label line, not this item, or a negation
PAID_NEAR_MISSES = [
    "Sponsored by the city, the fair runs through Sunday.",
    "Sponsored by Acme Corp. Tickets are $5 at the door.",
    "This was sponsored by Sen. Jane Doe and passed the Senate 52-48.",
    "This newsletter is paid for by its readers.",
    "The city commissioned a study of the bridge last year.",
    "A report commissioned by the ministry found long delays.",
    "This piece was commissioned by our editors.",
    "A report produced on behalf of the ministry found that hospitals were short of staff.",
    "No company paid for this article.",
    "Acme hasn't paid for this post.",
    "Acme hasn't paid us $25,000 for this post.",
    "Collectors paid $2 million for this painting at the auction.",
    "The ministry paid for this report, which found lead in the water.",
]


@pytest.mark.parametrize("sentence", PAID_NEAR_MISSES, ids=[s[:40] for s in PAID_NEAR_MISSES])
def test_paid_content_near_misses(rules: Rules, sentence: str) -> None:
    for text in (LEAD + sentence, sentence + "\n\n" + LEAD):
        result = classify(text, title="Acme news", rules=rules)
        assert "paid_content" not in fired(result) and result.label == "news"


def test_a_news_paragraph_about_a_sponsored_bill_does_not_start_the_tail(rules: Rules) -> None:
    text = LEAD + "This was sponsored by Sen. Jane Doe and passed the Senate 52-48.\n\nThe law takes effect in May."
    result = classify(text, rules=rules)
    assert result.tail_start == len(text) and clean_text(text, result) == text


def test_releases_and_news_about_advertising_keep_their_label_and_summary(rules: Rules) -> None:
    from ingest.model import Extraction, FeedEntry
    from ingest.normalize import normalize

    launch = ("NEW YORK, May 15, 2025 /PRNewswire/ -- Streamline Media Inc. (NASDAQ: STML), the publisher advertising "
              "platform, today launched Native Ad Studio, a self-serve tool that lets publishers create, price and "
              "measure sponsored content campaigns alongside their editorial pages.")
    news = ("WASHINGTON (Reuters) - The Federal Trade Commission on Thursday finalized rules that require social media "
            "influencers to disclose paid promotion and sponsored content more clearly.")
    lead = {launch: launch.split(" -- ", 1)[1], news: news}  # a summary starts after a wire's dateline
    for text, source, label in [(launch, "PR Newswire", "press_release"), (news, "Reuters Business", "news")]:
        page = Extraction(text=text + "\n\nIndustry groups said the rules would raise costs.", body_html="<p>x</p>",
                          method="trafilatura")
        item = normalize(FeedEntry(guid="g", link="https://example.com/a", title="A"), page, source_name=source,
                         seen_at=datetime(2025, 5, 15, tzinfo=timezone.utc), feed_body=Extraction(), rules=rules)
        assert item.promo is not None and item.promo.label == label
        assert item.summary.startswith(lead[text])  # not cut down to the dateline


# ---------------------------------------------------------------- layout and clean text

IBN_ITEM = """Refiners are signing offtake agreements earlier in the project cycle than at any time before.

Norvale Lithium Corp. (OTCQB: NVLTF) (CSE: NVL) is advancing a brine project in Nevada.

About BillionDollarClub
BillionDollarClub (BDC) is a communications platform for companies.

To receive SMS alerts from BillionDollarClub, text "BDC" to 888-902-4192 (U.S. Mobile Phones Only)

Please see full terms of use and disclaimers on the BillionDollarClub website.

Corporate Communications
IBN
Editor@InvestorBrandNetwork.com
"""


def test_tail_sections_are_split_and_removed(rules: Rules) -> None:
    result = classify(IBN_ITEM, rules=rules)
    assert IBN_ITEM[:result.lead_end].startswith("Refiners") and IBN_ITEM[result.lead_end] == "\n"
    assert IBN_ITEM[result.tail_start:].startswith("About BillionDollarClub")
    assert [s.kind for s in result.boilerplate] == ["about", "sms", "disclaimer", "contact"]
    assert IBN_ITEM[result.boilerplate[-1].start:result.boilerplate[-1].end].endswith(".com")
    assert clean_text(IBN_ITEM, result) == (
        "Refiners are signing offtake agreements earlier in the project cycle than at any time before.\n\n"
        "Norvale Lithium Corp. (OTCQB: NVLTF) (CSE: NVL) is advancing a brine project in Nevada.")


def test_short_heading_lines_belong_to_the_lead(rules: Rules) -> None:
    text = "PAID ADVERTISEMENT\n\nFoo Corp. (OTCQB: FOOC) is developing a weekly injectable drug.\n\nMore text."
    result = classify(text, rules=rules)
    assert text[:result.lead_end].endswith("injectable drug.")
    assert "paid_content" in fired(result)
    assert clean_text(text, result).startswith("Foo Corp.")


def test_text_without_tail_has_tail_start_at_end(rules: Rules) -> None:
    text = "Heavy rain closed three county roads on Monday.\n\nCrews expect to reopen them by Friday."
    result = classify(text, rules=rules)
    assert result.tail_start == len(text) and result.boilerplate == ()
    assert clean_text(text, result) == text


# A marked sentence runs through company forms before a parenthesis and through initials: neither its start
# nor its end is at "Corp. (" or "F. Smith", so no fragment of it is left in the clean text.
MARKED_SENTENCES = [
    ("Shares rose on Monday. ", "Solaris Grid Corp. (OTCQB: SLGD) is a client of NetworkNewsWire, which publishes "
     "this update.", " The plant opens in May."),
    ("Shares rose on Monday. ", "Acme Wire has been compensated by Foo Lithium Corp. for the distribution of this "
     "article by Bar Media Inc. (OTCQB: BARM) and its partners.", " The plant opens in May."),
    ("Prices rose. ", "Analyst John F. Smith may hold shares of Foo Ltd. (OTCQB: FOOL) and may sell them.",
     " The plant opens in May."),
    # a company form before a capitalized word ends a sentence (seed 002's description)
    ("China leads the race with QuantumScape Corp. ", "BillionDollarClub provides a platform for companies to reach "
     "a wide audience of investors.", " The plant opens in May."),
]


@pytest.mark.parametrize(("before", "sentence", "after"), MARKED_SENTENCES, ids=[s[:30] for _, s, _ in MARKED_SENTENCES])
def test_marked_sentence_is_whole_around_company_forms_and_initials(rules: Rules, before: str, sentence: str,
                                                                    after: str) -> None:
    text = LEAD + before + sentence + after
    result = classify(text, rules=rules)
    start = len(LEAD + before)
    assert [(s.start, s.end) for s in result.boilerplate] == [(start, start + len(sentence))]
    assert clean_text(text, result) == LEAD + before.strip() + after


@pytest.mark.parametrize(("text", "tickers"), [
    ("Foo (NASDAQ: QS) rose.", ("NASDAQ:QS",)),
    ("Foo (Nasdaq:QS) rose.", ("NASDAQ:QS",)),
    ("Greenleaf (CSE: GLRT) (OTCQX: GLRTF) rose.", ("CSE:GLRT", "OTCQX:GLRTF")),
    ("Redcliff (TSXV: RCC; OTCQB: RDCFF) and (TSX-V: RCC).", ("TSXV:RCC", "OTCQB:RDCFF")),
    ("Atomforge (NYSE American: AFGE) vs (NYSE: AFG).", ("NYSEAMERICAN:AFGE", "NYSE:AFG")),
    ("BrightPath (OTC Pink: BPRC) and (TSXV: NBG.H).", ("OTCPINK:BPRC", "TSXV:NBG.H")),
    ("Maple Leaf Mining (TSX: MPL) rose.", ("TSX:MPL",)),
    ("lower case (nasdaq: qs) and (NASDAQ: qs) are not tickers", ()),
    ("NASDAQ: QS outside parentheses is not read", ()),
])
def test_tickers(rules: Rules, text: str, tickers: tuple[str, ...]) -> None:
    assert classify(text, rules=rules).tickers == tickers


def test_title_tickers_are_included(rules: Rules) -> None:
    result = classify("Body text without tickers but long enough to be a lead line.", rules=rules,
                      title="SolarBright Energy Corp. (OTCQB: SLBE) Expands")
    assert result.tickers == ("OTCQB:SLBE",)
    assert any(r.field == "title" and r.rule == "stock_ticker" for r in result.reasons)


# ---------------------------------------------------------------- invariants on the whole labeled set


def test_fixture_set_shape() -> None:
    dev, held = fixture_items("dev"), fixture_items("heldout")
    assert len(dev) + len(held) >= 150 and len(held) >= 50
    assert {i["label"] for i in held} == {"promotional", "press_release", "news"}
    assert {i["group"] for i in dev + held} >= {"network", "stockpromo", "company_pr", "lawfirm", "news"}
    assert len({i["id"] for i in dev + held}) == len(dev + held)


@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_result_invariants_on_fixtures(rules: Rules, split: str) -> None:
    for item in fixture_items(split):
        check_invariants(item["text"], run(rules, item), item)


def check_invariants(text: str, result: PromoResult, item: dict[str, str] | None = None) -> None:
    fields = {"text": text, "title": (item or {}).get("title", ""),
              "source_name": (item or {}).get("source_name", ""), "source_url": (item or {}).get("source_url", "")}
    for r in result.reasons:
        assert fields[r.field][r.start:r.end] == r.match or r.field == "text" and r.match == text[r.start:r.end].strip()
    assert result.promo_score == round(sum(r.weight for r in result.reasons if r.score == "promo"), 2)
    assert result.pr_score == round(sum(r.weight for r in result.reasons if r.score == "press_release"), 2)
    assert 0 <= result.lead_end <= result.tail_start <= len(text)
    spans = result.boilerplate
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    assert len(clean_text(text, result)) <= len(text)


TOKENS = list("aAbB .,:;!?()\n$>-'\"") + ["About Foo", "NASDAQ: QS", "Read More>>", "Contact:", "paid",
                                        "\n\n", "advertisement", "OTCQB", "Inc. for", "text BDC to 8885551234"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=120).map("".join))
def test_classify_never_fails_on_arbitrary_text(text: str) -> None:
    rules = load_rules()
    check_invariants(text, classify(text, rules=rules))


# ---------------------------------------------------------------- rules file


def copy_rules(tmp_path: Path, old: str, new: str) -> Path:
    source = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    assert source.count(old) == 1, old
    path = tmp_path / "promo_rules.toml"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path


NETWORK_SOURCE_BLOCK = 'name = "network_source"\ndescription = "The feed\'s source name or URL is on the promotion-network list."\nscore = "promo"\nweight = 4.0'


def test_changing_a_weight_in_the_rules_file_changes_the_outcome(rules: Rules, tmp_path: Path) -> None:
    item = T(text=LEAD + "Norvale Lithium Corp. (OTCQB: NVLTF) is advancing a brine project.",
             source_name="InvestorBrandNetwork (IBN)")
    assert classify(rules=rules, **item).label == "promotional"
    lighter = load_rules(copy_rules(tmp_path, NETWORK_SOURCE_BLOCK, NETWORK_SOURCE_BLOCK.replace("4.0", "1.0")))
    result = classify(rules=lighter, **item)
    assert (result.label, result.promo_score) == ("news", 3.0)


def test_changing_the_threshold_changes_the_outcome(rules: Rules, tmp_path: Path) -> None:
    text = "SAN JOSE, Calif.--(BUSINESS WIRE)--Foo Corp. appointed a new chief financial officer."
    assert classify(text, rules=rules).label == "press_release"
    stricter = load_rules(copy_rules(tmp_path, "press_release_threshold = 3.0", "press_release_threshold = 3.5"))
    assert classify(text, rules=stricter).label == "news"


@pytest.mark.parametrize(("old", "new", "message"), [
    (NETWORK_SOURCE_BLOCK, NETWORK_SOURCE_BLOCK.replace("4.0", '"heavy"'),
     r"rules\[\d+\] \(network_source\)\.weight: expected a number, got str 'heavy'"),
    (NETWORK_SOURCE_BLOCK, NETWORK_SOURCE_BLOCK.replace("weight", "wieght"),
     r"rules\[\d+\] \(network_source\)\.wieght: unknown key \(allowed: .*weight"),
    ("promotional_threshold = 5.0", "promotional_threshold = true",
     r"labels\.promotional_threshold: expected a number, got bool True"),
    ("max_hits = 3\nwhere = [\"lead\", \"body\"]", "max_hits = 3\nwhere = [\"lead\", \"bodyy\"]",
     r"rules\[\d+\] \(hype\)\.where: expected zones from .*got 'bodyy'"),
    ("patterns = ['\\bRead\\s+More", "patterns = ['(\\bRead\\s+More",
     r"rules\[\d+\] \(read_more_teaser\): invalid regular expression"),
    ('list = "wires"', 'list = "wire"', r"\(wire_source\)\.list: expected one of \['network', 'wires', .*\], got 'wire'"),
    ("[labels]", "[labels", r"invalid TOML"),
    ("version = 1", "version = 2", r"version: this presswire reads rules-file version 1, got 2"),
    ("unless = [\n", "unless = [\n  '(said',\n",
     r"rules\[\d+\] \(compensation_disclosure\)\.unless: invalid regular expression"),
])
def test_bad_rules_file_gives_a_clear_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = copy_rules(tmp_path, old, new)
    with pytest.raises(RulesError, match=re.escape(str(path)) + ": .*" + f"(?:{message})"):
        load_rules(path)


def test_missing_rules_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.toml")


def test_rules_object_is_immutable(rules: Rules) -> None:
    with pytest.raises(AttributeError):
        rules.promotional_threshold = 1.0  # type: ignore[misc]


def test_clean_text_tidies_blanks_lines_and_paragraphs(rules: Rules) -> None:
    text = "Foo\t Corp.  said on Monday  it had\n  signed a deal. \n \t\n\n  Shares rose.\t\n\n\n"
    expected = "Foo Corp. said on Monday it had\nsigned a deal.\n\nShares rose."
    assert clean_text(text, classify(text, rules=rules)) == expected
    assert clean_text("One line only.", classify("One line only.", rules=rules)) == "One line only."


# ---------------------------------------------------------------- the feed summary and normalize


def test_summary_field_is_scored_and_gets_its_own_spans(rules: Rules) -> None:
    body = "China has solidified its position as a global leader in advanced battery technologies."
    result = classify(body, summary=SEED_002_SUMMARY, rules=rules)
    boiler = [r for r in result.reasons if r.rule == "network_boilerplate"]
    assert [(r.field, SEED_002_SUMMARY[r.start:r.end]) for r in boiler] == [("summary", boiler[0].match)]
    assert result.boilerplate == ()
    assert clean_text(SEED_002_SUMMARY, result, field="summary").endswith("striving to catch up.")
    assert clean_text(body, result) == body


def test_same_text_in_summary_and_body_counts_once(rules: Rules) -> None:
    text = "Foo Corp. (OTCQB: FOOC) is advancing its project in Nevada, the company said on Monday."
    result = classify(text, summary=text, title="Foo Corp. (OTCQB: FOOC) advances", rules=rules)
    assert [r.rule for r in result.reasons] == ["microcap_venue", "stock_ticker"]


def _texts_and_pieces() -> list[str]:
    texts = [it["text"] for split in ("dev", "heldout") for it in fixture_items(split)] + [SEED_002_SUMMARY]
    pieces = [p for text in texts for p in text.split("\n\n")]
    return texts + pieces + [" ".join(text.split())[:300] for text in texts] + [""]


def test_without_boilerplate_is_clean_text_of_classify(rules: Rules) -> None:
    texts = _texts_and_pieces()
    cut = [t for t in texts if without_boilerplate(t, rules) != t]
    assert len(cut) > 20  # the fixtures have spans of marked rules and tails
    for text in texts:
        assert without_boilerplate(text, rules) == clean_text(text, classify(text, rules=rules)), text


def test_without_boilerplate_follows_marks_on_ticker_and_section_rules(tmp_path: Path) -> None:
    ticker = 'max_hits = 2\nkind = "ticker"\n'
    marked = load_rules(copy_rules(tmp_path, ticker, ticker + 'mark = "sentence"\n'))
    (tmp_path / "promo_rules.toml").write_text(
        (tmp_path / "promo_rules.toml").read_text().replace('kind = "section"\nsection = "about"\n',
                                                             'kind = "section"\nsection = "about"\nmark = "match"\n'))
    both = load_rules(tmp_path / "promo_rules.toml")
    text = "Foo Corp. (OTCQB: FOOC) is advancing its project in Nevada. It said so.\n\nAbout Foo\nFoo mines."
    assert without_boilerplate(text, load_rules()) == "Foo Corp. (OTCQB: FOOC) is advancing its project in Nevada. It said so."
    assert without_boilerplate(text, marked) == "It said so."  # the ticker's sentence is a span
    for rules in (marked, both):
        for t in _texts_and_pieces() + [text]:
            assert without_boilerplate(t, rules) == clean_text(t, classify(t, rules=rules)), t


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=120).map("".join))
def test_without_boilerplate_on_arbitrary_text(text: str) -> None:
    rules = load_rules()
    assert without_boilerplate(text, rules) == clean_text(text, classify(text, rules=rules))


def test_normalize_builds_summary_and_description_from_clean_text(rules: Rules) -> None:
    from datetime import datetime, timezone

    from ingest.model import Extraction, FeedEntry
    from ingest.normalize import normalize

    seed_description = ("China takes the lead in battery technology race with QuantumScape Corp. "
                        "BillionDollarClub offers a platform for companies to enhance their visibility "
                        "and reach investors.")
    entry = FeedEntry(guid="g", link="https://rss.investorbrandnetwork.com/bdc/china/", title="China leads",
                      summary_html=f"<p>{SEED_002_SUMMARY}</p>")
    page = Extraction(text="China has solidified its position as a global leader in batteries.\n\n" + IBN_ITEM,
                      body_html="<p>x</p>", method="trafilatura", description=seed_description)
    seen = datetime(2025, 5, 15, tzinfo=timezone.utc)
    item = normalize(entry, page, source_name="InvestorBrandNetwork (IBN)", seen_at=seen,
                     feed_body=Extraction(), rules=rules)
    assert item.summary.endswith("striving to catch up.")
    assert item.description == "China takes the lead in battery technology race with QuantumScape Corp."
    assert item.promo is not None and item.promo.label == "promotional"
    assert item.body_text == page.text  # stored whole; the spans say what is boilerplate
    plain = normalize(entry, page, source_name="S", seen_at=seen, feed_body=Extraction())
    assert plain.promo is None and "BillionDollarClub provides" in plain.summary


# ---------------------------------------------------------------- fast matchers find what their regexes find


def test_unfoldable_lists_the_characters_that_ignorecase_matches_to_ascii_word_characters() -> None:
    """The word-set and start-position shortcuts read the text as lowercase ASCII words; they hold
    when no other character matches an ASCII word character under re.IGNORECASE, none lowers to
    ASCII or changes length when lowered, and whitespace is never a word character."""
    from ingest.promo import _UNFOLDABLE

    ascii_word = re.compile(r"[a-z0-9_]", re.IGNORECASE)
    ascii_other = re.compile("[" + re.escape("".join(chr(c) for c in range(128) if not re.match(r"\w", chr(c))))
                             + "]", re.IGNORECASE)
    odd = set()
    for c in map(chr, range(0x110000)):
        if 0xD800 <= ord(c) <= 0xDFFF:
            continue
        if len(c.lower()) != 1 or re.match(r"\s", c) and re.match(r"\w", c):
            odd.add(c)
        if ord(c) >= 128 and (ascii_word.match(c) or ascii_other.match(c) or c.lower().isascii()):
            odd.add(c)
    assert odd <= set(_UNFOLDABLE)


RULE_WORDS = sorted(set(re.findall(r"[A-Za-z]{2,}", DEFAULT_RULES_PATH.read_text(encoding="utf-8"))))
FIXTURE_LINES = sorted({line for split in ("dev", "heldout") for item in fixture_items(split)
                        for line in item["text"].splitlines() if line.strip()})
PIECES = st.one_of(
    st.sampled_from(FIXTURE_LINES).flatmap(lambda line: st.tuples(st.integers(0, len(line)), st.integers(1, 300))
                                           .map(lambda cut: line[cut[0]:cut[0] + cut[1]])),
    st.sampled_from(RULE_WORDS + [" ", "\n", "\n\n", ". ", ":", "(", ")", "$", "-", "'", "\u2019", ">>", "/", "3",
                                  "\u017f", "\u212a", "\u00e9", "ABC"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join), st.integers(0, 300), st.none() | st.integers(0, 3000))
def test_matchers_find_what_their_regexes_find(rules: Rules, text: str, pos: int, stop: int | None) -> None:
    """finditer(scan, pos, stop) = regex.finditer(text, pos), but for matches starting at or after stop."""
    from ingest.promo import _Scan

    scan = _Scan(text)
    for matcher in [r.matcher for r in rules.rules if r.matcher] + [rules.section_matcher]:
        expected = [m.span() for m in matcher.regex.finditer(text, pos) if stop is None or m.start() < stop]
        assert [m.span() for m in matcher.finditer(scan, pos, stop) if stop is None or m.start() < stop] == expected


@pytest.mark.parametrize("patterns", [
    [r"(a)", r"(?:b\1)"],          # a backreference to another alternative's group: not split
    [r"x*", r"\bpaid\b"],          # empty matches
    [r"^", r"(?m:$)"],
    [r"^(?:paid)?", r"\bpaid\b"],  # empty matches where the starts are known (line starts)
    [r"^\s*[-*]\s+\S", r"^\d+\.\s+[A-Z]", r"(?x: \b shares? \s+ (?: rose | fell ) \s+ \d+ (?:\.\d+)? \s* % )"],
    [r"(?<=\$)\d[\d,]*(?:\.\d+)?\s*(?:million|billion)", r"\bq[1-4]\b", r"(?:paid)?$"],
    [r"(?<!\w)paid(?!\w)", r"(?:\bpaid\s+(?:promotion|advertising)\b)", r"(?i:PAID)"],
])
def test_matchers_with_backreferences_empty_matches_and_anchors(patterns: list[str]) -> None:
    from ingest.promo import _matcher, _Reader, _Scan

    matcher = _matcher(_Reader("test"), [f"(?:{p})" for p in patterns], "test", re.IGNORECASE | re.MULTILINE)
    for text in ["", "paid", "ab\nbab\n", "Paid promotion, PAID advertising; unpaid.\n\nxx paid", "x\n\nx",
                 "- one\n2. Two\nShares rose 4.5 % in Q3 on $1,200 million.\n* paid\n"]:
        assert [m.span() for m in matcher.finditer(_Scan(text))] == [m.span() for m in matcher.regex.finditer(text)]


def test_loading_rules_leaves_the_regex_analysis_to_first_use(tmp_path: Path) -> None:
    # a process that loads the rules but classifies nothing (backfill's and the service's, whose workers
    # classify) does not pay for it (_Matcher._split); the first classify does, once, with the same result
    from ingest import promo

    pattern = "zyxwvut quarterly widget (?:rebate|voucher) offer"  # in no other rules file of these tests
    path = tmp_path / "promo_rules.toml"
    path.write_text(DEFAULT_RULES_PATH.read_text(encoding="utf-8") + '\n[[rules]]\nname = "lazy_probe"\n'
                    f'score = "promo"\nweight = 1.0\nkind = "text"\nwhere = ["body"]\npatterns = ["{pattern}"]\n',
                    encoding="utf-8")
    before = promo._analyse.cache_info().misses
    lazy = load_rules(path)
    assert promo._analyse.cache_info().misses == before
    text = LEAD + "Members get the Zyxwvut quarterly widget voucher offer today."
    result = classify(text, rules=lazy)
    assert promo._analyse.cache_info().misses > before
    assert [r.match for r in result.reasons if r.rule == "lazy_probe"] == ["Zyxwvut quarterly widget voucher offer"]
    assert classify(text, rules=promo.prepare(load_rules(path))) == result


def test_the_workers_forkserver_analyses_the_default_rules_before_it_forks_them() -> None:
    # ingest.preload, which the forkserver imports (ingest.workers.WORKER_MODULES), leaves every alternative
    # of the default rules analysed in _analyse's cache, which the workers it forks inherit
    import subprocess
    import sys

    script = ("import ingest.preload\nfrom ingest import promo\n"
              "rules = promo.load_rules(None)\nbefore = promo._analyse.cache_info().misses\n"
              "promo.prepare(rules)\nprint(before, promo._analyse.cache_info().misses)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=120).stdout.split()
    assert int(out[0]) > 50 and out[0] == out[1]  # analysed by the preload; nothing left to analyse


def test_a_rules_file_of_the_users_own_reaches_the_workers_analysed(tmp_path: Path) -> None:
    # App.promo_rules analyses a custom file in the process that starts the workers: the pickled copy each
    # worker gets carries the analysis (the forkserver only analyses the default file). The default file is
    # left to first use there: that process never classifies in a backfill or the service
    import pickle

    from ingest.cli import App
    from ingest.settings import load_settings

    custom = copy_rules(tmp_path, "promotional_threshold = 5.0", "promotional_threshold = 4.5")
    mine = tmp_path / "mine.toml"
    mine.write_text(f'[promo]\nrules = "{custom}"\n', encoding="utf-8")
    default = tmp_path / "default.toml"
    default.write_text("", encoding="utf-8")

    def analysed(rules: Rules) -> list[bool]:
        return [("_split" in rule.matcher.__dict__) for rule in rules.rules if rule.matcher is not None]

    copy = pickle.loads(pickle.dumps(App(load_settings(mine)).promo_rules))
    assert copy.promotional_threshold == 4.5 and analysed(copy) and all(analysed(copy))
    assert not any(analysed(App(load_settings(default)).promo_rules))
