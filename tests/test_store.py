"""The store on SQLite and PostgreSQL: constraints enforce dedup, leases, migrations."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from ingest.errors import StoreError
from ingest.model import EntryKeys, FeedEntry, Item
from store import db, repository
from store.search import include_name
from store import tables as t

NOW = datetime(2025, 5, 15, 16, 0, tzinfo=timezone.utc)


def _item(guid: str | None, link: str | None, title: str = "A title", slug: str = "2025-05-15-a-title") -> Item:
    entry = FeedEntry(guid=guid, link=link, title=title, summary_html="<p>s</p>")
    return Item(keys=EntryKeys(guid, link), entry=entry, title=title, date=NOW, draft=False, summary="s",
                description="d", source_link=link or "", enclosure="", slug=slug, source="S", body_html="<p>b</p>",
                body_text="b", method="feed")


def _source(sessions, url="https://example.com/feed") -> int:
    with sessions.begin() as s:
        return repository.add_source(s, url, "S", NOW)[0].id


def test_same_guid_or_same_link_is_a_duplicate(sessions):
    sid = _source(sessions)
    with sessions.begin() as s:
        first = repository.save_items(s, sid, [_item("g1", "https://x/1")], now=NOW, qrcode_prefix="q/")
    with sessions.begin() as s:
        again = repository.save_items(s, sid, [
            _item("g1", "https://x/other"),  # same GUID, new link
            _item("g2", "https://x/1"),  # unstable GUID, same canonical link
            _item(None, "https://x/1"),  # no GUID, same link
            _item("g3", "https://x/3"),  # new
        ], now=NOW, qrcode_prefix="q/")
    assert (first.new, again.new, again.duplicate) == (1, 1, 3)
    with sessions.begin() as s:
        assert repository.count_items(s) == 2


def test_the_database_itself_refuses_a_duplicate_entry(sessions):
    """Not only the Python check: a raw INSERT of a known GUID violates a UNIQUE constraint."""
    sid = _source(sessions)
    row = dict(source_id=sid, guid="g1", link=None, title="t", summary_html="", content_html="", author="",
               first_seen_at=NOW)
    with sessions.begin() as s:
        s.execute(insert(t.FeedEntry).values(**row))
    with pytest.raises(IntegrityError):
        with sessions.begin() as s:
            s.execute(insert(t.FeedEntry).values(**row))


def test_same_entry_in_two_sources_is_kept_in_both(sessions):
    a, b = _source(sessions, "https://a/feed"), _source(sessions, "https://b/feed")
    with sessions.begin() as s:
        r1 = repository.save_items(s, a, [_item("g1", "https://x/1")], now=NOW, qrcode_prefix="q/")
        r2 = repository.save_items(s, b, [_item("g1", "https://x/1")], now=NOW, qrcode_prefix="q/")
    assert r1.new == r2.new == 1
    assert r1.saved[0][1] == "2025-05-15-a-title" and r2.saved[0][1] == "2025-05-15-a-title-2"


def test_a_source_added_by_two_workers_at_once_is_stored_once(sessions):
    """Workers starting together with the same [[sources]]: the second waits for the first's row, then
    returns it (created False) instead of failing on the UNIQUE constraint."""
    url, second = "https://race.example/feed", {}

    def add_too() -> None:
        with sessions.begin() as s:
            source, created = repository.add_source(s, url, "S", NOW)
            second.update(id=source.id, created=created)

    with sessions.begin() as s:
        first, created = repository.add_source(s, url, "S", NOW)
        racer = threading.Thread(target=add_too)
        racer.start()
        time.sleep(0.3)  # the racer is blocked on our uncommitted row (or SQLite's write lock)
    racer.join(30)
    assert created and second == {"id": first.id, "created": False}
    with sessions.begin() as s:
        assert [r.url for r in repository.list_sources(s)] == [url]


def test_known_keys_reports_guid_and_link_matches(sessions):
    sid = _source(sessions)
    with sessions.begin() as s:
        repository.save_items(s, sid, [_item("g1", "https://x/1")], now=NOW, qrcode_prefix="q/")
        keys = [EntryKeys("g1", None), EntryKeys("zz", "https://x/1"), EntryKeys("g9", "https://x/9")]
        assert repository.known_keys(s, sid, keys) == set(keys[:2])
        # a feed of 20,000 entries: more keys than SQLite takes parameters in one statement
        many = [EntryKeys(f"n{i}", f"https://x/n{i}") for i in range(20_000)] + keys
        assert repository.known_keys(s, sid, many) == set(keys[:2])


def test_claim_due_sources_leases_and_expiry(sessions):
    due = _source(sessions, "https://due/feed")
    later = _source(sessions, "https://later/feed")
    with sessions.begin() as s:
        repository.record_poll(s, later, now=NOW, next_poll_at=NOW + timedelta(hours=1))
    with sessions.begin() as s:
        claimed = repository.claim_due_sources(s, NOW, "w1", NOW + timedelta(minutes=10), 10)
    assert [c.id for c in claimed] == [due]
    with sessions.begin() as s:  # leased: a second worker gets nothing
        assert repository.claim_due_sources(s, NOW, "w2", NOW + timedelta(minutes=10), 10) == []
    with sessions.begin() as s:  # the lease expired (worker died): claimable again
        again = repository.claim_due_sources(s, NOW + timedelta(minutes=11), "w2", NOW + timedelta(minutes=21), 10)
    assert [c.id for c in again] == [due]
    with sessions.begin() as s:
        repository.record_poll(s, due, owner="w2", now=NOW, next_poll_at=NOW + timedelta(minutes=15),
                               error="HTTP 500")
        row = s.get(t.Source, due)
        assert (row.lease_owner, row.error_count, row.last_error) == (None, 1, "HTTP 500")


def test_a_worker_records_its_poll_and_renews_and_releases_only_its_own_lease(sessions):
    """A slow worker whose lease ran out (and whose source another worker then claimed) records its poll but
    leaves the other worker's lease alone; renewing and releasing are the lease owner's alone too."""
    sid = _source(sessions)
    with sessions.begin() as s:
        repository.claim_due_sources(s, NOW, "slow", NOW + timedelta(minutes=10), 1)
    with sessions.begin() as s:  # "slow" is still polling when its lease expires: "fast" claims the source
        assert [c.id for c in repository.claim_due_sources(s, NOW + timedelta(minutes=11), "fast",
                                                           NOW + timedelta(minutes=21), 1)] == [sid]
    with sessions.begin() as s:
        repository.renew_leases(s, "slow", [sid], NOW + timedelta(minutes=30))
        repository.record_poll(s, sid, owner="slow", now=NOW + timedelta(minutes=12),
                               next_poll_at=NOW + timedelta(minutes=13))
        repository.release_leases(s, "slow", [sid])
    with sessions.begin() as s:
        row = s.get(t.Source, sid)
        assert (row.lease_owner, row.lease_until) == ("fast", NOW + timedelta(minutes=21))
        assert (row.last_polled_at, row.next_poll_at) == (NOW + timedelta(minutes=12), NOW + timedelta(minutes=13))
        assert repository.claim_due_sources(s, NOW + timedelta(minutes=14), "third",
                                            NOW + timedelta(minutes=24), 1) == []  # due, but "fast" holds it
    with sessions.begin() as s:
        repository.renew_leases(s, "fast", [sid], NOW + timedelta(minutes=40))
        assert s.get(t.Source, sid).lease_until == NOW + timedelta(minutes=40)
    with sessions.begin() as s:
        repository.record_poll(s, sid, owner="fast", now=NOW + timedelta(minutes=13),
                               next_poll_at=NOW + timedelta(minutes=28))
        row = s.get(t.Source, sid)
        assert (row.lease_owner, row.lease_until) == (None, None)


def test_a_slow_workers_late_commit_does_not_overwrite_the_newer_poll_of_another(sessions):
    """Regression: "slow" claimed the source, stalled past its lease, and "fast" claimed, polled and recorded
    it. "slow"'s poll then timed out and committed last: its older record (an error, no ETag, its own next
    poll time, last_polled_at going back in time) replaced the newer one, and the source went into backoff."""
    sid = _source(sessions)
    with sessions.begin() as s:
        repository.claim_due_sources(s, NOW, "slow", NOW + timedelta(minutes=10), 1)
    with sessions.begin() as s:
        repository.claim_due_sources(s, NOW + timedelta(minutes=11), "fast", NOW + timedelta(minutes=21), 1)
        repository.record_poll(s, sid, owner="fast", now=NOW + timedelta(minutes=11),
                               next_poll_at=NOW + timedelta(minutes=26), etag='"v2"', full_fetch=True)
    with sessions.begin() as s:  # "fast" claims it again meanwhile: the late commit must leave its lease alone
        repository.claim_due_sources(s, NOW + timedelta(minutes=27), "fast", NOW + timedelta(minutes=37), 1)
    with sessions.begin() as s:
        repository.record_poll(s, sid, owner="slow", now=NOW, next_poll_at=NOW + timedelta(minutes=30),
                               error="timed out", keep_validators=True)
    with sessions.begin() as s:
        row = s.get(t.Source, sid)
        assert (row.last_polled_at, row.next_poll_at, row.etag) == \
            (NOW + timedelta(minutes=11), NOW + timedelta(minutes=26), '"v2"')
        assert (row.error_count, row.last_error, row.last_status) == (0, None, "ok")
        assert (row.lease_owner, row.lease_until) == ("fast", NOW + timedelta(minutes=37))
    with sessions.begin() as s:  # and a poll that started later than the stored one is recorded as ever
        repository.record_poll(s, sid, owner="fast", now=NOW + timedelta(minutes=27),
                               next_poll_at=NOW + timedelta(minutes=42), error="HTTP 500", keep_validators=True)
        row = s.get(t.Source, sid)
        assert (row.last_polled_at, row.error_count, row.etag, row.lease_owner) == \
            (NOW + timedelta(minutes=27), 1, '"v2"', None)


def test_claims_take_never_polled_sources_first_then_the_most_overdue(sessions):
    ids = [_source(sessions, f"https://s{n}/feed") for n in range(6)]
    due_at = {ids[0]: NOW - timedelta(minutes=5), ids[1]: NOW - timedelta(hours=2), ids[2]: NOW + timedelta(hours=1),
              ids[3]: NOW - timedelta(minutes=30)}  # ids[4] and ids[5]: never polled
    with sessions.begin() as s:
        for sid, at in due_at.items():
            repository.record_poll(s, sid, now=NOW, next_poll_at=at)
    order = []
    for _ in range(6):
        with sessions.begin() as s:
            order += [c.id for c in repository.claim_due_sources(s, NOW, "w", NOW + timedelta(minutes=10), 1)]
    assert order == [ids[4], ids[5], ids[1], ids[3], ids[0]]  # ids[2] is not due
    with sessions.begin() as s:
        assert [c.id for c in repository.claim_due_sources(s, NOW + timedelta(minutes=11), "w2",
                                                           NOW + timedelta(minutes=20), 10)] == order


def test_datetimes_come_back_aware_utc(sessions):
    sid = _source(sessions)
    with sessions.begin() as s:
        repository.save_items(s, sid, [_item("g1", "https://x/1")], now=NOW, qrcode_prefix="q/")
    with sessions.begin() as s:
        item = repository.list_items(s)[0]
    assert item.date == NOW and item.date.tzinfo is not None


def test_migrations_upgrade_from_empty_and_downgrade(db_url):
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert {"sources", "feed_entries", "items"} <= set(inspect(engine).get_table_names())
    db.downgrade(engine, "base")
    assert db.current_revision(engine) is None
    assert "items" not in inspect(engine).get_table_names()
    engine.dispose()


def test_models_match_migrations(db_url):
    """The ORM classes and the Alembic revisions describe the same schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False, "include_name": include_name}), t.Base.metadata)
    assert diff == []
    engine.dispose()


def test_out_of_date_schema_is_refused_with_a_clear_message(db_url):
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    db.downgrade(engine, "-1")  # a database one revision behind this presswire
    with pytest.raises(StoreError, match="run `presswire db upgrade`"):
        db.ensure_schema(engine)
    engine.dispose()


def test_postgresql_connections_give_up_on_a_silent_database_host_unless_the_url_says_otherwise(postgres):
    """A database host gone silent (a dead machine, a cut link) was noticed only after the kernel's two hours
    of TCP keepalive: poll threads hung. Connections carry libpq's connect, keepalive and TCP user timeouts
    (db.PG_CONNECT_DEFAULTS); a parameter in the URL's query wins over its default."""
    url = postgres.new_database()

    def parameters(database_url: str) -> dict[str, str]:
        engine = db.make_engine(database_url)
        try:
            with engine.connect() as conn:
                return conn.connection.dbapi_connection.info.get_parameters()
        finally:
            engine.dispose()

    got = parameters(url)
    assert {key: got.get(key) for key in db.PG_CONNECT_DEFAULTS} == db.PG_CONNECT_DEFAULTS
    joiner = "&" if "?" in url else "?"
    got = parameters(f"{url}{joiner}keepalives_idle=120&application_name=worker-7")
    assert got["keepalives_idle"] == "120" and got["application_name"] == "worker-7"
    assert got["tcp_user_timeout"] == "60000"
