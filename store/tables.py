"""SQLAlchemy 2.0 mapped classes: the database schema. Uniqueness is enforced here, by constraints.

    sources        one row per feed; its poll state lives here, so restarts and other workers see it
    feed_entries   what a feed said about an entry, kept as read (replayable); unique per source by
                   GUID and by canonical link
    items          the normalized document in the seed schema, one per feed entry, with its
                   promotional-content label, scores, reasons, tickers and boilerplate spans; each
                   belongs to a cluster and carries its dedup keys and how it joined
    clusters       one story: all stored copies of one press release; names its canonical copy
    item_bands     the LSH band keys of each item's MinHash signature (near-duplicate lookup)
    item_origins   an imported document's ids in the system it came from (provenance), one per such item
    backfill_runs / backfill_progress
                   one row per distinct `presswire backfill` (keyed by a hash of its arguments) and one
                   per unit of it finished (a feed page, a sitemap, an input), so a rerun resumes
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String,
                        Text, UniqueConstraint, TypeDecorator)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: presswire stores aware UTC datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | paused | retired | archive
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the schedule (revision 0007): the source's own interval (config or `sources add --interval`), the
    # interval its last poll chose, how that poll ended, when the feed was last fetched unconditionally,
    # a permanent redirect seen on consecutive polls (moved to after [poll] redirect_repeats), and the
    # URL the source had before such a move (so the config's old URL still names it)
    poll_interval: Mapped[float | None] = mapped_column(Float)
    interval: Mapped[float | None] = mapped_column(Float)
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_full_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redirect_url: Mapped[str | None] = mapped_column(Text)
    redirect_count: Mapped[int] = mapped_column(Integer, server_default="0")
    previous_url: Mapped[str | None] = mapped_column(Text, index=True)


class FeedEntry(Base):
    __tablename__ = "feed_entries"
    __table_args__ = (
        UniqueConstraint("source_id", "guid"),
        UniqueConstraint("source_id", "link"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    guid: Mapped[str | None] = mapped_column(Text)  # as the feed gave it (or a content hash)
    link: Mapped[str | None] = mapped_column(Text)  # canonicalized
    raw_link: Mapped[str | None] = mapped_column(Text)  # as the feed gave it
    title: Mapped[str] = mapped_column(Text, default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enclosure: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_source_id_date", "source_id", "date"),
        Index("ix_items_promo_label_date", "promo_label", "date"),  # a label's newest items, without a sort
        Index("ix_items_title_key_date", "title_key", "date"),  # a title's items near a date (short-text dedup)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_entry_id: Mapped[int] = mapped_column(ForeignKey("feed_entries.id", ondelete="CASCADE"), unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    date: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    source_link: Mapped[str] = mapped_column(Text, default="")
    enclosure: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, unique=True)  # "YYYY-MM-DD-slug", unique so exports never collide
    qrcode: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    extraction_method: Mapped[str] = mapped_column(String(32), default="")  # fast, fallback, selector, feed
    extraction_trail: Mapped[str] = mapped_column(Text, default="")  # each extraction step and what it gave
    read_more_url: Mapped[str | None] = mapped_column(Text)  # the full article followed from a teaser page
    failure_reason: Mapped[str | None] = mapped_column(Text)  # why the page gave no body
    page_attempts: Mapped[int] = mapped_column(Integer, default=1)
    retry_page: Mapped[bool] = mapped_column(Boolean, default=False)  # try the page again on a later poll
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # ingest.promo: NULL for items stored before classification existed
    promo_label: Mapped[str | None] = mapped_column(String(16))  # promotional|press_release|news
    promo_score: Mapped[float | None] = mapped_column(Float)
    pr_score: Mapped[float | None] = mapped_column(Float)
    promo_reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # [{rule, score, weight, match, ...}]
    tickers: Mapped[list[str] | None] = mapped_column(JSON)  # ["NASDAQ:QS", ...]
    boilerplate: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # spans of body_text / feed summary
    # dedup (ingest/dedup.py): keys, and how the item joined its cluster
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    content_hash: Mapped[str | None] = mapped_column(String(32), index=True)
    title_key: Mapped[str | None] = mapped_column(String(32))
    shingle_count: Mapped[int] = mapped_column(Integer, default=0)
    band_count: Mapped[int] = mapped_column(Integer, default=0)  # rows in item_bands; 0 for short texts
    wire: Mapped[bool] = mapped_column(Boolean, default=False)  # from an original wire (canonical preference)
    match_method: Mapped[str | None] = mapped_column(String(16))  # content_hash, jaccard, containment, title_date
    match_similarity: Mapped[float | None] = mapped_column(Float)
    matched_item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="SET NULL"), index=True)

    origin: Mapped[ItemOrigin | None] = relationship(lazy="selectin", uselist=False)


class ItemOrigin(Base):
    """Provenance of an imported document (backfill --dir): its ids in the system it came from, and the file.
    A table of its own: most items have none, and the items table stays as the other stages know it."""

    __tablename__ = "item_origins"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    article_id: Mapped[int | None] = mapped_column(Integer)
    feed_item_id: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(Text)


class BackfillRun(Base):
    __tablename__ = "backfill_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the normalized arguments
    arguments: Mapped[str] = mapped_column(Text)  # the normalized arguments, JSON
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the last run's start (or its finish)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BackfillProgress(Base):
    __tablename__ = "backfill_progress"
    __table_args__ = (UniqueConstraint("run_id", "unit_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("backfill_runs.id", ondelete="CASCADE"))
    unit_key: Mapped[str] = mapped_column(String(64))  # sha256 of unit
    unit: Mapped[str] = mapped_column(Text)  # "page <url>", "sitemap <url>", "input <n>", ...
    detail: Mapped[str] = mapped_column(Text, default="")  # JSON: what a resumed run needs (a page's next links)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Cluster(Base):
    """One story and its copies. The canonical copy is the earliest one from an original wire, else the
    earliest one (ties: the first stored); `copies` counts the cluster's items."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    canonical_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL", use_alter=True), unique=True)
    copies: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ItemBand(Base):
    """LSH band keys, with the item's day next to the key: a lookup seeks each key at the new item's day in
    this primary key and reads the nearest days outward (store.repository._band_candidates), so the copies
    it finds are those dated near it, whatever the order the items were stored in."""

    __tablename__ = "item_bands"
    __table_args__ = {"sqlite_with_rowid": False}

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # items.date's UTC calendar day, as days since 1970-01-01 (the judge compares calendar days)
    item_day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False, index=True)  # deleting an item (0009)
