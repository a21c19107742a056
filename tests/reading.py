"""Helpers for the reading tests (search, export, Atom, API, web): a store with items in it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from ingest.model import EntryKeys, FeedEntry, Item, PromoResult, Reason
from store import db, repository
from store import tables as t

T0 = datetime(2025, 5, 15, 12, 0, tzinfo=timezone.utc)


def make_item(n: int, title: str, *, body: str = "", summary: str = "", date: datetime | None = None,
              link: str | None = None, slug: str | None = None, promo: PromoResult | None = None) -> Item:
    link = link or f"https://wire.example/news/{n}"
    body = body or f"Body of item {n}."
    entry = FeedEntry(guid=f"g{n}", link=link, title=title, summary_html=summary)
    return Item(keys=EntryKeys(f"g{n}", link), entry=entry, title=title, date=date or T0 + timedelta(hours=n),
                draft=False, summary=summary or f"Summary {n}.", description=f"Description {n}.", source_link=link,
                enclosure="", slug=slug or f"2025-05-15-item-{n}", source="", body_html=f"<p>{body}</p>",
                body_text=body, method="feed", promo=promo)


def promo(label: str, tickers: tuple[str, ...] = (), match: str = "may receive compensation") -> PromoResult:
    """A classification as ingest.promo would store it, with one reason."""
    reason = Reason(rule="compensation_disclosure", score="promo", weight=10.0, match=match, start=0,
                    end=len(match), field="text")
    return PromoResult(label=label, promo_score=10.0 if label == "promotional" else 0.5, pr_score=1.0,
                       reasons=(reason,), boilerplate=(), tickers=tickers, lead_end=0, tail_start=0)


def open_store(url: str):
    engine = db.make_engine(url)
    db.ensure_schema(engine)
    return engine, db.session_factory(engine)


def add_source(sessions, url: str = "https://wire.example/feed", name: str = "Example Wire") -> int:
    with sessions.begin() as s:
        return repository.add_source(s, url, name, T0)[0].id


def save(sessions, source_id: int, items: list[Item], now: datetime = T0, prefix: str = "qrcodes/",
         dedup: bool = False) -> list[int]:
    """Store items; with `dedup`, through the real dedup policy (copies join their story's cluster)."""
    judge = None
    if dedup:
        from ingest.dedup import Deduplicator
        judge = Deduplicator()
        items = [replace(i, fingerprint=judge.fingerprint(i)) for i in items]
    with sessions.begin() as s:
        result = repository.save_items(s, source_id, items, now=now, qrcode_prefix=prefix, judge=judge)
    return [article_id for article_id, _url, _link in result.saved]


def set_columns(sessions, article_id: int, **values) -> None:
    """Write raw column values, as an importer or an older presswire might have stored them."""
    with sessions.begin() as s:
        s.execute(update(t.Item).where(t.Item.id == article_id).values(**values))


__all__ = ["T0", "make_item", "promo", "open_store", "add_source", "save", "set_columns", "replace", "LiveServer", "STORY"]


class LiveServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread (a real HTTP server, like `presswire serve`)."""

    def __init__(self, app):
        import socket

        import uvicorn
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))

    def __enter__(self) -> "LiveServer":
        import threading
        import time
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


STORY = ("Harbor Grid Corp. today announced a twelve year agreement to supply long duration storage to the "
         "northern utility cooperative, covering four sites and a combined capacity of one hundred and twenty "
         "megawatt hours. Construction starts in the spring and the first site enters service next winter, "
         "the company said in a statement released before the market opened on Thursday morning.")
