"""Repository functions. Each takes a Session; the caller owns the transaction:

    with sessions.begin() as s:
        save_items(s, ...)

ORM rows stay in here: callers get the plain values of ingest.model.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import posixpath
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Iterator, Mapping, Protocol, Sequence

from sqlalchemy import (CompoundSelect, Select, bindparam, delete, func, literal, or_, select, text, union_all,
                        update)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from ingest.model import (Candidate, Copy, EntryKeys, FeedEntry, Fingerprint, Item, Judgement, Match, PromoResult,
                          Reason, Span, StoredItem, StoredSource)
from store import tables as t

# Held (transaction-scoped) by every PostgreSQL transaction that stores fingerprinted items, see save_items.
DEDUP_LOCK = 0x70726573_64656475  # "presdedu"
DEDUP_IDLE_TIMEOUT = 60.0  # seconds a transaction holding DEDUP_LOCK may wait for its worker (see _lock_dedup)
KNOWN_KEYS_BATCH = 2000  # entry keys looked up per statement (2 parameters each)
STREAM_BATCH = 200  # items (bodies included) fetched at a time by the readers that stream a whole store


@dataclass(frozen=True)
class SaveResult:
    new: int
    duplicate: int
    saved: tuple[tuple[int, str, str], ...] = ()  # (article_id, url slug, source_link) of each new item
    copies: int = 0  # new items that joined an existing cluster
    promotional: int = 0  # new items labeled promotional
    failed: int = 0  # new items stored without a page body (their failure said why)


class DuplicateJudge(Protocol):
    """What save_items needs from the dedup policy (ingest.dedup.Deduplicator)."""

    title_window: timedelta
    near_window: timedelta
    min_shingles: int
    max_candidates: int

    def decide(self, item: Item, candidates: Sequence[Candidate]) -> Match | None: ...

    def facts_may_agree(self, item: Item, texts: Sequence[str]) -> list[bool]: ...


# --- sources -------------------------------------------------------------------------------------

def add_source(s: Session, url: str, name: str, now: datetime, status: str = "active") -> tuple[StoredSource, bool]:
    """Insert a source unless its URL is known (also as the URL it had before a permanent redirect moved
    it); returns (source, created). A new name updates an old one.

    `status` "archive" is for backfill's pseudo-sources (a sitemap, a file, a directory): never polled."""
    row = _source_by_url(s, url)
    if row is not None:
        if name and row.name != name:
            row.name = name
        return _source(row), False
    # ON CONFLICT: workers starting together with the same [[sources]] insert the same URLs at once
    created = s.scalar(_insert(s, t.Source).values(url=url, name=name, status=status, created_at=now, error_count=0)
                       .on_conflict_do_nothing(index_elements=["url"]).returning(t.Source.id))
    return _source(s.scalar(select(t.Source).where(t.Source.url == url))), created is not None


def set_interval(s: Session, source_id: int, seconds: float | None) -> None:
    """Give a source its own poll interval (None: the [poll] default or the adaptive one)."""
    s.execute(update(t.Source).where(t.Source.id == source_id).values(poll_interval=seconds))


def list_sources(s: Session) -> list[StoredSource]:
    counts = (select(t.Item.source_id, func.count().label("n")).group_by(t.Item.source_id).subquery())
    rows = s.execute(select(t.Source, counts.c.n).outerjoin(counts, counts.c.source_id == t.Source.id)
                     .order_by(t.Source.id)).all()
    return [_source(row, n or 0) for row, n in rows]


def find_source(s: Session, id_or_url: str) -> StoredSource | None:
    """A source by integer id, or by URL: its URL, or the one it had before a permanent redirect moved it
    (as for add_source: the old URL still names it). A number too large for an id names none."""
    if id_or_url.isascii() and id_or_url.isdigit():  # not isdigit() alone: "²" is a digit to it, not to int()
        digits = id_or_url.lstrip("0") or "0"
        if len(digits) > 19 or not _fits_id(s, int(digits)):  # (int() refuses 4,300 digits and more)
            return None
        row = s.scalar(select(t.Source).where(t.Source.id == int(digits)))
    else:
        row = _source_by_url(s, id_or_url)
    return _source(row) if row else None


def _source_by_url(s: Session, url: str) -> t.Source | None:
    """The source with this URL, else the oldest one that had it before a move."""
    return s.scalar(select(t.Source).where(t.Source.url == url)) or \
        s.scalar(select(t.Source).where(t.Source.previous_url == url).order_by(t.Source.id).limit(1))


def _fits_id(s: Session, value: int) -> bool:
    """Whether the id columns can hold `value` (INTEGER: 64-bit on SQLite, 32-bit on PostgreSQL). A larger
    number names no row, and binding it is an error (OverflowError, "integer out of range"), not a miss."""
    bound = 2**31 if s.get_bind().dialect.name == "postgresql" else 2**63
    return -bound <= value < bound


def source_named(s: Session, name: str) -> StoredSource | None:
    """The oldest source with exactly this display name."""
    row = s.scalar(select(t.Source).where(t.Source.name == name).order_by(t.Source.id).limit(1))
    return _source(row) if row else None


def claim_due_sources(s: Session, now: datetime, owner: str, lease_until: datetime,
                      limit: int) -> list[StoredSource]:
    """Lease up to `limit` active sources whose poll is due and that no live worker holds: never-polled
    sources first, then the most overdue.

    One statement, `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`: on PostgreSQL,
    workers sharing the database lock different rows and never claim the same source, in one round trip
    (a claim precedes every poll). A lease that expires (a dead worker) makes the source claimable again.
    Each of the two lookups walks ix_sources_next_poll_at and stops at `limit` rows, so a claim costs the
    same with 100 sources due or 100,000 (a first start, a backlog) and nothing when none is due.
    SQLite has one writer at a time (and no FOR UPDATE), so the same statement is safe there for one worker.
    """
    free = (t.Source.status == "active", or_(t.Source.lease_until.is_(None), t.Source.lease_until < now))
    fresh = (select(t.Source.id, literal(0).label("rank"), t.Source.next_poll_at)
             .where(*free, t.Source.next_poll_at.is_(None)).limit(limit).with_for_update(skip_locked=True))
    overdue = (select(t.Source.id, literal(1).label("rank"), t.Source.next_poll_at)
               .where(*free, t.Source.next_poll_at <= now).order_by(t.Source.next_poll_at, t.Source.id)
               .limit(limit).with_for_update(skip_locked=True))
    picked = union_all(select(fresh.cte("fresh")), select(overdue.cte("overdue"))).subquery()
    chosen = select(picked.c.id).order_by(picked.c.rank, picked.c.next_poll_at, picked.c.id).limit(limit)
    claim = (update(t.Source).where(t.Source.id.in_(chosen)).values(lease_owner=owner, lease_until=lease_until)
             .returning(t.Source).execution_options(synchronize_session=False))
    rows = sorted(s.scalars(claim), key=lambda row: (row.next_poll_at is not None, row.next_poll_at, row.id))
    return [_source(row) for row in rows]


def record_poll(s: Session, source_id: int, *, now: datetime, next_poll_at: datetime | None,
                owner: str | None = None, error: str | None = None, status: str | None = None,
                interval: float | None = None, etag: str | None = None, last_modified: str | None = None,
                keep_validators: bool = False, full_fetch: bool = False,
                redirect: tuple[str | None, int] = (None, 0)) -> None:
    """Record a finished poll and release `owner`'s lease; an error counts up, a success resets the count.

    Only the lease `owner` holds is released: a worker whose lease ran out during a long poll (and whose
    source another worker then claimed) records its poll and leaves the other worker's lease alone. A poll
    that started before the one recorded last (`now` earlier than last_polled_at: that other worker's poll
    finished first) records nothing: its commit comes late, and its validators, error count and next
    poll time are older than those stored. `keep_validators` keeps the stored ETag / Last-Modified (a
    failed poll learned nothing new); `full_fetch` records that the feed was read whole now; `redirect` is
    the permanent redirect seen on consecutive polls so far (its target and how many polls in a row)."""
    values: dict = {"last_polled_at": now, "next_poll_at": next_poll_at,
                    "last_status": status or ("error" if error else "ok"), "redirect_url": redirect[0],
                    "redirect_count": redirect[1]}
    if interval is not None:
        values["interval"] = interval
    if error is None:
        values.update(error_count=0, last_error=None)
    else:
        values.update(error_count=t.Source.error_count + 1, last_error=error[:2000])
    if not keep_validators:
        values.update(etag=etag, last_modified=last_modified)
    if full_fetch:
        values["last_full_fetch_at"] = now
    not_newer = or_(t.Source.last_polled_at.is_(None), t.Source.last_polled_at <= now)
    s.execute(update(t.Source).where(t.Source.id == source_id, not_newer).values(**values))
    release_leases(s, owner, [source_id])


def retire_source(s: Session, source_id: int, reason: str, now: datetime) -> None:
    """Stop polling a source for good (410 Gone); `sources list` shows it retired, with the reason."""
    s.execute(update(t.Source).where(t.Source.id == source_id).values(
        status="retired", last_status="gone", last_error=reason[:2000], last_polled_at=now, next_poll_at=None,
        lease_owner=None, lease_until=None))


def move_source(s: Session, source_id: int, new_url: str) -> str | None:
    """Change a source's URL after a permanent redirect, remembering the old one; returns why not, if not
    (another source already has that URL)."""
    taken = s.scalar(select(t.Source.id).where(t.Source.url == new_url, t.Source.id != source_id))
    if taken is not None:
        return f"permanent redirect to {new_url}, which is already source {taken}"
    row = s.get(t.Source, source_id)
    row.previous_url, row.url = row.url, new_url
    row.redirect_url, row.redirect_count = None, 0
    row.etag = row.last_modified = None
    return None


def renew_leases(s: Session, owner: str, source_ids: Sequence[int], lease_until: datetime) -> None:
    """Extend the leases `owner` holds on these sources (it is still polling them) to `lease_until`."""
    if source_ids:
        s.execute(update(t.Source).where(t.Source.id.in_(list(source_ids)), t.Source.lease_owner == owner)
                  .values(lease_until=lease_until))


def release_leases(s: Session, owner: str, source_ids: Sequence[int]) -> None:
    """Give back sources a worker claimed but will not finish (it is shutting down): due again at once."""
    if source_ids:
        s.execute(update(t.Source).where(t.Source.id.in_(list(source_ids)), t.Source.lease_owner == owner)
                  .values(lease_owner=None, lease_until=None))


def pause_source(s: Session, source_id: int) -> None:
    """Stop polling a source until resume_source: claims and `poll` pass over a "paused" source. A poll in
    flight finishes and records itself as usual (record_poll leaves the status alone)."""
    s.execute(update(t.Source).where(t.Source.id == source_id).values(status="paused"))


def resume_source(s: Session, source_id: int, now: datetime) -> None:
    """Poll a paused (or retired) source again: active, and due now."""
    s.execute(update(t.Source).where(t.Source.id == source_id).values(status="active", next_poll_at=now))


def rename_source(s: Session, source_id: int, name: str) -> None:
    """A source's display name (the `source` front-matter field of the items stored from now on)."""
    s.execute(update(t.Source).where(t.Source.id == source_id).values(name=name))


@dataclass(frozen=True)
class Removal:
    """What removing a source deleted (or, rolled back, would delete)."""

    items: int
    entries: int
    stories_ended: int  # stories (clusters) that had no other copies: deleted with them
    canonical_moved: int  # stories whose canonical copy was one of them: another source's copy is canonical now
    urls: tuple[str, ...]  # the deleted items' url slugs (their QR code images are named after them)


def remove_source(s: Session, source_id: int, now: datetime) -> Removal | None:
    """Delete a source with its feed entries and items, unless a worker holds its lease (None: it is being
    polled). The database deletes what hangs on them (ON DELETE CASCADE: entries, items, band keys, origins;
    SQLite's items_fts trigger and PostgreSQL's generated column take the search index with them; SET NULL:
    the clusters' canonical_item_id and the copies' matched_item_id). The stories they were copies of are then
    put right: one left without copies is deleted, the others get their count and, where the canonical copy
    went, the one the usual rule picks among those left (_canonical_rank: a wire's, the earliest, the first
    stored). Under DEDUP_LOCK on PostgreSQL: a save running meanwhile could join a copy to a story deleted here."""
    _lock_dedup(s)
    rows = s.execute(select(t.Item.url, t.Item.cluster_id).where(t.Item.source_id == source_id)).all()
    entries = s.scalar(select(func.count()).select_from(t.FeedEntry).where(t.FeedEntry.source_id == source_id))
    free = or_(t.Source.lease_until.is_(None), t.Source.lease_until < now)
    gone = s.execute(delete(t.Source).where(t.Source.id == source_id, free)
                     .execution_options(synchronize_session=False))
    if gone.rowcount == 0:
        return None
    ended = moved = 0
    clusters = sorted({cluster_id for _url, cluster_id in rows})
    for start in range(0, len(clusters), KNOWN_KEYS_BATCH):  # (SQLite: at most 32,766 parameters a statement)
        batch = t.Cluster.id.in_(clusters[start:start + KNOWN_KEYS_BATCH])
        copies = select(func.count()).where(t.Item.cluster_id == t.Cluster.id).scalar_subquery()
        ended += s.execute(delete(t.Cluster).where(batch, copies == 0)
                           .execution_options(synchronize_session=False)).rowcount
        s.execute(update(t.Cluster).where(batch).values(copies=copies).execution_options(synchronize_session=False))
        first = (select(t.Item.id).where(t.Item.cluster_id == t.Cluster.id)
                 .order_by(t.Item.wire.desc(), t.Item.date, t.Item.id).limit(1).scalar_subquery())
        moved += s.execute(update(t.Cluster).where(batch, t.Cluster.canonical_item_id.is_(None))
                           .values(canonical_item_id=first).execution_options(synchronize_session=False)).rowcount
    return Removal(items=len(rows), entries=entries or 0, stories_ended=ended, canonical_moved=moved,
                   urls=tuple(url for url, _cluster_id in rows))


def count_sources_in_backoff(s: Session) -> int:
    """Active sources whose last polls failed (they wait [poll] backoff, doubling)."""
    return s.scalar(select(func.count()).select_from(t.Source).where(
        t.Source.status == "active", t.Source.error_count > 0)) or 0


# --- entries and items ---------------------------------------------------------------------------

def known_keys(s: Session, source_id: int, keys: Sequence[EntryKeys]) -> set[EntryKeys]:
    """Which of `keys` the source already has an entry for (same GUID, or same canonical link).
    Asked KNOWN_KEYS_BATCH keys at a time: SQLite allows 32,766 parameters a statement, and a feed can be long."""
    seen_guids: set[str] = set()
    seen_links: set[str] = set()
    for start in range(0, len(keys), KNOWN_KEYS_BATCH):
        batch = keys[start:start + KNOWN_KEYS_BATCH]
        found = s.execute(select(t.FeedEntry.guid, t.FeedEntry.link).where(
            t.FeedEntry.source_id == source_id,
            or_(t.FeedEntry.guid.in_({k.guid for k in batch if k.guid}),
                t.FeedEntry.link.in_({k.link for k in batch if k.link})))).all()
        seen_guids |= {g for g, _ in found if g}
        seen_links |= {link for _, link in found if link}
    return {k for k in keys if (k.guid and k.guid in seen_guids) or (k.link and k.link in seen_links)}


def save_items(s: Session, source_id: int, items: Iterable[Item], *, now: datetime,
               qrcode_prefix: str, judge: DuplicateJudge | None = None) -> SaveResult:
    """Insert each item's feed entry and item. An entry that is already stored (a UNIQUE constraint
    fires: same GUID or canonical link in this source) is counted as a duplicate and skipped.

    Every new item joins a cluster: the cluster of the stored item `judge` says it copies (found by
    content hash, by title + date for short texts, or by shared LSH band keys, then verified), else a
    new cluster of its own. On PostgreSQL the lookup and the insert run under one transaction-scoped
    advisory lock (DEDUP_LOCK), so two workers saving copies of one release at the same moment are
    serialized and the second sees the first: one cluster, two copies. SQLite allows one writer at a
    time, and the entry INSERT that precedes each lookup takes that write lock.

    The statements are Core statements compiled once per dialect and run on the DBAPI cursor of the
    session's connection (_Cursor): no ORM unit of work, no SAVEPOINT per item (a taken url slug is an
    ON CONFLICT that inserts nothing, not an error to roll back), and none of SQLAlchemy's per-execute work
    (compiled-cache lookup, parameter and result set-up: ~45 us a statement, seven statements an item).
    CPU per item, 2,000 assembled bench pages (bench/backfill.py's page()) saved 200 a transaction to a
    fresh SQLite file, medians of 5 runs interleaved with the previous code: ORM 3.8 -> Core 0.71 -> DBAPI
    cursor 0.45 ms (callgrind: 3.62M -> 2.08M instructions an item). What is left is mostly SQLite's own
    work: the same statements replayed on a bare sqlite3 connection, commits included, cost 0.29 ms (the
    items INSERT with its FTS5 trigger alone ~0.17).
    """
    items = list(items)
    if judge is not None and any(i.fingerprint for i in items):
        _lock_dedup(s)
    db = _Cursor(s.connection())
    dup, copies, promotional, failed, saved = 0, 0, 0, 0, []
    for item in items:
        entry_id = db.scalar(db.writes.entry, _entry_params(source_id, item, now))
        if entry_id is None:
            dup += 1
            continue
        match = _find_copy(db, item, judge) if judge is not None and item.fingerprint else None
        article_id, url = _insert_item(db, source_id, entry_id, item, now, qrcode_prefix, match)
        copies += match is not None
        promotional += item.promo is not None and item.promo.label == "promotional"
        failed += bool(item.failure)
        saved.append((article_id, url, item.source_link))
    return SaveResult(new=len(saved), duplicate=dup, saved=tuple(saved), copies=copies, promotional=promotional,
                      failed=failed)


def _lock_dedup(s: Session) -> None:
    """Take DEDUP_LOCK for this transaction, which PostgreSQL ends (and the lock with it) once it has waited
    DEDUP_IDLE_TIMEOUT for the worker's next statement: the lock serializes every worker's saves, and a worker
    frozen in the middle of one (SIGSTOP, a paused VM, a hung qrcode_dir, its network gone) held it for as
    long as its connection lived, stopping every save of every worker. That worker's commit fails then, and
    its poll is done again once its lease expires. (A save waits on nothing between its statements but its
    own CPU and QR code files: seconds at the most.)"""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT set_config('idle_in_transaction_session_timeout', :idle, true), "
                       "pg_advisory_xact_lock(:key)"), {"idle": f"{DEDUP_IDLE_TIMEOUT * 1000:.0f}", "key": DEDUP_LOCK})


def _find_copy(db: Session | Connection | _Cursor, item: Item, judge: DuplicateJudge) -> Match | None:
    """The stored item this one is a copy of: same content hash, else the judge's pick among candidates.

    The content-hash probe runs only when some stored item shares a band key: an exact copy has the same
    words, hence the same band keys (fixed geometry, see ingest.dedup), so a new story (no shared key,
    the common case) is spared a probe that cannot succeed. A short text is matched by title + date only.
    Candidates dated outside the judge's windows are not read (a template's releases of other weeks and
    months share band keys; the judge would turn them down). The judge counts calendar days: a day more here."""
    db = _Cursor.of(db)
    fp = item.fingerprint
    band_ids = _band_candidates(db, fp.band_keys, _day(item.date), judge.max_candidates) if fp.band_keys else []
    if band_ids:
        exact = db.scalar(_EXACT_QUERY, {"content_hash": fp.content_hash})
        if exact is not None:
            return Match("content_hash", 1.0, exact)
    ids = list(dict.fromkeys(band_ids + _title_candidates(db, item, fp, judge)))
    if not ids:
        return None
    window = max(judge.title_window, judge.near_window) + timedelta(days=1)
    dated = t.Item.date.between(item.date - window, item.date + window)
    rows = db.conn.execute(select(t.Item.id, t.Item.cluster_id, t.Item.title, t.Item.body_text, t.Item.date,
                                  t.Item.content_hash, t.Item.shingle_count).where(t.Item.id.in_(ids), dated)).all()
    return judge.decide(item, [Candidate(r.id, r.cluster_id, r.title, r.body_text, r.date, r.content_hash or "",
                                         r.shingle_count) for r in rows])


def _band_candidates(db: Session | Connection | _Cursor, keys: Sequence[int], day: int, limit: int) -> list[int]:
    """Items sharing an LSH band key with `keys`, those dated nearest to `day` (_day) first, at most `limit`.

    Nearest by date, not newest by id: in a newest-first backfill (or an import of older items) the newest
    items sharing a key are look-alikes of later days (a company's daily notices share keys), which the
    window drops, and a copy's original, stored before them, was never seen. Ordered by distance in days,
    the earlier day first at equal distance; on one day, items of `day` and the days before it newest
    first (a poll's common case: as before), items of the days after it oldest first (each scan's order).

    One statement of two scans per key of the (band_key, item_day, item_id) primary key, from `day`
    backward and forward, each stopping after `limit` rows, merged here: the nearest `limit` of their
    union are exactly the nearest `limit` items sharing any key (an item among those is among the nearest
    `limit` on its side of each key it has). Scans are not cut at the dedup window: a row of any date
    tells _find_copy that some item shares a key (an exact copy's content hash is then looked up, whatever
    its date), and `limit` bounds them. On SQLite a single `band_key IN (...)` with DISTINCT and ORDER BY
    builds three temporary B-trees per lookup (the IN list, DISTINCT, ORDER BY), which cost more than the
    index seeks and page-fault fresh memory."""
    keys = list(dict.fromkeys(keys))
    found = _Cursor.of(db).rows(_band_query(len(keys)),
                                {"day": day, "limit": limit} | {f"k{i}": key for i, key in enumerate(keys)})
    nearest = sorted(set(found), key=lambda row: (abs(row[1] - day), row[1] > day,
                                                  row[0] if row[1] > day else -row[0]))
    return [item_id for item_id, _ in nearest[:limit]]


@functools.lru_cache(maxsize=64)  # 20 keys, or up to 40 with a second head (ingest.dedup.release_start)
def _band_query(n_keys: int) -> CompoundSelect:
    """`n_keys` pairs of scans of item_bands, from :day backward and forward, bound as :k0.., :day and
    :limit (built once per key count)."""
    band, day = t.ItemBand, bindparam("day", type_=t.ItemBand.item_day.type)
    scans = []
    for i in range(n_keys):
        key = band.band_key == bindparam(f"k{i}", type_=band.band_key.type)
        scans += [select(band.item_id, band.item_day).where(key, band.item_day <= day)
                  .order_by(band.item_day.desc(), band.item_id.desc()).limit(bindparam("limit")).subquery(f"b{i}"),
                  select(band.item_id, band.item_day).where(key, band.item_day > day)
                  .order_by(band.item_day, band.item_id).limit(bindparam("limit")).subquery(f"a{i}")]
    return union_all(*(select(scan.c.item_id, scan.c.item_day) for scan in scans))


_EPOCH = date(1970, 1, 1)


def _day(when: datetime) -> int:
    """item_bands.item_day of an item dated `when`: its UTC calendar day as days since 1970-01-01 (the judge
    compares the calendar days of UTC dates)."""
    return (when.astimezone(timezone.utc).date() - _EPOCH).days


def _title_candidates(db: _Cursor, item: Item, fp: Fingerprint, judge: DuplicateJudge) -> list[int]:
    """Items with the same title within the date window when either side is a short text, those dated nearest
    to the new item first (the earlier at equal distance), at most judge.max_candidates. The judge counts
    calendar days (00:30 and 23:30 two days later are two days apart): a day more here, as in _find_copy.

    Nearest, not newest by id, as for band keys (_band_candidates): in a newest-first backfill (or an import
    of older items) the newest items under a generic title ("Net Asset Value(s)") are look-alikes of later
    days, and a copy's original, stored before them, was never read. One statement of two scans of the
    (title_key, date) index, from the new item's date backward and forward, each within the window and
    stopping after the bound, merged here: only the window's rows are read, not every item of the title.

    Nearness alone cannot pick among more than max_candidates notes of one day ("Net Asset Value(s)" of a
    hundred trusts, all at 07:00): then up to TITLE_READ_FACTOR times as many are read, and those whose leads
    may state the new item's facts (the judge turns the others down) come first, nearest first."""
    window = judge.title_window + timedelta(days=1)
    params = {"title_key": fp.title_key, "date": item.date, "earliest": item.date - window,
              "latest": item.date + window, "min_shingles": judge.min_shingles,
              "limit": TITLE_READ_FACTOR * judge.max_candidates}
    found = [(item_id, _utc(when)) for item_id, when in db.rows(_title_query(short=fp.is_short), params)]
    found.sort(key=lambda row: (abs(row[1] - item.date), row[1]))
    if len(found) > judge.max_candidates:  # a crowded title: those whose leads may state its facts first
        texts = dict(db.conn.execute(select(t.Item.id, t.Item.body_text)
                                     .where(t.Item.id.in_([item_id for item_id, _ in found]))).all())
        may = judge.facts_may_agree(item, [texts[item_id] for item_id, _ in found])
        found = [row for row, ok in zip(found, may) if ok] + [row for row, ok in zip(found, may) if not ok]
    return [item_id for item_id, _ in found[:judge.max_candidates]]


# Title candidates read per side when a title is crowded, for the judge's max_candidates verified: reading an
# item's text and its lead's facts costs about a quarter of verifying it (Deduplicator.facts_may_agree).
TITLE_READ_FACTOR = 10


def _utc(value: datetime | str) -> datetime:
    """An items.date read through _Cursor (no SQLAlchemy types): SQLite gives the naive UTC text it stores,
    PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


# The lookup statements are built once with bound parameters: building them per item cost more than running them.
_EXACT_QUERY = (select(t.Item.id).where(t.Item.content_hash == bindparam("content_hash"), t.Item.band_count > 0)
                .order_by(t.Item.id).limit(1))


@functools.lru_cache(maxsize=2)
def _title_query(short: bool) -> CompoundSelect:
    """Same title key, date in [:earliest, :date] newest first and in (:date, :latest] oldest first, at most
    :limit each; a long text only looks for short ones (< :min_shingles)."""
    item, when = t.Item, bindparam("date", type_=t.Item.date.type)
    same = [item.title_key == bindparam("title_key")]
    if not short:
        same.append(item.shingle_count < bindparam("min_shingles"))
    before = (select(item.id, item.date).where(*same, item.date >= bindparam("earliest", type_=item.date.type),
                                               item.date <= when)
              .order_by(item.date.desc(), item.id.desc()).limit(bindparam("limit")).subquery("before"))
    after = (select(item.id, item.date).where(*same, item.date > when,
                                              item.date <= bindparam("latest", type_=item.date.type))
             .order_by(item.date, item.id).limit(bindparam("limit")).subquery("after"))
    return union_all(select(before.c.id, before.c.date), select(after.c.id, after.c.date))


@dataclass(frozen=True)
class _Writes:
    """The INSERT/UPDATE statements of save_items for one dialect, with bound parameters (compiled once:
    building `insert(...).values(...)` per item cost more than running it)."""

    entry: Insert  # ON CONFLICT DO NOTHING RETURNING id: None for an entry already stored
    item: Insert  # ON CONFLICT (url) DO NOTHING RETURNING id: None when the url slug is taken
    cluster: Insert
    band: Insert  # executemany
    origin: Insert


@functools.lru_cache(maxsize=2)
def _writes(dialect: str) -> _Writes:
    insert = _dialect_insert(dialect)
    return _Writes(
        entry=insert(t.FeedEntry).on_conflict_do_nothing().returning(t.FeedEntry.id),
        item=insert(t.Item).on_conflict_do_nothing(index_elements=[t.Item.url]).returning(t.Item.id),
        cluster=insert(t.Cluster).returning(t.Cluster.id),
        band=insert(t.ItemBand).on_conflict_do_nothing(),
        origin=insert(t.ItemOrigin),
    )


class _Cursor:
    """The DBAPI cursor of a session's connection, running Core statements compiled once per dialect and
    set of parameter names (_Compiled): what save_items sends per item skips SQLAlchemy's per-execute
    work (~45 us a statement on SQLite). Same transaction as the connection; the engine's
    before/after_cursor_execute listeners still see every statement; a driver error is raised as
    SQLAlchemy's (sqlalchemy.exc.IntegrityError, ...). Bound values are converted by the columns' types
    as SQLAlchemy converts them (UTCDateTime, JSON, ...); the results read through it are integers
    (ids), which need no conversion, and items.date, which _utc converts."""

    def __init__(self, conn: Connection):
        self.conn = conn  # the rare statements whose results need SQLAlchemy's types run here
        self.dialect = conn.dialect
        self.writes = _writes(self.dialect.name)
        self.cursor = conn.connection.dbapi_connection.cursor()
        # the engine's and connection's cursor listeners as they are now (iterating the live collections
        # for each statement cost more than some statements)
        self.before, self.after = tuple(conn.dispatch.before_cursor_execute), tuple(conn.dispatch.after_cursor_execute)

    @classmethod
    def of(cls, db: Session | Connection | _Cursor) -> _Cursor:
        if isinstance(db, _Cursor):
            return db
        return cls(db.connection() if isinstance(db, Session) else db)

    def execute(self, stmt, params: dict) -> None:
        self._run(stmt, params, many=False)

    def executemany(self, stmt, rows: list[dict]) -> None:
        if rows:
            self._run(stmt, rows, many=True)

    def scalars(self, stmt, params: dict) -> list:
        self._run(stmt, params, many=False)
        return [row[0] for row in self.cursor.fetchall()]

    def rows(self, stmt, params: dict) -> list[tuple]:
        self._run(stmt, params, many=False)
        return [tuple(row) for row in self.cursor.fetchall()]

    def scalar(self, stmt, params: dict):
        """The first column of the first row, None without a row (an INSERT ... ON CONFLICT DO NOTHING
        RETURNING that inserted nothing)."""
        self._run(stmt, params, many=False)
        rows = self.cursor.fetchall()
        return rows[0][0] if rows else None

    def _run(self, stmt, params: dict | list[dict], many: bool) -> None:
        compiled = _compiled(self.dialect, stmt, tuple(params[0] if many else params))
        sql, args = compiled.sql, [compiled.bind(p) for p in params] if many else compiled.bind(params)
        for listen in self.before:
            sql, args = listen(self.conn, self.cursor, sql, args, None, many)
        try:
            (self.cursor.executemany if many else self.cursor.execute)(sql, args)
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, args, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect) from exc
        for listen in self.after:
            listen(self.conn, self.cursor, sql, args, None, many)


class _Compiled:
    """A Core statement compiled for a dialect and the names of the parameters it is given, as
    Connection.execute compiles it, with what turns those parameters into the driver's: the statement's
    own bound values (a LIMIT 1) and the bind processors of the parameters' types."""

    def __init__(self, dialect, stmt, keys: tuple[str, ...]):
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        if compiled.insert_prefetch or compiled.update_prefetch:  # Python-side column defaults: none here
            raise ValueError(f"{compiled.string}: column defaults to compute; pass every column")
        binds = compiled.bind_names  # BindParameter -> its name in the SQL
        self.sql = compiled.string
        self.fixed = {name: b.effective_value for b, name in binds.items() if not b.required and name not in keys}
        self.processors = {name: process for b, name in binds.items()
                           if (process := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        order = compiled.positiontup
        if order is not None:  # SQLite's qmark: a tuple in the statement's order
            self.arguments = operator.itemgetter(*order) if len(order) > 1 else \
                lambda params: tuple(params[name] for name in order)
        else:  # PostgreSQL's drivers take the names
            names = list(dict.fromkeys(binds.values()))
            self.arguments = lambda params: {name: params[name] for name in names}

    def bind(self, params: dict) -> dict | tuple:
        if self.fixed or self.processors:
            params = self.fixed | params
            for name, process in self.processors.items():
                params[name] = process(params[name])
        return self.arguments(params)


@functools.lru_cache(maxsize=256)
def _compiled(dialect, stmt, keys: tuple[str, ...]) -> _Compiled:
    return _Compiled(dialect, stmt, keys)


def _entry_params(source_id: int, item: Item, now: datetime) -> dict:
    e = item.entry
    return dict(source_id=source_id, guid=item.keys.guid, link=item.keys.link, raw_link=e.link, title=e.title,
                summary_html=e.summary_html, content_html=e.content_html, published=e.published,
                enclosure=e.enclosure, author=e.author, first_seen_at=now)


def _insert_item(db: _Cursor, source_id: int, entry_id: int, item: Item, now: datetime,
                 prefix: str, match: Match | None) -> tuple[int, str]:
    """Insert with the first free url slug: base, base-2, base-3, ... (the UNIQUE constraint decides);
    in its cluster, with its band keys.

    The base slug is tried first without a query (it is almost always free: no LIKE scan per insert,
    which kept large backfills quadratic); the taken suffixes are looked up only when it is not."""
    if match is None:  # a new story: a cluster of one, this item its canonical copy (set below)
        cluster_id = db.scalar(db.writes.cluster, {"canonical_item_id": None, "copies": 1, "created_at": now})
    else:
        cluster_id = db.scalar(_CLUSTER_OF, {"item_id": match.matched_id})
    fields = dict(feed_entry_id=entry_id, source_id=source_id, cluster_id=cluster_id, created_at=now,
                  updated_at=now, **_item_fields(item), **_dedup_fields(item.fingerprint, match))
    for url in _slug_candidates(db.conn, item.slug):
        article_id = db.scalar(db.writes.item, fields | {"url": url, "qrcode": _qrcode(item, url, prefix)})
        if article_id is not None:
            break
    else:
        raise RuntimeError(f"no free url slug for {item.slug!r}")
    if item.origin is not None:
        db.execute(db.writes.origin, {"item_id": article_id, "article_id": item.origin.article_id,
                                      "feed_item_id": item.origin.feed_item_id, "path": item.origin.path or None})
    if match is None:
        db.execute(_SET_CANONICAL, {"cluster_id": cluster_id, "item_id": article_id})
    else:
        _join_cluster(db.conn, cluster_id, article_id, item)  # a copy: rare, left to SQLAlchemy
    _insert_bands(db, article_id, item.date, item.fingerprint)
    return article_id, url


_CLUSTER_OF = select(t.Item.cluster_id).where(t.Item.id == bindparam("item_id"))
_SET_CANONICAL = (update(t.Cluster).where(t.Cluster.id == bindparam("cluster_id"))
                  .values(canonical_item_id=bindparam("item_id")))
_CANONICAL = (select(t.Cluster.canonical_item_id, t.Item.wire, t.Item.date)
              .outerjoin(t.Item, t.Item.id == t.Cluster.canonical_item_id)
              .where(t.Cluster.id == bindparam("cluster_id")).with_for_update(of=t.Cluster))


def _join_cluster(conn: Connection, cluster_id: int, article_id: int, item: Item) -> None:
    """Count the new copy and keep the cluster's canonical copy right: the earliest copy from an
    original wire, else the earliest copy (ties: the first stored). The cluster row is locked first
    (FOR UPDATE, on PostgreSQL), so two workers adding copies to one cluster count both."""
    current = conn.execute(_CANONICAL, {"cluster_id": cluster_id}).one()
    wire = item.fingerprint is not None and item.fingerprint.wire
    values: dict = {"copies": t.Cluster.copies + 1}
    if current.canonical_item_id is None or \
            _canonical_rank(wire, item.date, article_id) < _canonical_rank(current.wire, current.date,
                                                                           current.canonical_item_id):
        values["canonical_item_id"] = article_id
    conn.execute(update(t.Cluster).where(t.Cluster.id == cluster_id).values(**values))


def _canonical_rank(wire: bool, date: datetime, item_id: int) -> tuple:
    return (not wire, date, item_id)


def _qrcode(item: Item, url: str, prefix: str) -> str:
    """The QR code path of an item stored as `url`: named after the slug, or an imported document's own.
    When the document's slug was taken (x is stored as x-2), its own relative path is renamed after the slug
    too (qrcodes/x.png -> qrcodes/x-2.png), or both items would export their QR codes to one image; a URL,
    or no QR code (""), stays as the document has it."""
    if item.qrcode is None:
        return f"{prefix}{url}.png"
    if url == item.slug or not item.qrcode or "://" in item.qrcode:
        return item.qrcode
    folder, name = posixpath.split(item.qrcode)
    return posixpath.join(folder, url + posixpath.splitext(name)[1])


def _slug_candidates(conn: Connection, slug: str) -> Iterable[str]:
    yield slug
    taken = set(conn.scalars(select(t.Item.url).where(
        or_(t.Item.url == slug, t.Item.url.like(f"{slug}-%")))))  # slugs hold no LIKE wildcards
    for n in range(2, len(taken) + 100):
        if f"{slug}-{n}" not in taken:
            yield f"{slug}-{n}"


def _item_fields(item: Item) -> dict:
    return dict(title=item.title, date=item.date, draft=item.draft, summary=item.summary,
                description=item.description, source_link=item.source_link, enclosure=item.enclosure,
                body_html=item.body_html, body_text=item.body_text, extraction_method=item.method,
                extraction_trail=item.trail, read_more_url=item.read_more_url,
                failure_reason=item.failure, retry_page=item.retryable, page_attempts=1,
                **_promo_fields(item.promo))


def _promo_fields(promo: PromoResult | None) -> dict:
    if promo is None:
        return {}
    return dict(promo_label=promo.label, promo_score=promo.promo_score, pr_score=promo.pr_score,
                promo_reasons=[_reason_json(r) for r in promo.reasons], tickers=list(promo.tickers),
                boilerplate={"lead_end": promo.lead_end, "tail_start": promo.tail_start,
                             "spans": [[b.start, b.end, b.kind] for b in promo.boilerplate],
                             "summary_spans": [[b.start, b.end, b.kind] for b in promo.summary_boilerplate]})


def _reason_json(r: Reason) -> dict:
    return {"rule": r.rule, "score": r.score, "weight": r.weight, "match": r.match,
            "field": r.field, "start": r.start, "end": r.end}


def _dedup_fields(fp: Fingerprint | None, match: Match | None) -> dict:
    fields: dict = dict(content_hash=None, title_key=None, shingle_count=0, band_count=0, wire=False)
    if fp is not None:
        fields.update(content_hash=fp.content_hash, title_key=fp.title_key, shingle_count=fp.shingle_count,
                      band_count=len(fp.band_keys), wire=fp.wire)
    if match is not None:
        fields.update(match_method=match.method, match_similarity=match.similarity,
                      matched_item_id=match.matched_id)
    return fields


def _insert_bands(db: _Cursor, item_id: int, when: datetime, fp: Fingerprint | None) -> None:
    if fp is not None and fp.band_keys:
        day = _day(when)
        db.executemany(db.writes.band, [{"band_key": key, "item_day": day, "item_id": item_id}
                                        for key in dict.fromkeys(fp.band_keys)])


def pages_to_retry(s: Session, source_id: int, max_attempts: int, limit: int, *, after: int = 0,
                   before: datetime | None = None) -> list[tuple[int, FeedEntry]]:
    """Items of the source whose article page failed transiently and may be tried again, by id: those after
    item `after`, and last stored or tried before `before` when given."""
    query = (select(t.Item.id, t.FeedEntry).join(t.FeedEntry, t.FeedEntry.id == t.Item.feed_entry_id)
             .where(t.Item.source_id == source_id, t.Item.retry_page.is_(True), t.Item.page_attempts < max_attempts,
                    t.Item.id > after))
    if before is not None:
        query = query.where(t.Item.updated_at < before)
    rows = s.execute(query.order_by(t.Item.id).limit(limit)).all()
    return [(item_id, _entry(row)) for item_id, row in rows]


def update_page(s: Session, article_id: int, item: Item, *, now: datetime, retitle: bool = False,
                redate: bool = False) -> tuple[int, str, str] | None:
    """Store a new attempt at an item's page: the body and derived fields when it worked. The title and date
    stay as first stored (the feed's), unless `retitle` / `redate`: the entry gave none, so the stored ones
    are stand-ins ("(untitled)", the day it was seen) and the page's are better. The slug stays. Returns
    (id, url, source_link) when the page gave the item another source link (its rel=canonical): its QR code
    image, drawn from the old one, is to be drawn again (ingest.pipeline.write_qrcodes); None otherwise.

    An item first stored without band keys (a short feed summary) gets the new text's keys, so later
    copies can find it; its cluster is not reconsidered."""
    values: dict = {"page_attempts": t.Item.page_attempts + 1, "updated_at": now,
                    "retry_page": item.retryable, "failure_reason": item.failure}
    if item.failure is not None:
        s.execute(update(t.Item).where(t.Item.id == article_id).values(**values))
        return None
    url, link = s.execute(select(t.Item.url, t.Item.source_link).where(t.Item.id == article_id)).one()
    fields = _item_fields(item)
    fields.pop("page_attempts")
    if not retitle:
        fields.pop("title")
    if not redate:
        fields.pop("date")
    s.execute(update(t.Item).where(t.Item.id == article_id).values(**(values | fields)))
    if redate:  # the band keys it has are filed under the day it was first dated
        s.execute(update(t.ItemBand).where(t.ItemBand.item_id == article_id).values(item_day=_day(item.date)))
    if item.fingerprint is not None:
        _refingerprint(s, article_id, item.fingerprint)
    return (article_id, url, item.source_link) if item.source_link != link else None


def _refingerprint(s: Session, article_id: int, fp: Fingerprint) -> None:
    """The new text's keys, and whether the copy is a wire's: an item first stored without any text (no
    fingerprint) was stored as no wire's copy, and a partner's copy dated earlier would then take its place
    as the canonical copy."""
    row = s.get(t.Item, article_id)
    if row is None or row.band_count > 0:
        return
    row.content_hash, row.title_key, row.shingle_count = fp.content_hash, fp.title_key, fp.shingle_count
    row.band_count, row.wire = len(fp.band_keys), fp.wire
    _insert_bands(_Cursor(s.connection()), article_id, row.date, fp)


# --- reclassification ------------------------------------------------------------------------------

def judgements(s: Session, *, after: int, limit: int, source_id: int | None = None,
               since: datetime | None = None) -> list[Judgement]:
    """Up to `limit` items after item `after`, by id (a walk by id: memory stays flat, and items stored
    meanwhile come last); only the source's, and only those dated at or after `since`, when given.
    On PostgreSQL the rows stay locked until the caller's transaction ends: a page retried meanwhile by a
    worker (update_page) waits, rather than have its new summary overwritten with one of the old text."""
    query = (select(t.Item.id, t.Item.title, t.Item.body_text, t.FeedEntry.summary_html, t.Source.name,
                    t.Item.source_link, t.Item.extraction_method, t.Item.draft, t.Item.summary, t.Item.description,
                    t.Item.promo_label, t.Item.promo_score, t.Item.pr_score, t.Item.promo_reasons, t.Item.tickers,
                    t.Item.boilerplate)
             .join(t.FeedEntry, t.FeedEntry.id == t.Item.feed_entry_id).join(t.Source, t.Source.id == t.Item.source_id)
             .where(t.Item.id > after).order_by(t.Item.id).limit(limit).with_for_update(of=t.Item))
    if source_id is not None:
        query = query.where(t.Item.source_id == source_id)
    if since is not None:
        query = query.where(t.Item.date >= since)
    return [Judgement(article_id=row.id, title=row.title, body_text=row.body_text, feed_summary_html=row.summary_html,
                      source_name=row.name, source_link=row.source_link, method=row.extraction_method,
                      draft=row.draft, summary=row.summary, description=row.description, promo=_promo(row))
            for row in s.execute(query)]


def update_judgements(s: Session, changed: Sequence[Judgement], now: datetime) -> None:
    """Store new judgements (label, scores, reasons, spans, tickers, draft, summary, description); the items
    count as updated (`export --changed-since`, Atom's <updated>): their documents changed."""
    if changed:
        s.execute(update(t.Item), [dict(id=j.article_id, draft=j.draft, summary=j.summary, description=j.description,
                                        updated_at=now, **_promo_fields(j.promo)) for j in changed])


# --- backfill runs -------------------------------------------------------------------------------

def start_backfill_run(s: Session, key: str, arguments: str, now: datetime) -> tuple[int, bool]:
    """The run for these arguments: (id, resumed). A finished run is reopened (its done units stay done)."""
    row = s.scalar(select(t.BackfillRun).where(t.BackfillRun.key == key))
    if row is not None:
        row.updated_at, row.finished_at = now, None
        return row.id, True
    row = t.BackfillRun(key=key, arguments=arguments, started_at=now, updated_at=now)
    s.add(row)
    s.flush()
    return row.id, False


def interrupted_backfill(s: Session, key: str) -> datetime | None:
    """When the last run of this request started, if it did not finish (killed, interrupted, crashed): its
    updated_at, set when a run starts or finishes and not when a unit finishes, since a run's items are dated
    by its start (their created_at) and those stored since then are the ones whose images may be missing."""
    row = s.execute(select(t.BackfillRun.updated_at, t.BackfillRun.finished_at)
                    .where(t.BackfillRun.key == key)).first()
    return row.updated_at if row is not None and row.finished_at is None else None


def qrcode_links_since(s: Session, since: datetime) -> Iterator[tuple[str, str]]:
    """(url slug, source_link) of the items stored at or after `since` that have a QR code, streamed."""
    rows = s.execute(select(t.Item.url, t.Item.source_link)
                     .where(t.Item.created_at >= since, t.Item.qrcode != "")
                     .execution_options(yield_per=1000))
    for url, link in rows:
        yield url, link


def forget_backfill_run(s: Session, key: str) -> None:
    """Drop a run's progress (`backfill --restart`)."""
    run_id = s.scalar(select(t.BackfillRun.id).where(t.BackfillRun.key == key))
    if run_id is not None:
        s.execute(delete(t.BackfillProgress).where(t.BackfillProgress.run_id == run_id))
        s.execute(delete(t.BackfillRun).where(t.BackfillRun.id == run_id))


def unit_done(s: Session, run_id: int, unit: str) -> str | None:
    """The detail recorded when `unit` of the run was finished, or None when it was not."""
    return s.scalar(select(t.BackfillProgress.detail).where(
        t.BackfillProgress.run_id == run_id, t.BackfillProgress.unit_key == _unit_key(unit)))


def mark_unit_done(s: Session, run_id: int, unit: str, detail: str, now: datetime) -> None:
    s.execute(_insert(s, t.BackfillProgress).values(
        run_id=run_id, unit_key=_unit_key(unit), unit=unit, detail=detail, done_at=now).on_conflict_do_nothing())


def finish_backfill_run(s: Session, run_id: int, now: datetime) -> None:
    s.execute(update(t.BackfillRun).where(t.BackfillRun.id == run_id).values(updated_at=now, finished_at=now))


def _unit_key(unit: str) -> str:
    return hashlib.sha256(unit.encode()).hexdigest()


# --- reading -------------------------------------------------------------------------------------

def list_items(s: Session, *, source_id: int | None = None, label: str | None = None,
               exclude_labels: Sequence[str] = (), limit: int = 50, all_copies: bool = False) -> list[StoredItem]:
    """Newest first. By default one row per cluster (its canonical copy, with the number of copies);
    with a source, that source's own items; `all_copies` lists every stored copy. `label` keeps one
    promo label; `exclude_labels` drops labels (unclassified items stay)."""
    query = _items_query().order_by(t.Item.date.desc(), t.Item.id.desc()).limit(limit)
    if source_id is not None:
        query = query.where(t.Item.source_id == source_id)
    elif not all_copies:
        query = query.where(t.Cluster.canonical_item_id == t.Item.id)
    if label is not None:
        query = query.where(t.Item.promo_label == label)
    if exclude_labels:
        query = query.where(or_(t.Item.promo_label.is_(None), t.Item.promo_label.not_in(list(exclude_labels))))
    return [stored_item(*row) for row in s.execute(query).all()]


def get_item(s: Session, article_id: int) -> StoredItem | None:
    if not _fits_id(s, article_id):  # /items/99999999999999999999, `items show` of such a number: not found
        return None
    row = s.execute(_items_query().where(t.Item.id == article_id)).first()
    return stored_item(*row) if row else None


def other_copies(s: Session, exported: Mapping[int, int]) -> Iterator[StoredItem]:
    """The stored copies of the exported stories that were not exported: what an export of canonical copies
    must not leave files of. `exported` maps each story (cluster id) of several copies to the article id
    exported for it: ids, not the exported items, which an export of a whole store cannot hold at once.
    A generator: it reads `exported` when first iterated, and a batch of stories at a time."""
    clusters = sorted(exported)
    for start in range(0, len(clusters), KNOWN_KEYS_BATCH):  # (SQLite: at most 32,766 parameters a statement)
        rows = s.execute(_items_query().where(t.Item.cluster_id.in_(clusters[start:start + KNOWN_KEYS_BATCH]))
                         .execution_options(yield_per=STREAM_BATCH))
        yield from (stored_item(*row) for row in rows if exported[row[0].cluster_id] != row[0].id)


def list_copies(s: Session, cluster_id: int) -> list[Copy]:
    """Every stored copy of a cluster, canonical first, then by date."""
    rows = s.execute(select(t.Item, t.Source.name, t.Cluster.canonical_item_id)
                     .join(t.Source, t.Source.id == t.Item.source_id)
                     .join(t.Cluster, t.Cluster.id == t.Item.cluster_id)
                     .where(t.Item.cluster_id == cluster_id).order_by(t.Item.date, t.Item.id)).all()
    copies = [Copy(article_id=i.id, source=name, source_link=i.source_link, date=i.date,
                   canonical=i.id == canonical, match=_match(i)) for i, name, canonical in rows]
    return sorted(copies, key=lambda c: not c.canonical)


def count_items(s: Session, source_id: int | None = None) -> int:
    """Stored items: all of them, or one source's."""
    query = select(func.count()).select_from(t.Item)
    if source_id is not None:
        query = query.where(t.Item.source_id == source_id)
    return s.scalar(query) or 0


def _items_query() -> Select:
    return (select(t.Item, t.Source.name, t.Cluster.copies, t.Cluster.canonical_item_id)
            .join(t.Source, t.Source.id == t.Item.source_id)
            .join(t.Cluster, t.Cluster.id == t.Item.cluster_id))


# --- row -> value ---------------------------------------------------------------------------------

def _insert(s: Session, table: type[t.Base]):
    return _dialect_insert(s.get_bind().dialect.name)(table)


def _dialect_insert(dialect: str):
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING on both SQLite and PostgreSQL. PostgreSQL's is
    imported here, when a PostgreSQL database asks for it: importing its dialect loads every PostgreSQL driver's
    (~25-40 ms of every command's start on SQLite)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql
        return postgresql.insert
    return sqlite.insert


def _source(row: t.Source, item_count: int = 0) -> StoredSource:
    return StoredSource(id=row.id, url=row.url, name=row.name, status=row.status, created_at=row.created_at,
                        last_polled_at=row.last_polled_at, next_poll_at=row.next_poll_at,
                        error_count=row.error_count, last_error=row.last_error, item_count=item_count,
                        poll_interval=row.poll_interval, interval=row.interval, last_status=row.last_status,
                        etag=row.etag, last_modified=row.last_modified, last_full_fetch_at=row.last_full_fetch_at,
                        redirect_url=row.redirect_url, redirect_count=row.redirect_count or 0,
                        previous_url=row.previous_url)


def _entry(row: t.FeedEntry) -> FeedEntry:
    return FeedEntry(guid=row.guid, link=row.raw_link, title=row.title, summary_html=row.summary_html,
                     content_html=row.content_html, published=row.published, enclosure=row.enclosure,
                     author=row.author)


def stored_item(row: t.Item, source_name: str, copies: int = 1, canonical_id: int | None = None) -> StoredItem:
    """An items row (its source's name, its cluster's size and canonical copy) as the plain value readers get."""
    return StoredItem(
        article_id=row.id, feed_item_id=row.feed_entry_id, source_id=row.source_id, title=row.title,
        date=row.date, draft=row.draft, summary=row.summary, description=row.description,
        source_link=row.source_link, enclosure=row.enclosure, url=row.url, qrcode=row.qrcode,
        source=source_name, body_html=row.body_html, body_text=row.body_text,
        method=row.extraction_method, failure=row.failure_reason, created_at=row.created_at,
        updated_at=row.updated_at,
        promo=_promo(row), trail=row.extraction_trail, read_more_url=row.read_more_url,
        origin_article_id=row.origin.article_id if row.origin else None,
        origin_feed_item_id=row.origin.feed_item_id if row.origin else None,
        cluster_id=row.cluster_id, copies=copies, canonical=canonical_id == row.id, match=_match(row),
    )


def _promo(row) -> PromoResult | None:
    """The stored classification of an items row (or a row of its promo columns)."""
    if row.promo_label is None:
        return None
    layout = row.boilerplate or {}
    return PromoResult(
        label=row.promo_label, promo_score=row.promo_score or 0.0, pr_score=row.pr_score or 0.0,
        reasons=tuple(Reason(**r) for r in row.promo_reasons or ()),
        boilerplate=tuple(Span(*b) for b in layout.get("spans", ())),
        tickers=tuple(row.tickers or ()),
        lead_end=layout.get("lead_end", 0), tail_start=layout.get("tail_start", 0),
        summary_boilerplate=tuple(Span(*b) for b in layout.get("summary_spans", ())),
    )


def _match(row: t.Item) -> Match | None:
    if row.match_method is None:
        return None
    return Match(row.match_method, row.match_similarity or 0.0, row.matched_item_id or 0)
