"""Reading the store at size: full-text search latency, filtered listing, and Hugo export throughput.

Fills a fresh database with N synthetic items (words drawn from a fixed vocabulary, so the figures are
repeatable), then prints: insert rate (FTS triggers included), median/p95 latency of ranked searches
and of filtered listings, and the time of a full Hugo export and of the idempotent re-export.

    python bench/reading.py [--items 5000] [--db sqlite:///var/bench-reading.db | postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.export import export_hugo  # noqa: E402
from ingest.model import EntryKeys, FeedEntry, Item, ItemQuery  # noqa: E402
from store import db, queries, repository  # noqa: E402

WORDS = ("lithium battery storage grid solar wind contract quarterly revenue growth shares nasdaq otc "
         "mining copper nickel cobalt graphite anode cathode vehicle charging utility megawatt funding "
         "venture startup acquisition merger guidance earnings dividend pipeline clinical trial drug "
         "approval patent platform software cloud security network semiconductor chip supply demand").split()
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
FILLER = 4000  # pseudo-words: texts follow a Zipf-like word distribution, the topic words are rarer
SEARCHES = ("lithium", "copper mining", "clinical trial approval", "solar grid contract", "semiconductor")


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    filler = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(FILLER)]
    words = filler[:200] + list(WORDS) + filler[200:]
    return words, [1 / (rank + 1) for rank in range(len(words))]


def synthetic(n: int, rng: random.Random, vocab: tuple[list[str], list[float]]) -> Item:
    words, weights = vocab
    title = " ".join(rng.choices(words, weights, k=8)).capitalize()
    body = "\n\n".join(" ".join(rng.choices(words, weights, k=60)) for _ in range(5))
    link = f"https://wire.example/news/{n}"
    entry = FeedEntry(guid=f"g{n}", link=link, title=title)
    return Item(keys=EntryKeys(f"g{n}", link), entry=entry, title=title, date=T0 + timedelta(minutes=n),
                draft=False, summary=body[:200], description=body[:120], source_link=link, enclosure="",
                slug=f"{T0 + timedelta(minutes=n):%Y-%m-%d}-item-{n}", source="", body_html=f"<p>{body}</p>",
                body_text=body, method="bench")


def timed(fn, repeat: int = 20) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--db", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="presswire-bench-"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    engine = db.make_engine(url)
    db.ensure_schema(engine)
    sessions = db.session_factory(engine)
    rng = random.Random(7)
    vocab = vocabulary(rng)
    with sessions.begin() as s:
        source = repository.add_source(s, "https://wire.example/feed", "Bench Wire", T0)[0].id
    start = time.perf_counter()
    for first in range(0, args.items, 500):
        batch = [synthetic(n, rng, vocab) for n in range(first, min(first + 500, args.items))]
        with sessions.begin() as s:
            repository.save_items(s, source, batch, now=T0, qrcode_prefix="qrcodes/")
    insert_s = time.perf_counter() - start
    print(f"database: {engine.dialect.name}, {args.items} items, inserted in {insert_s:.1f} s "
          f"({args.items / insert_s:.0f} items/s through repository.save_items, search index included)")

    def run(query: ItemQuery):
        with sessions.begin() as s:
            return queries.find_items(s, query)

    for text in SEARCHES:
        with sessions.begin() as s:
            hits = queries.count_items(s, ItemQuery(search=text))
        median, p95 = timed(lambda: run(ItemQuery(search=text, limit=50)))
        print(f"search {text!r:28} {hits:6} hits  top 50 ranked: median {median:6.1f} ms  p95 {p95:6.1f} ms")
    window = ItemQuery(since=T0 + timedelta(minutes=args.items // 2), until=T0 + timedelta(minutes=args.items // 2 + 600))
    median, p95 = timed(lambda: run(window))
    print(f"list  10-hour date window, newest 50:            median {median:6.1f} ms  p95 {p95:6.1f} ms")
    median, p95 = timed(lambda: run(ItemQuery(limit=50, offset=args.items // 2)))
    print(f"list  page at offset {args.items // 2}:                      median {median:6.1f} ms  p95 {p95:6.1f} ms")

    everything = run(ItemQuery(limit=None))
    out = tmp / "content"
    for label in ("first export", "re-export (unchanged)"):
        start = time.perf_counter()
        result = export_hugo(everything, out, qrcodes=False)
        took = time.perf_counter() - start
        print(f"hugo {label:22} {len(everything)} items in {took:.1f} s ({len(everything) / took:.0f} items/s): "
              f"{result.written} written, {result.unchanged} unchanged")
    engine.dispose()


if __name__ == "__main__":
    main()
