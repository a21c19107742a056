"""Clusters in the store, on SQLite and PostgreSQL: copies join one cluster, different releases stay apart,
the canonical copy, the explanation, race safety, and the migration of existing items."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import case, column, event, func, insert, select, table, text, update
from sqlalchemy.exc import DBAPIError

from conftest import ROOT
from fixtures.dedup.hard_cases import (
    CAPTION, HIGHLIGHTS, INTRO, JA, OWN_SHARES, RUSSELL_COMPANIES, ZH, ZH_OTHER, ja_partner, nav_note, own_shares,
    russell, zh_partner,
)
from fixtures.dedup.make_pairs import (
    BASE, Copy, load_releases, long_date, render_company, render_newsroom, render_partner, render_prn,
)
from ingest.dedup import Deduplicator
from ingest.model import EntryKeys, FeedEntry, Item, ItemQuery
from ingest.pipeline import deduplicator
from ingest.settings import DedupSettings, load_settings
from store import db, queries, repository
from store import tables as t

NOW = datetime(2025, 5, 15, 16, 0, tzinfo=timezone.utc)
RELEASES = load_releases(BASE)
JUDGE = Deduplicator(wire_domains=frozenset({"prnewswire.com"}))


def _item(copy, guid: str, date: datetime = NOW, judge: Deduplicator = JUDGE) -> Item:
    entry = FeedEntry(guid=guid, link=copy.url, title=copy.title)
    item = Item(keys=EntryKeys(guid, copy.url), entry=entry, title=copy.title, date=date, draft=False,
                summary="s", description="d", source_link=copy.url, enclosure="", slug=f"{date:%Y-%m-%d}-{guid}",
                source=copy.source, body_html="", body_text=copy.text, method="trafilatura")
    return replace(item, fingerprint=judge.fingerprint(item))


def _source(sessions, url: str) -> int:
    with sessions.begin() as s:
        return repository.add_source(s, url, url, NOW)[0].id


def _save(sessions, source_id: int, *items: Item, judge=JUDGE):
    with sessions.begin() as s:
        return repository.save_items(s, source_id, list(items), now=NOW, qrcode_prefix="q/", judge=judge)


def test_same_release_via_two_sources_is_one_cluster_with_two_copies(sessions):
    rel = RELEASES["vltx-nevada-plant"]
    wire, partner = _source(sessions, "https://wire/feed"), _source(sessions, "https://partner/feed")
    partner_copy = render_partner(rel, rel.paragraphs, 2, render_prn)
    # the partner's copy is polled first, and dated a day later: the wire copy still becomes canonical
    first = _save(sessions, partner, _item(partner_copy, "p1", NOW + timedelta(days=1)))
    second = _save(sessions, wire, _item(render_prn(rel, rel.paragraphs, 1), "w1"))
    assert (first.new, first.copies, second.new, second.copies) == (1, 0, 1, 1)
    with sessions.begin() as s:
        stories = repository.list_items(s)
        every = repository.list_items(s, all_copies=True)
        copies = repository.list_copies(s, stories[0].cluster_id)
    assert len(stories) == 1 and stories[0].copies == 2 and stories[0].source == "https://wire/feed"
    assert len(every) == 2 and {i.cluster_id for i in every} == {stories[0].cluster_id}
    assert [c.canonical for c in copies] == [True, False]
    wire_item = next(i for i in every if i.source == "https://wire/feed")
    assert wire_item.match is not None and wire_item.match.matched_id == first.saved[0][0]
    assert wire_item.match.method in ("jaccard", "containment") and wire_item.match.similarity >= 0.7


def test_same_text_under_another_guid_is_an_exact_copy(sessions):
    rel = RELEASES["mrdb-phase2"]
    sid = _source(sessions, "https://wire/feed")
    copy = render_prn(rel, rel.paragraphs, 1)
    _save(sessions, sid, _item(copy, "g1"))
    moved = replace(copy, url=copy.url.replace("300000001", "300000999"))
    _save(sessions, sid, _item(moved, "g2"))
    with sessions.begin() as s:
        every = repository.list_items(s, all_copies=True)
    assert len(every) == 2 and len({i.cluster_id for i in every}) == 1
    assert {(i.match.method, i.match.similarity) for i in every if i.match} == {("content_hash", 1.0)}


def test_releases_sharing_only_the_about_block_stay_apart(sessions):
    sid = _source(sessions, "https://newsroom/feed")
    for n, rid in enumerate(["vltx-nevada-plant", "vltx-utility-deal", "vltx-q4-results"]):
        rel = RELEASES[rid]  # the newsroom keeps About, forward-looking statements and contacts unstripped
        _save(sessions, sid, _item(render_newsroom(rel, rel.paragraphs, n), rid))
    with sessions.begin() as s:
        stories = repository.list_items(s)
    assert len(stories) == 3 and all(i.copies == 1 and i.match is None for i in stories)


def test_a_wire_copy_first_stored_without_text_stays_canonical_once_its_page_is_fetched(sessions):
    # a title-only feed entry whose page failed has no text (no fingerprint); the retry gives it its keys
    rel = RELEASES["vltx-nevada-plant"]
    wire, partner = _source(sessions, "https://wire/feed"), _source(sessions, "https://partner/feed")
    page = _item(render_prn(rel, rel.paragraphs, 1), "w1")
    no_text = replace(page, body_text="", fingerprint=None, failure="HTTP 503", retryable=True)
    article_id = _save(sessions, wire, no_text).saved[0][0]
    with sessions.begin() as s:
        repository.update_page(s, article_id, page, now=NOW + timedelta(hours=1))
    earlier = _item(render_partner(rel, rel.paragraphs, 2, render_prn), "p1", NOW - timedelta(hours=2))
    assert _save(sessions, partner, earlier).copies == 1
    assert list(_stories(sessions).values()) == [[page.source_link, earlier.source_link]]


def test_short_texts_are_matched_by_title_and_date(sessions):
    rel = RELEASES["crm-short-grant"]
    a, b = _source(sessions, "https://a/feed"), _source(sessions, "https://b/feed")
    company = render_newsroom(rel, rel.paragraphs, 1)
    short = replace(company, text=rel.paragraphs[0])
    other = RELEASES["ngb-short-branch"]
    same_day_other = replace(short, url=short.url + "-2", title=other.title, text=other.paragraphs[0])
    _save(sessions, a, _item(short, "a1"), _item(same_day_other, "a2"))
    partner = replace(short, url="https://partner.example/x", text="Posted by staff.\n" + short.text)
    _save(sessions, b, _item(partner, "b1", NOW + timedelta(days=1)))
    too_late = replace(short, url="https://partner.example/y")
    _save(sessions, b, _item(too_late, "b2", NOW + timedelta(days=4)))
    with sessions.begin() as s:
        every = {i.article_id: i for i in repository.list_items(s, all_copies=True)}
    assert len(every) == 4
    assert every[3].cluster_id == every[1].cluster_id and every[3].match.method == "title_date"
    assert every[2].cluster_id != every[1].cluster_id  # same day, other title
    assert every[4].cluster_id not in (every[1].cluster_id, every[2].cluster_id)  # same title, 3+ days after both


def _stories(sessions) -> dict[int, list[str]]:
    """cluster id -> the urls of its copies, canonical first"""
    with sessions.begin() as s:
        return {story.cluster_id: [c.source_link for c in repository.list_copies(s, story.cluster_id)]
                for story in repository.list_items(s)}


def test_two_companies_short_texts_under_one_generic_title_are_two_stories(sessions):
    a, b = _source(sessions, "https://acme/feed"), _source(sessions, "https://globex/feed")
    acme = Copy("https://acme.example/q1", "Quarterly Report",
                "Acme Corp. has published its quarterly report for the first quarter of 2025 on its website.", "", "")
    globex = Copy("https://globex.example/q1", "Quarterly Report", "Globex Inc. reported revenue of $12 million and "
                  "a net loss of $3 million for the quarter ended March 31.", "", "")
    _save(sessions, a, _item(acme, "a1"))
    assert _save(sessions, b, _item(globex, "g1", NOW + timedelta(hours=1))).copies == 0
    assert sorted(_stories(sessions).values()) == [[acme.url], [globex.url]]


def test_one_announcement_by_several_companies_is_one_story_each(sessions):
    wire, partner = _source(sessions, "https://wire/feed"), _source(sessions, "https://partner/feed")
    for n, company in enumerate(RUSSELL_COMPANIES):
        title, body = russell(*company)
        _save(sessions, wire, _item(Copy(f"https://www.globenewswire.com/{n}", title, body, "GNW", ""), f"w{n}"))
    title, body = russell(*RUSSELL_COMPANIES[2])
    copy = Copy("https://partner.example/russell", title, "By Staff\n" + body, "Partner", "")
    assert _save(sessions, partner, _item(copy, "p", NOW + timedelta(days=1))).copies == 1
    stories = _stories(sessions)
    assert len(stories) == len(RUSSELL_COMPANIES)
    assert ["https://www.globenewswire.com/2", "https://partner.example/russell"] in stories.values()


def test_a_companys_notices_of_consecutive_days_are_one_story_each(sessions):
    sid = _source(sessions, "https://wire/feed")
    for n, args in enumerate(OWN_SHARES):
        notice = Copy(f"https://www.globenewswire.com/own/{n}", "Transaction in Own Shares", own_shares(*args),
                      "GNW", "")
        _save(sessions, sid, _item(notice, f"own{n}", NOW + timedelta(days=n)))
    for n, nav in enumerate(["312.45", "309.80", "315.02"]):  # short texts: title and date
        note = Copy(f"https://www.globenewswire.com/nav/{n}", "Net Asset Value(s)", nav_note(12 + n, nav), "GNW", "")
        _save(sessions, sid, _item(note, f"nav{n}", NOW + timedelta(days=n)))
    assert sorted(map(len, _stories(sessions).values())) == [1] * 6


def test_a_copy_with_words_before_the_wire_dateline_joins_the_wire_copys_story(sessions):
    wire, partner = _source(sessions, "https://wire/feed"), _source(sessions, "https://partner/feed")
    for n, (rid, prefix) in enumerate([("vltx-utility-deal", INTRO), ("helixa-launch", HIGHLIGHTS + CAPTION)]):
        rel = RELEASES[rid]
        wire_copy = render_prn(rel, rel.paragraphs, 1)
        prefixed = replace(wire_copy, url=f"https://partner.example/{rid}", text=prefix + wire_copy.text)
        first, second = (wire_copy, prefixed) if n else (prefixed, wire_copy)  # either one stored first
        _save(sessions, partner if first is prefixed else wire, _item(first, f"{rid}-1", NOW + timedelta(hours=2)))
        assert _save(sessions, wire if first is prefixed else partner, _item(second, f"{rid}-2")).copies == 1
    stories = _stories(sessions)
    assert len(stories) == 2 and all(len(urls) == 2 and "prnewswire.com" in urls[0] for urls in stories.values())


def test_chinese_and_japanese_copies_are_one_story_each(sessions):
    wire, partner = _source(sessions, "https://wire/feed"), _source(sessions, "https://partner/feed")
    for n, body in enumerate([ZH, JA, ZH_OTHER]):
        _save(sessions, wire, _item(Copy(f"https://www.prnasia.com/{n}", "北风机器人签署协议", body, "PRN Asia", ""), f"w{n}"))
    for n, body in enumerate([zh_partner(ZH), ja_partner(JA)]):  # other titles
        copy = Copy(f"https://finance.example.cn/{n}", f"北风机器人大单 {n}", body, "Portal", "")
        assert _save(sessions, partner, _item(copy, f"p{n}", NOW + timedelta(hours=3))).copies == 1
    stories = _stories(sessions)
    assert sorted(stories.values()) == [["https://www.prnasia.com/0", "https://finance.example.cn/0"],
                                        ["https://www.prnasia.com/1", "https://finance.example.cn/1"],
                                        ["https://www.prnasia.com/2"]]


class RecordingJudge:
    """The real judge, recording the candidates it is given."""

    def __init__(self, judge: Deduplicator):
        self.judge, self.seen = judge, []
        self.title_window, self.near_window = judge.title_window, judge.near_window
        self.min_shingles, self.max_candidates = judge.min_shingles, judge.max_candidates

    def facts_may_agree(self, item, texts):
        return self.judge.facts_may_agree(item, texts)

    def decide(self, item, candidates):
        self.seen.append(sorted(c.id for c in candidates))
        return self.judge.decide(item, candidates)


def test_candidates_dated_outside_the_windows_are_not_read(sessions):
    # a template's releases of other months share band keys: their texts are not even read
    rel = RELEASES["ngb-dividend-q1"]
    sid, judge = _source(sessions, "https://wire/feed"), RecordingJudge(JUDGE)
    copy = render_prn(rel, rel.paragraphs, 1)
    _save(sessions, sid, _item(copy, "a", NOW - timedelta(days=90)), judge=judge)
    _save(sessions, sid, _item(render_partner(rel, rel.paragraphs, 2, render_prn), "b", NOW), judge=judge)
    _save(sessions, sid, _item(render_partner(rel, rel.paragraphs, 3, render_prn), "c", NOW + timedelta(days=3)),
          judge=judge)
    assert judge.seen == [[], [2]]  # the first save looks nothing up: no stored item shares a key
    assert sorted(map(len, _stories(sessions).values())) == [1, 2]


def test_a_copy_finds_its_original_after_many_later_look_alikes_were_stored(sessions):
    """Regression: the band-key scans kept the newest max_candidates items by id, then dropped those dated
    outside the window. A copy stored after more than that many look-alikes dated later (a company's daily
    notices share band keys; a newest-first backfill, an import of older items) was given only those, and
    its original, dated a day away, was never read."""
    sid = _source(sessions, "https://wire/feed")
    original = Copy("https://www.globenewswire.com/own/0", "Transaction in Own Shares", own_shares(*OWN_SHARES[0]),
                    "GNW", "")
    _save(sessions, sid, _item(original, "own0"))
    later = [Copy(f"https://www.globenewswire.com/own/{n}", "Transaction in Own Shares",
                  own_shares(str(12 + n), f"{100 + n},000", f"4{n:02d}.50", "405.00", f"4{n:02d}.12",
                             f"98,{n:03d},331", f"1,{n:03d},669"), "GNW", "") for n in range(1, 66)]
    _save(sessions, sid, *(_item(notice, f"own{n}", NOW + timedelta(days=n)) for n, notice in enumerate(later, 1)))
    copy = replace(original, url="https://partner.example/own", text="Posted by staff.\n" + original.text)
    item = _item(copy, "p", NOW + timedelta(days=1))
    with sessions.begin() as s:  # look-alikes dated past its window (ids 6.., days 5..) outnumber the bound
        sharing = s.scalar(select(func.count(t.ItemBand.item_id.distinct())).where(
            t.ItemBand.band_key.in_(item.fingerprint.band_keys), t.ItemBand.item_id > 5))
    assert sharing > JUDGE.max_candidates
    assert _save(sessions, sid, item).copies == 1
    with sessions.begin() as s:
        assert repository.get_item(s, 67).match.matched_id == 1


def _trust_nav(name: str, day: int, nav: str) -> str:
    """A trust's daily net asset value note: a short text under the generic title "Net Asset Value(s)"."""
    return (f"The unaudited net asset value per ordinary share of {name} Trust plc as at close of business on "
            f"{day} May 2025 was {nav} pence (cum income).")


def test_a_short_copy_finds_its_original_after_many_later_notes_under_its_title(sessions):
    """Regression: the title lookup kept the newest max_candidates items by id within its window (the judge's
    and a day), so a copy stored after more than that many notes under its title dated later (a newest-first
    backfill, an import of older items) was given only those, outside the judge's calendar days, and its
    original, an hour away, was never read."""
    later = NOW.replace(hour=1) + timedelta(days=3)  # 3 calendar days after the original, 57 hours after the copy
    assert _matched_among_notes(sessions, nav_day=18, dated=lambda n: later + timedelta(minutes=n)) == 1


def test_a_short_copy_finds_its_original_among_many_notes_under_its_title_of_the_same_hour(sessions):
    """Regression: more than max_candidates trusts' notes of one hour under one title are all as near to a copy
    as its original; the nearest max_candidates were those stored last, and the original was never read."""
    assert _matched_among_notes(sessions, nav_day=15, dated=lambda n: NOW) == 1


def _matched_among_notes(sessions, nav_day: int, dated) -> int | None:
    """Store a trust's "Net Asset Value(s)" note (item 1), then max_candidates + 5 other trusts' notes of
    `nav_day` under the same title, stored at `dated(n)`, then a partner's copy of the first an hour after it:
    the id of the item the copy was matched to."""
    sid = _source(sessions, "https://wire/feed")
    original = Copy("https://www.globenewswire.com/nav/0", "Net Asset Value(s)", _trust_nav("Greyfriars", 15, "312.45"),
                    "GNW", "")
    _save(sessions, sid, _item(original, "nav0"))
    _save(sessions, sid, *(_item(Copy(f"https://www.globenewswire.com/nav/{n}", "Net Asset Value(s)",
                                      _trust_nav(f"Trust{n:02d}", nav_day, f"{200 + n}.10"), "GNW", ""), f"nav{n}",
                                 dated(n)) for n in range(1, JUDGE.max_candidates + 6)))
    copy = replace(original, url="https://partner.example/nav", text="Posted by staff.\n" + original.text)
    saved = _save(sessions, sid, _item(copy, "p", NOW + timedelta(hours=1)))
    assert saved.copies == 1
    with sessions.begin() as s:
        return repository.get_item(s, saved.saved[0][0]).match.matched_id


def test_the_title_lookup_reads_only_the_window_of_a_title(sessions):
    # the (title_key, date) index bounds the scan by date too: with title_key alone, every item of the
    # title (a daily note's whole history) was read and filtered by date
    sid = _source(sessions, "https://wire/feed")
    with sessions.begin() as s:
        conn = s.connection()
        item = _item(Copy("https://x/nav", "Net Asset Value(s)", _trust_nav("Greyfriars", 15, "312.45"), "GNW", ""),
                     "n")
        params = {"title_key": item.fingerprint.title_key, "date": NOW, "earliest": NOW - timedelta(days=3),
                  "latest": NOW + timedelta(days=3), "limit": 50}
        compiled = repository._compiled(conn.dialect, repository._title_query(short=True), tuple(params))
        cursor = conn.connection.dbapi_connection.cursor()
        if conn.dialect.name == "postgresql":  # an empty table: the plan the planner would choose at size
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + compiled.sql, compiled.bind(params))
            plan = "\n".join(row[0] for row in cursor.fetchall())
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + compiled.sql, compiled.bind(params))
            plan = "\n".join(row[-1] for row in cursor.fetchall())
    scans = [line for line in plan.splitlines() if "ix_items_title_key_date" in line or "Index Cond" in line]
    assert plan.count("ix_items_title_key_date") == 2, plan  # both scans, from the date backward and forward
    assert all("date" in line for line in scans if "Index Cond" in line or "SEARCH" in line), plan
    assert _save(sessions, sid, item).new == 1


def test_the_windows_count_calendar_days_in_the_store_as_in_the_judge(sessions):
    rel = RELEASES["aurelis-phase2"]
    sid = _source(sessions, "https://a/feed")
    _save(sessions, sid, _item(render_prn(rel, rel.paragraphs, 1), "w", NOW))  # 16:00
    later = NOW.replace(hour=23) + timedelta(days=3)  # 3 calendar days, 3 days and 7 hours
    assert _save(sessions, sid, _item(render_partner(rel, rel.paragraphs, 2, render_prn), "p", later)).copies == 1


def test_the_title_window_counts_calendar_days_in_the_store_as_in_the_judge(sessions):
    # short texts: 00:30 and 23:30 two days later are 2 calendar days apart (title_window_days), 71 hours
    rel = RELEASES["crm-short-grant"]
    a, b = _source(sessions, "https://a/feed"), _source(sessions, "https://b/feed")
    short = replace(render_newsroom(rel, rel.paragraphs, 1), text=rel.paragraphs[0])
    early = NOW.replace(hour=0, minute=30)
    _save(sessions, a, _item(short, "a1", early))
    partner = replace(short, url="https://partner.example/x", text="Posted by staff.\n" + short.text)
    too_late = replace(partner, url="https://partner.example/y")  # 3 calendar days, 72 hours and a minute
    assert _save(sessions, b, _item(too_late, "b1", early + timedelta(days=3, minutes=1))).copies == 0
    assert _save(sessions, b, _item(partner, "b2", early + timedelta(days=2, hours=23))).copies == 1
    with sessions.begin() as s:
        assert repository.get_item(s, 3).match.matched_id == 1  # a1 (b1, a day from it, is found either way)


def test_how_far_apart_near_copies_may_be_dated_is_a_setting(sessions):
    rel = RELEASES["lumen-sc-plant"]
    sid = _source(sessions, "https://a/feed")
    wire, partner = render_prn(rel, rel.paragraphs, 1), render_partner(rel, rel.paragraphs, 2, render_prn)
    for n, judge in enumerate([deduplicator(DedupSettings()), deduplicator(DedupSettings(near_window_days=10))]):
        _save(sessions, sid, _item(replace(wire, url=f"{wire.url}?n={n}"), f"w{n}", NOW, judge), judge=judge)
        later = _item(replace(partner, url=f"{partner.url}?n={n}"), f"p{n}", NOW + timedelta(days=6), judge)
        assert _save(sessions, sid, later, judge=judge).copies == n  # 6 days: too far by default, not with 10


def test_a_copy_from_access_newswire_is_a_wire_copy(sessions):
    rel = RELEASES["helixa-launch"]
    judge = deduplicator(DedupSettings())  # the default [dedup] wire_domains
    partner, wire = _source(sessions, "https://partner/feed"), _source(sessions, "https://access/feed")
    company = render_company(rel, rel.paragraphs, 1)
    _save(sessions, partner, _item(company, "c", NOW, judge), judge=judge)
    body = f"AUSTIN, TX / ACCESS Newswire / {long_date(rel.date)} / " + "\n".join(rel.paragraphs)
    access = Copy("https://www.accessnewswire.com/newsroom/en/computers/helixa-1001", rel.title, body, "ACCESS", "")
    assert _save(sessions, wire, _item(access, "w", NOW + timedelta(hours=1), judge), judge=judge).copies == 1
    assert list(_stories(sessions).values()) == [[access.url, company.url]]  # the wire's copy is canonical
    assert load_settings(ROOT / "config" / "presswire.example.toml", environ={}).dedup == DedupSettings()


def test_without_a_judge_every_item_is_its_own_story(sessions):
    rel = RELEASES["helixa-launch"]
    sid = _source(sessions, "https://a/feed")
    copy = render_prn(rel, rel.paragraphs, 1)
    _save(sessions, sid, _item(copy, "g1"), _item(replace(copy, url=copy.url + "x"), "g2"), judge=None)
    with sessions.begin() as s:
        assert len(repository.list_items(s)) == 2


def test_band_candidates_are_the_items_sharing_any_key_dated_nearest(sessions):
    # the per-key scans merged in Python give what one query over every item sharing a key gives: by distance
    # in days, the earlier day first; on one day, newest first up to the probe's day, oldest first after it
    rel = RELEASES["helixa-launch"]
    sid = _source(sessions, "https://a/feed")
    base = _item(render_prn(rel, rel.paragraphs, 1), "g")
    rng = random.Random(5)
    shared = [7, 8, 9, 10, 11, -(2**63), 2**63 - 1]  # key 7 is on most items: more than a limit's worth
    items = []
    for n in range(40):  # dated at random: stored (id) order is not date order, as in a backfill
        keys = ([7] if n % 5 else []) + rng.sample(shared[1:], 2) + [1000 + 20 * n + i for i in range(17)]
        items.append(replace(base, keys=EntryKeys(f"g{n}", f"{base.keys.link}?n={n}"), slug=f"s-{n}",
                             date=NOW + timedelta(days=rng.randint(-6, 6), hours=rng.randint(-8, 7)),
                             fingerprint=replace(base.fingerprint, band_keys=tuple(keys))))
    _save(sessions, sid, *items, judge=None)
    band = t.ItemBand
    with sessions.begin() as s:
        for probe, limit in (([7], 10), ([7, 8, 9], 50), ([8, -(2**63), 2**63 - 1, 5], 3), ([1000 + 20 * 3, 8], 50),
                             ([123456], 50), ([7] * 20, 5), ([7, 10], 12)):
            for day in (repository._day(NOW) + d for d in (-9, -2, 0, 1, 5)):
                after = band.item_day > day
                expected = s.scalars(select(band.item_id).where(band.band_key.in_(probe))
                                     .group_by(band.item_id, band.item_day)
                                     .order_by(func.abs(band.item_day - day), after,
                                               case((after, band.item_id), else_=-band.item_id)).limit(limit)).all()
                assert repository._band_candidates(s, probe, day, limit) == expected


def test_a_new_story_costs_no_content_hash_probe(sessions):
    # an exact copy shares every band key, so without a shared key there is none to look for
    statements = []
    engine = sessions.kw["bind"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        rel = RELEASES["mrdb-phase2"]
        sid = _source(sessions, "https://wire/feed")
        copy = render_prn(rel, rel.paragraphs, 1)
        _save(sessions, sid, _item(copy, "g1"))
        new_story = [q for q in statements if q.startswith("SELECT") and "items.content_hash =" in q]
        _save(sessions, sid, _item(replace(copy, url=copy.url + "-moved"), "g2"))
        exact_copy = [q for q in statements if q.startswith("SELECT") and "items.content_hash =" in q]
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert new_story == [] and len(exact_copy) == 1
    with sessions.begin() as s:
        assert {(i.match.method if i.match else None) for i in repository.list_items(s, all_copies=True)} == {
            None, "content_hash"}


class SlowJudge:
    """The real judge, made slow: widens the window between lookup and commit for the race test."""

    def __init__(self, judge: Deduplicator, delay: float):
        self.judge, self.delay = judge, delay
        self.title_window, self.near_window = judge.title_window, judge.near_window
        self.min_shingles = judge.min_shingles
        self.max_candidates = judge.max_candidates

    def facts_may_agree(self, item, texts):
        return self.judge.facts_may_agree(item, texts)

    def decide(self, item, candidates):
        import time
        time.sleep(self.delay)
        return self.judge.decide(item, candidates)


def test_a_worker_frozen_in_its_save_stops_the_other_workers_saves_only_for_a_while(postgres, monkeypatch):
    """The dedup lock serializes every save; a worker that stops in the middle of one (SIGSTOP, a paused VM, a
    hung qrcode_dir) held it, and every other worker's save waited, for as long as the frozen one lived."""
    monkeypatch.setattr(repository, "DEDUP_IDLE_TIMEOUT", 1.0, raising=False)
    engine = db.make_engine(postgres.new_database())
    db.ensure_schema(engine)
    sessions = db.session_factory(engine)
    a, b = _source(sessions, "https://a/feed"), _source(sessions, "https://b/feed")
    first, second = (_item(render_prn(RELEASES[rid], RELEASES[rid].paragraphs, 1), rid)
                     for rid in ("aurelis-phase2", "ngb-cfo"))
    frozen = sessions()  # a poll's end (pipeline._finish), frozen where it writes its QR codes, before the commit
    frozen.begin()
    repository.save_items(frozen, a, [first], now=NOW, qrcode_prefix="q/", judge=JUDGE)
    repository.record_poll(frozen, a, now=NOW, next_poll_at=NOW + timedelta(hours=1), owner="frozen")
    saved: list = []
    other = threading.Thread(target=lambda: saved.append(_save(sessions, b, second)), daemon=True)
    other.start()
    other.join(30)
    assert saved and saved[0].new == 1, "the other worker's save still waits for the frozen one's lock"
    with pytest.raises(DBAPIError, match="idle-in-transaction"):  # the frozen worker's transaction was ended: its poll is done again
        frozen.commit()
    frozen.close()
    with sessions.begin() as s:
        assert [i.title for i in repository.list_items(s)] == [second.title]
    engine.dispose()


def test_two_workers_saving_copies_at_once_end_in_one_cluster(sessions):
    """Each worker saves a copy of the same release in its own transaction at the same moment. Without the
    dedup lock both would look up (finding nothing) before either commits, and make two clusters."""
    rel = RELEASES["aurelis-phase2"]
    a, b = _source(sessions, "https://a/feed"), _source(sessions, "https://b/feed")
    seed = _item(render_prn(RELEASES["ngb-cfo"], RELEASES["ngb-cfo"].paragraphs, 9), "seed")
    _save(sessions, a, seed)  # a first candidate to verify, so the slow judge is consulted
    copies = [_item(render_prn(rel, rel.paragraphs, 1), "x1"), _item(render_partner(rel, rel.paragraphs, 3, render_prn), "x2")]
    judge = SlowJudge(JUDGE, 0.5)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(source_id: int, item: Item) -> None:
        try:
            barrier.wait()
            with sessions.begin() as s:
                repository.save_items(s, source_id, [item], now=NOW, qrcode_prefix="q/", judge=judge)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(sid, item)) for sid, item in zip((a, b), copies)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    with sessions.begin() as s:
        clusters = s.execute(select(t.Item.cluster_id, func.count()).group_by(t.Item.cluster_id)).all()
    assert sorted(n for _, n in clusters) == [1, 2]


# the items table as revision 0001 made it (the ORM class already has the dedup columns)
ITEMS_0001 = table("items", *(column(name) for name in (
    "feed_entry_id", "source_id", "title", "draft", "summary", "description", "source_link", "enclosure", "url",
    "qrcode", "body_html", "body_text", "extraction_method", "page_attempts", "retry_page")),
    *(column(name, t.UTCDateTime()) for name in ("date", "created_at", "updated_at")))


def test_migration_puts_existing_items_in_clusters_of_their_own(db_url):
    engine = db.make_engine(db_url)
    db.upgrade(engine, "0001")
    with engine.begin() as conn:
        sid = conn.execute(insert(t.Source.__table__).values(url="u", name="n", status="active", created_at=NOW,
                                                             error_count=0).returning(t.Source.id)).scalar()
        for n in (1, 2):
            eid = conn.execute(insert(t.FeedEntry.__table__).values(
                source_id=sid, guid=f"g{n}", title="t", summary_html="", content_html="", author="",
                first_seen_at=NOW).returning(t.FeedEntry.id)).scalar()
            conn.execute(insert(ITEMS_0001).values(
                feed_entry_id=eid, source_id=sid, title="t", date=NOW, draft=False, summary="", description="",
                source_link="", enclosure="", url=f"u{n}", qrcode="", body_html="", body_text="",
                extraction_method="feed", page_attempts=1, retry_page=False, created_at=NOW, updated_at=NOW))
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        stories = repository.list_items(s)
        assert len(stories) == 2 and all(i.copies == 1 and i.canonical for i in stories)
    rel = RELEASES["helixa-launch"]  # new clusters get fresh ids after the backfilled ones
    _save(sessions, sid, _item(render_prn(rel, rel.paragraphs, 1), "g3"))
    with sessions.begin() as s:
        assert len(repository.list_items(s)) == 3
        # full-text search still follows inserts (SQLite: the batch rebuild drops the triggers, env.py restores them)
        found = queries.find_items(s, ItemQuery(search="Claims Reader"))
        assert [i.title for i in found] == [rel.title]
    db.downgrade(engine, "0005_backfill")
    with engine.begin() as conn:
        conn.execute(update(ITEMS_0001).where(ITEMS_0001.c.url == "u1").values(title="Quarterly widget news"))
    search = {"sqlite": "SELECT items.url FROM items_fts JOIN items ON items.id = items_fts.rowid "
                         "WHERE items_fts MATCH 'widget'",
              "postgresql": "SELECT url FROM items WHERE search_vector @@ plainto_tsquery('english', 'widget')"}
    with engine.connect() as conn:  # the ORM classes describe the head schema: plain SQL after the downgrade
        assert conn.execute(text(search[engine.dialect.name])).scalars().all() == ["u1"]
    engine.dispose()


def test_migration_gives_existing_band_keys_their_items_utc_day(db_url):
    # 0008 adds item_day to the rows stored before it, from items.date in SQL: the same days save_items gives
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    sid = _source(sessions, "https://wire/feed")
    dates = [NOW.replace(hour=23, minute=59), datetime(1969, 12, 31, 23, 0, tzinfo=timezone.utc),
             datetime(1000, 1, 1, 0, 30, tzinfo=timezone.utc), NOW + timedelta(days=3, hours=8)]
    for n, (rid, date) in enumerate(zip(["helixa-launch", "aurelis-phase2", "ngb-cfo", "mrdb-phase2"], dates)):
        rel = RELEASES[rid]
        _save(sessions, sid, _item(render_prn(rel, rel.paragraphs, 1), f"g{n}", date))
    rows = select(t.ItemBand.band_key, t.ItemBand.item_day, t.ItemBand.item_id).order_by(*t.ItemBand.__table__.c)
    with engine.connect() as conn:
        stored = conn.execute(rows).all()
    assert {(item_id, day) for _, day, item_id in stored} == {
        (n, repository._day(date)) for n, date in enumerate(dates, 1)} and len(stored) == 80
    db.downgrade(engine, "0007_schedule")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT band_key, item_id FROM item_bands ORDER BY 1, 2")).all() == sorted(
            (key, item_id) for key, _, item_id in stored)
    db.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(rows).all() == stored
    rel = RELEASES["aurelis-phase2"]  # and a copy finds the item through its migrated keys
    copy = render_partner(rel, rel.paragraphs, 2, render_prn)
    assert _save(sessions, sid, _item(copy, "p", dates[1] + timedelta(hours=5))).copies == 1
    engine.dispose()
