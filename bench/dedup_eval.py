"""Duplicate detection: precision/recall on fixtures/dedup/pairs.jsonl, and the
cost of a near-duplicate lookup at 10k, 100k and 1M stored fingerprints in SQLite.

    PYTHONPATH=. python bench/dedup_eval.py                # accuracy + lookup (~2-4 min)
    PYTHONPATH=. python bench/dedup_eval.py --accuracy     # accuracy only (seconds)
    PYTHONPATH=. python bench/dedup_eval.py --sweep        # accuracy over a threshold grid
    PYTHONPATH=. python bench/dedup_eval.py --lookup --sizes 10000,100000,1000000
    PYTHONPATH=. python bench/dedup_eval.py --fingerprint  # CPU time per item
    PYTHONPATH=. python bench/dedup_eval.py --identity merge-audit --texts 5000

Accuracy: each pair is decided the way the store decides a new item against a
stored one: equal canonical URL, else ``ingest.dedup.match`` (content hash,
title + date fallback for short texts, LSH band overlap then exact shingle
overlap). A pair whose texts never share a band key is a miss, so LSH recall is
part of the figure.

Lookup: a real SQLite file with ``item_bands`` exactly as store/tables.py
declares it and an ``items`` stand-in with the columns and indexes the lookup
reads (DDL compiled from the ORM), opened with the app's connection settings
(store.db.make_engine: WAL, default page cache; ``--pragma`` tries others).
Synthetic fingerprints (random keys) are bulk-loaded; per size we time the real
``store.repository._find_copy`` in a write transaction, as ``save_items`` runs it:
CPU time of the whole call (SQLAlchemy included) and of its part inside the
SQLite driver. "New items" are never-seen random fingerprints, a new story's
(cold index pages); "repeated items" are the fixture texts looked up 6 times
(warm pages). Verifying the candidates found costs the same at any size.

Fingerprint: CPU time (``time.process_time``) of ``Deduplicator.fingerprint``
(what every new item pays) and of ``prepare`` (also the shingle sets, as
verification needs), per fixture text. Identity: every stored field
(content hash, title key, band keys, shingle count, wire) and every ``prepare``
output of this ``ingest/dedup.py`` compared with the one at a git revision, over
the fixture texts and seeded synthetic texts (Unicode, punctuation, datelines,
tails, 0 to 700 words): stored band keys depend on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import tomllib
import time
import types
from collections import Counter
from pathlib import Path

from ingest.dedup import (
    DedupParams,
    Deduplicator,
    Doc,
    Match,
    match,
    normalize_text,
    prepare,
    shingles_of,
    similarity,
    strip_wrapper,
    verify,
)
from ingest.model import EntryKeys, FeedEntry, Fingerprint, Item
from ingest.urls import canonicalize

PAIRS = Path(__file__).resolve().parent.parent / "fixtures" / "dedup" / "pairs.jsonl"
BASE = PAIRS.with_name("base_releases.toml")


# --- accuracy -----------------------------------------------------------------------------


def load_pairs(path: Path = PAIRS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def as_doc(side: dict, params: DedupParams) -> Doc:
    day = dt.date.fromisoformat(side["published"][:10])
    return prepare(side["title"], side["text"], day, params)


def decide(row: dict, params: DedupParams) -> Match | None:
    if canonicalize(row["a"]["url"]) == canonicalize(row["b"]["url"]):
        return Match("url", 1.0, 0)
    return match(as_doc(row["b"], params), as_doc(row["a"], params), 0, params)


def score(rows: list[dict], params: DedupParams) -> dict:
    tp = fp = fn = tn = 0
    methods: Counter[str] = Counter()
    errors = []
    for row in rows:
        found = decide(row, params)
        predicted = found is not None
        if predicted:
            methods[found.method] += 1
        tp += predicted and row["duplicate"]
        fp += predicted and not row["duplicate"]
        fn += (not predicted) and row["duplicate"]
        tn += (not predicted) and not row["duplicate"]
        if predicted != row["duplicate"]:
            errors.append((row, found))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall,
            "methods": methods, "errors": errors}


def explain(row: dict, params: DedupParams) -> str:
    a, b = as_doc(row["a"], params), as_doc(row["b"], params)
    sim = similarity(a, b)
    shared = len(set(a.fingerprint.band_keys) & set(b.fingerprint.band_keys))
    return (f"jaccard={sim.jaccard:.3f} containment={sim.containment:.3f} lead={sim.lead:.2f} "
            f"shared_bands={shared} shingles={a.fingerprint.shingle_count}/{b.fingerprint.shingle_count}")


def print_accuracy(rows: list[dict], params: DedupParams) -> dict:
    result = score(rows, params)
    positives = sum(r["duplicate"] for r in rows)
    print(f"pairs: {len(rows)} ({positives} duplicates, {len(rows) - positives} non-duplicates) from {PAIRS.name}")
    print(f"params: {dataclasses.asdict(params)}")
    print(f"precision {result['precision']:.4f}  recall {result['recall']:.4f}  "
          f"(tp={result['tp']} fp={result['fp']} fn={result['fn']} tn={result['tn']})")
    print("decided by: " + ", ".join(f"{m}={n}" for m, n in sorted(result["methods"].items())))
    for row, found in result["errors"]:
        label = "FALSE POSITIVE" if found else "MISSED"
        print(f"  {label} {row['id']} [{row['kind']}] {explain(row, params)}")
    print_margins(rows, params)
    return result


def print_margins(rows: list[dict], params: DedupParams) -> None:
    """Overlap distribution per kind: the headroom around the thresholds."""
    by_kind: dict[tuple[str, bool], list[tuple[float, float, float]]] = {}
    for row in rows:
        a, b = as_doc(row["a"], params), as_doc(row["b"], params)
        if a.fingerprint.is_short or b.fingerprint.is_short:
            continue
        sim = similarity(a, b)
        by_kind.setdefault((row["kind"], row["duplicate"]), []).append((sim.jaccard, sim.containment, sim.lead))
    print("exact overlap of long-text pairs per kind (min/median/max):")
    for (kind, dup), sims in sorted(by_kind.items(), key=lambda kv: (not kv[0][1], kv[0][0])):
        j = sorted(s[0] for s in sims)
        c = sorted(s[1] for s in sims)
        lead = sorted(s[2] for s in sims)
        print(f"  {'dup' if dup else 'non'} {kind:26s} n={len(sims):3d} "
              f"jaccard {j[0]:.2f}/{statistics.median(j):.2f}/{j[-1]:.2f}  "
              f"containment {c[0]:.2f}/{statistics.median(c):.2f}/{c[-1]:.2f}  "
              f"lead {lead[0]:.2f}/{statistics.median(lead):.2f}/{lead[-1]:.2f}")


def sweep(rows: list[dict], base: DedupParams) -> None:
    """Justify the defaults: verification thresholds, then LSH geometry."""
    sweep_thresholds(rows, base)
    sweep_lsh(rows, base)


def sweep_thresholds(rows: list[dict], base: DedupParams) -> None:
    """Precision/recall of exact verification alone (LSH assumed to find every
    candidate) over a grid; pairs decided by URL or content hash count as found."""
    decided = []
    for row in rows:
        a, b = as_doc(row["a"], base), as_doc(row["b"], base)
        same_url = canonicalize(row["a"]["url"]) == canonicalize(row["b"]["url"])
        if same_url or a.fingerprint.content_hash == b.fingerprint.content_hash:
            decided.append((row["duplicate"], True))
        elif a.fingerprint.is_short or b.fingerprint.is_short:
            decided.append((row["duplicate"], match(b, a, 0, base) is not None))
        else:
            decided.append((row["duplicate"], similarity(a, b)))
    print("verification thresholds (exact overlap only):")
    print("  lead  jaccard  containment  precision  recall")
    for lead in (0.0, 0.6, 0.7, 0.8, 0.9):
        for jt in (0.4, 0.5, 0.6, 0.7):
            for ct in (0.6, 0.7, 0.8, 0.9):
                params = dataclasses.replace(base, lead_threshold=lead, jaccard_threshold=jt, containment_threshold=ct)
                found = [(dup, s if isinstance(s, bool) else verify(s, 0, params) is not None) for dup, s in decided]
                p, r = precision_recall(found)
                mark = "  <- default" if params == base else ""
                print(f"  {lead:4.1f}  {jt:7.1f}  {ct:11.1f}  {p:9.4f}  {r:6.4f}{mark}")


def precision_recall(found: list[tuple[bool, bool]]) -> tuple[float, float]:
    tp = sum(1 for dup, hit in found if dup and hit)
    fp = sum(1 for dup, hit in found if hit and not dup)
    fn = sum(1 for dup, hit in found if dup and not hit)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def sweep_lsh(rows: list[dict], base: DedupParams) -> None:
    """LSH geometry from exact head Jaccard. With MinHash every band of a pair
    with head Jaccard j collides with probability j**rows, independently, so a
    pair becomes a candidate with probability 1 - (1 - j**rows)**bands. Printed:
    that probability averaged over long duplicate pairs not equal by hash (LSH
    recall), over the hard negatives (candidates verification must reject), and
    summed over stored items for a lookup at 1M stored items, using every pair
    of base releases of different companies as the model of unrelated items."""
    pos = [r for r in rows if r["duplicate"]]
    neg = [r for r in rows if not r["duplicate"]]
    print("LSH geometry (shingle size %d), expected from exact head Jaccard:" % base.shingle_size)
    print("  head words  bands x rows  LSH recall on dups  negatives as candidates  false candidates @1M")
    for head in (50, 100, 150, 10**9):
        j_pos = head_jaccards(pos, head, base)
        j_neg = head_jaccards(neg, head, base)
        j_unrelated = unrelated_head_jaccards(head, base)
        for bands, rows_per_band in ((16, 4), (20, 4), (24, 4), (20, 3), (10, 5), (20, 5)):
            def p_cand(j: float) -> float:
                return 1 - (1 - j**rows_per_band) ** bands
            recall = statistics.mean(map(p_cand, j_pos))
            neg_rate = statistics.mean(map(p_cand, j_neg))
            per_million = statistics.mean(map(p_cand, j_unrelated)) * 1_000_000
            label = "all" if head == 10**9 else str(head)
            mark = "  <- default" if (head, bands, rows_per_band) == (base.head_words, base.bands, base.rows) else ""
            print(f"  {label:>10}  {bands:5d} x {rows_per_band:<4d}  {recall:18.4f}  {neg_rate:23.4f}  "
                  f"{per_million:20.2f}{mark}")


def head_set(text: str, head: int, params: DedupParams) -> frozenset[int]:
    words = normalize_text(strip_wrapper(text)).split()
    return shingles_of(words[:head], params.shingle_size)


def head_jaccards(rows: list[dict], head: int, params: DedupParams) -> list[float]:
    """Head Jaccard of the long pairs that reach the LSH step (not equal by hash)."""
    out = []
    for row in rows:
        a, b = as_doc(row["a"], params), as_doc(row["b"], params)
        if a.fingerprint.is_short or b.fingerprint.is_short:
            continue
        if a.fingerprint.content_hash == b.fingerprint.content_hash:
            continue
        out.append(jaccard(head_set(row["a"]["text"], head, params), head_set(row["b"]["text"], head, params)))
    return out


def unrelated_head_jaccards(head: int, params: DedupParams) -> list[float]:
    data = tomllib.loads(BASE.read_text(encoding="utf-8"))
    releases = [(r["company"], head_set(r["body"], head, params)) for r in data["release"]]
    return [jaccard(x[1], y[1]) for i, x in enumerate(releases) for y in releases[i + 1 :] if x[0] != y[0]]


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


# --- lookup cost --------------------------------------------------------------------------

# The items columns store.repository._find_copy reads; the stand-in table has only these (the real one needs a
# source and a feed entry per row), with the indexes store/tables.py declares on them.
LOOKUP_COLUMNS = ("id", "cluster_id", "title", "body_text", "date", "content_hash", "title_key", "shingle_count",
                  "band_count")


def schema() -> list[str]:
    """item_bands exactly as store/tables.py declares it, and the items stand-in, as DDL compiled from the ORM."""
    from sqlalchemy import Column, MetaData, Table
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from store import tables as t

    items = t.Item.__table__
    standin = Table("items", MetaData(), *(Column(c, items.c[c].type, primary_key=items.c[c].primary_key,
                                                   nullable=items.c[c].nullable) for c in LOOKUP_COLUMNS))
    indexes = [CreateIndex(ix) for ix in items.indexes if {c.name for c in ix.columns} <= set(LOOKUP_COLUMNS)]
    ddl = [CreateTable(t.ItemBand.__table__), CreateTable(standin), *indexes]
    return [str(stmt.compile(dialect=sqlite.dialect())).strip() for stmt in ddl]


def fill(conn: sqlite3.Connection, start: int, stop: int, bands: int, rng: random.Random) -> None:
    """Insert synthetic items start..stop-1: random hashes and band keys, dates over a year, staged in a
    plain table and moved into item_bands in key order (fast bulk load: full pages, the best case for size)."""
    conn.execute("CREATE TEMP TABLE staging (band_key BIGINT, item_day INTEGER, item_id INTEGER)")
    chunk = 50_000
    first_day = (dt.date(2025, 1, 1) - dt.date(1970, 1, 1)).days  # item_day: days since 1970-01-01
    for first in range(start, stop, chunk):
        ids = range(first + 1, min(first + chunk, stop) + 1)
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((i, i, "t", "", f"{dt.datetime(2025, 1, 1) + dt.timedelta(minutes=i % 525_600)}.000000",
              rng.randbytes(16).hex(), rng.randbytes(16).hex(), 300, bands) for i in ids),
        )
        keys = struct.unpack(f"<{len(ids) * bands}q", rng.randbytes(8 * len(ids) * bands))
        owners = ((first_day + i % 525_600 // 1440, i) for i in ids for _ in range(bands))
        conn.executemany("INSERT INTO staging VALUES (?, ?, ?)", ((key, day, i) for key, (day, i) in zip(keys, owners)))
    conn.execute("INSERT INTO item_bands SELECT band_key, item_day, item_id FROM staging "
                 "ORDER BY band_key, item_day, item_id")
    conn.execute("DROP TABLE staging")
    conn.commit()


def new_items(n: int, params: DedupParams, seed: int) -> list[Item]:
    """Items no stored item resembles: random content hash, title key and band keys, as a new story's."""
    rng = random.Random(seed)
    item = as_item({"title": "t", "text": "", "url": "https://example.com/x", "source": "s",
                    "published": "2025-06-01T12:00:00Z"})
    return [dataclasses.replace(item, fingerprint=Fingerprint(
        content_hash=rng.randbytes(16).hex(), title_key=rng.randbytes(16).hex(), shingle_count=300,
        band_keys=struct.unpack(f"<{params.bands}q", rng.randbytes(8 * params.bands)))) for _ in range(n)]


def fixture_items(rows: list[dict], params: DedupParams) -> list[Item]:
    judge = Deduplicator(params)
    items = [as_item(row[side]) for row in rows for side in ("a", "b")]
    items = [dataclasses.replace(item, fingerprint=judge.fingerprint(item)) for item in items]
    return [item for item in items if item.fingerprint is not None and not item.fingerprint.is_short]


def time_find_copy(engine, items: list[Item], judge: Deduplicator) -> tuple[float, float]:
    """CPU microseconds per item of store.repository._find_copy, the lookup save_items runs for each new
    item, and of its part inside the database driver (cursor.execute: SQLite's own work; for an item
    with no match that is all of it, nothing is left to fetch). Each lookup runs as in save_items:
    inside a write transaction, opened by an INSERT (rolled back after, so the file stays the same)."""
    from sqlalchemy import event, text
    from sqlalchemy.orm import Session

    from store import repository

    clock = {"on": False, "start": 0.0, "driver": 0.0}

    def before(*_args) -> None:
        clock["start"] = time.process_time()

    def after(*_args) -> None:
        if clock["on"]:
            clock["driver"] += time.process_time() - clock["start"]

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    total = 0.0
    with Session(engine) as s:
        for item in items:
            s.execute(text("INSERT INTO bench_writes (n) VALUES (1)"))  # as save_items' feed entry INSERT
            clock["on"], start = True, time.process_time()
            repository._find_copy(s, item, judge)
            total += time.process_time() - start
            clock["on"] = False
            s.rollback()
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    return total / len(items) * 1e6, clock["driver"] / len(items) * 1e6


def open_engine(path: Path, pragmas: list[str]):
    """The app's engine (store.db.make_engine: WAL, synchronous=NORMAL, foreign keys, busy timeout, default
    page cache), plus any extra pragmas being tried (--pragma)."""
    from sqlalchemy import event

    from store import db

    engine = db.make_engine(f"sqlite:///{path}")
    if pragmas:
        event.listen(engine, "connect", lambda conn, _record: [conn.execute(f"PRAGMA {p}") for p in pragmas])
    return engine


def run_lookup(rows: list[dict], params: DedupParams, sizes: list[int], path: Path, pragmas: list[str],
               n_new: int = 1000) -> None:
    judge = Deduplicator(params)
    warm_items = fixture_items(rows, params)
    t0 = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-131072;")
    for ddl in schema():
        conn.execute(ddl)
    conn.execute("CREATE TABLE bench_writes (n INTEGER)")
    rng = random.Random(7)
    stored = 0
    new, warm = {}, {}
    print(f"SQLite file {path}; {params.bands} band keys per item; app connection settings"
          f"{' + ' + ', '.join(pragmas) if pragmas else ''}; CPU time per lookup (store.repository._find_copy: "
          "whole / inside the SQLite driver)")
    for size in sorted(sizes):
        t1 = time.perf_counter()
        fill(conn, stored, size, params.bands, rng)
        stored = size
        load_s = time.perf_counter() - t1
        conn.close()
        engine = open_engine(path, pragmas)
        time_find_copy(engine, new_items(n_new, params, seed=-size), judge)  # a running process: upper levels cached
        runs = sorted(time_find_copy(engine, new_items(n_new, params, seed=size + r), judge) for r in range(3))
        new[size] = runs[1]
        time_find_copy(engine, warm_items, judge)  # loads their pages
        warm[size] = sorted(time_find_copy(engine, warm_items, judge) for _ in range(5))[2]
        engine.dispose()
        conn = sqlite3.connect(path)
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-131072;")
        mb = path.stat().st_size / 1e6
        print(f"  {size:>9,d} stored: new items {new[size][0]:6.1f} / {new[size][1]:5.1f} us;  "
              f"repeated items {warm[size][0]:6.1f} / {warm[size][1]:5.1f} us  "
              f"(db {mb:,.0f} MB, loaded in {load_s:.0f} s, load {os.getloadavg()[0]:.1f})")
    conn.close()
    lo, hi = min(new), max(new)
    print(f"ratio {hi:,d} / {lo:,d} (target <= 1.5x): new items {new[hi][0] / new[lo][0]:.2f}x whole, "
          f"{new[hi][1] / new[lo][1]:.2f}x in SQLite; repeated items {warm[hi][0] / warm[lo][0]:.2f}x whole, "
          f"{warm[hi][1] / warm[lo][1]:.2f}x in SQLite; total {time.perf_counter() - t0:.0f} s")
    print(f"(new items: {n_new} never-seen fingerprints per run, median of 3 runs, as a new story's keys: their "
          f"index pages are cold; repeated items: the {len(warm_items)} long fixture texts, looked up 6 times, "
          "so their pages are warm)")


def time_fingerprint(rows: list[dict], params: DedupParams, repeats: int = 7) -> dict[str, float]:
    """CPU microseconds per fixture text (best of ``repeats`` passes): ``Deduplicator.fingerprint``
    on an Item, as the pipeline calls it, and ``prepare`` (keys and shingle sets)."""
    judge = Deduplicator(params, wire_domains=frozenset({"prnewswire.com", "globenewswire.com"}))
    sides = [row[s] for row in rows for s in ("a", "b")]
    items = [as_item(side) for side in sides]
    calls = {"Deduplicator.fingerprint": lambda: [judge.fingerprint(item) for item in items],
             "prepare (keys + shingle sets)": lambda: [prepare(s["title"], s["text"], None, params) for s in sides]}
    result = {}
    for name, call in calls.items():
        call()  # warm-up: permutation tables, regexes
        runs = []
        for _ in range(repeats):
            start = time.process_time()
            call()
            runs.append((time.process_time() - start) / len(sides) * 1e6)
        result[name] = min(runs)
    return result


def as_item(side: dict) -> Item:
    day = dt.datetime.fromisoformat(side["published"].replace("Z", "+00:00"))
    entry = FeedEntry(guid=side["url"], link=side["url"], title=side["title"])
    return Item(keys=EntryKeys(side["url"], side["url"]), entry=entry, title=side["title"], date=day, draft=False,
                summary="", description="", source_link=side["url"], enclosure="", slug="x", source=side["source"],
                body_html="", body_text=side["text"], method="bench")


def print_fingerprint(rows: list[dict], params: DedupParams) -> None:
    print(f"fingerprint CPU time per item, best of 7 passes over {2 * len(rows)} fixture texts "
          f"(load {os.getloadavg()[0]:.2f}):")
    for name, us in time_fingerprint(rows, params).items():
        print(f"  {name:32s} {us:8.1f} us")


# --- identity with an earlier version -----------------------------------------------------

_EXTRA_WORDS = ("Straße", "ﬁnancial", "ＡＢＣ", "１２３", "naïve", "café", "日本語", "İstanbul", "snake_case",
                "38%", "R&D", "e\u0301", "—", "“quoted”", "‘single’", "$212.4M", "10-K", "U.S.", "ǅ", "Ⅻ",
                "x²", "½", "\u00a0", "\u2009", "\u3000", "🚀", "#1", "A&B", "(NASDAQ:", "ACME)", "--", "/PRNewswire/")
_TAILS = ("About Acme Corp.", "Media Contact:", "###", "- 30 -", "SOURCE Acme Corp.", "Forward-Looking Statements",
          "About the Company. Acme makes widgets.", "Disclaimer: third-party content.", "Related Stories")
_DATELINES = ("RENO, Nev., March 4, 2025 /PRNewswire/ -- ", "AUSTIN, Texas--(BUSINESS WIRE)--",
              "NEW YORK, May 15, 2025 (GLOBE NEWSWIRE) -- ", "LONDON, May 15, 2025 -- ", "")


def synthetic_texts(n: int, seed: int = 5) -> list[tuple[str, str]]:
    """``n`` seeded (title, text) pairs: words of the base releases mixed with Unicode, symbols and
    punctuation, in lines, with datelines and tail headings; 0 to 700 words (short and long)."""
    rng = random.Random(seed)
    data = tomllib.loads(BASE.read_text(encoding="utf-8"))
    vocab = sorted({w for r in data["release"] for w in r["body"].split()}) + list(_EXTRA_WORDS)
    texts = []
    for _ in range(n):
        words = [rng.choice(vocab) for _ in range(rng.choice((0, 3, 30, 45, 120, 300, 700)) + rng.randrange(10))]
        lines, i = [], 0
        while i < len(words):
            step = rng.randrange(1, 40)
            lines.append(" ".join(words[i : i + step]))
            i += step
            if rng.random() < 0.05:
                lines.append(rng.choice(_TAILS))
        text = rng.choice(_DATELINES) + "\n".join(lines)
        texts.append((" ".join(rng.choice(vocab) for _ in range(rng.randrange(0, 12))), text))
    return texts


def load_revision(rev: str) -> types.ModuleType:
    """ingest/dedup.py as it was at git revision ``rev``, as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{rev}:ingest/dedup.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"dedup_at_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:ingest/dedup.py", "exec"), module.__dict__)
    return module


def check_identity(rows: list[dict], params: DedupParams, rev: str, n: int) -> bool:
    """Every fingerprint field and ``prepare`` output equal to those of ``rev``'s ingest/dedup.py."""
    import ingest.dedup as new

    old = load_revision(rev)
    known = {field.name for field in dataclasses.fields(old.DedupParams)}  # settings added since are left out
    old_params = old.DedupParams(**{k: v for k, v in dataclasses.asdict(params).items() if k in known})
    fixtures = [(side["title"], side["text"], side["url"]) for row in rows for side in (row["a"], row["b"])]
    texts = fixtures + [(title, text, "https://www.prnewswire.com/x") for title, text in synthetic_texts(n)]
    wires = frozenset({"prnewswire.com"})
    judges = old.Deduplicator(old_params, wire_domains=wires), new.Deduplicator(params, wire_domains=wires)
    mismatches, kinds, short, empty = 0, Counter(), 0, 0
    for title, text, url in texts:
        item = as_item({"title": title, "text": text, "url": url, "source": "s", "published": "2025-03-04T00:00:00Z"})
        before, after = (judge.fingerprint(item) for judge in judges)
        a, b = (m.prepare(title, text, None, p) for m, p in ((old, old_params), (new, params)))
        same_doc = (a.shingles, a.lead, a.short) == (b.shingles, b.lead, b.short) and \
            dataclasses.astuple(a.fingerprint) == dataclasses.astuple(b.fingerprint)
        if before != after or not same_doc:
            mismatches += 1
            kind = difference(before, after, a, b, new.normalized_words(text))
            kinds[kind] += 1
            if kinds[kind] <= 2:
                print(f"  MISMATCH ({kind}) {title!r}: {before} != {after}")
        short += after is not None and after.is_short
        empty += after is None
    print(f"identity with {rev}:ingest/dedup.py over {len(fixtures)} fixture texts and {n} synthetic texts "
          f"({short} short, {empty} empty): {mismatches} mismatches (fingerprint: content_hash, title_key, band_keys, "
          f"shingle_count, wire; prepare: shingles, lead, short)" + "".join(f"; {n} {k}" for k, n in kinds.items()))
    return mismatches == 0


def difference(before: Fingerprint | None, after: Fingerprint | None, a: Doc, b: Doc, words: list[str]) -> str:
    """How two versions' outputs for one text differ."""
    from ingest.dedup import shingle_words

    if before is not None and after is not None and before.band_keys != after.band_keys and \
            after.band_keys[: len(before.band_keys)] == before.band_keys and \
            before == dataclasses.replace(after, band_keys=before.band_keys):
        return "only add band keys after the same ones"
    if before == after and (a.shingles, a.short) == (b.shingles, b.short):
        return "differ only in the lead"
    if shingle_words(words) != words:
        return "shingled by character (Chinese or Japanese)"
    return "differ otherwise"


def main() -> int:
    parser = argparse.ArgumentParser(description="dedup precision/recall and lookup cost")
    parser.add_argument("--accuracy", action="store_true", help="only precision/recall")
    parser.add_argument("--lookup", action="store_true", help="only the lookup benchmark")
    parser.add_argument("--sweep", action="store_true", help="precision/recall over a parameter grid")
    parser.add_argument("--fingerprint", action="store_true", help="only the fingerprint CPU time")
    parser.add_argument("--identity", metavar="REV", help="compare every output with REV's ingest/dedup.py")
    parser.add_argument("--texts", type=int, default=3000, help="synthetic texts for --identity")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--db", default="", help="SQLite file (default: a temporary file, removed after)")
    parser.add_argument("--pragma", action="append", default=[], help="extra SQLite pragma for the lookups "
                        "(e.g. mmap_size=1073741824), to try connection settings beyond the app's")
    args = parser.parse_args()
    rows = load_pairs()
    params = DedupParams()
    if args.sweep:
        sweep(rows, params)
        return 0
    if args.identity:
        return 0 if check_identity(rows, params, args.identity, args.texts) else 1
    if args.fingerprint:
        print_fingerprint(rows, params)
        return 0
    ok = True
    if not args.lookup:
        result = print_accuracy(rows, params)
        ok = result["precision"] >= 0.98 and result["recall"] >= 0.95
    if not args.accuracy and not args.lookup:
        print_fingerprint(rows, params)
    if not args.accuracy:
        sizes = [int(s) for s in args.sizes.split(",")]
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
            path = Path(args.db) if args.db else Path(tmp) / "dedup_bench.sqlite"
            run_lookup(rows, params, sizes, path, args.pragma)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
