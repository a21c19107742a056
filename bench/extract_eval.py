"""Body-extraction quality and speed on fixtures/extract, ours against plain trafilatura.

For every page in the manifest it computes a token-level body F1 (bag of words: precision
and recall of the extracted words against the expected text) and, per extractor, pages per
second over the whole set in this one process. "plain" is `trafilatura.extract(html, url=url)`
with default settings; "ours" is any callable named as MODULE:FUNCTION with the signature

    ours(html: str, url: str, fetch: Callable[[str], str | None]) -> str | object with .text

`fetch(url)` returns the HTML of another page of the set (the read-more targets of the
wire_teaser pages) or None, standing in for the network; the time spent following a link is
part of ours' timing. For wire_teaser pages the expected text is the full story at the
read-more target, so an extractor that stops at the teaser scores a low recall there.

    PYTHONPATH=. python bench/extract_eval.py                       # ours = presswire (builtin:presswire)
    PYTHONPATH=. python bench/extract_eval.py --ours builtin:fast   # a trafilatura variant instead
    PYTHONPATH=. python bench/extract_eval.py --pages               # per-page figures as well
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import trafilatura

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = ROOT / "fixtures" / "extract" / "manifest.json"
DEFAULT_OURS = "builtin:presswire"
TOKEN = re.compile(r"\w+")
F1_TARGET_NOTE = "F1 not below plain on any group"
SPEED_TARGET = 1.3

Fetch = Callable[[str], "str | None"]
Extractor = Callable[[str, str, Fetch], object]


@dataclass(frozen=True)
class Page:
    file: str
    group: str
    url: str
    html: str
    expected: str
    meta: dict


def load_pages(manifest_path: Path) -> list[Page]:
    doc = json.loads(manifest_path.read_text(encoding="utf-8"))
    base = manifest_path.parent
    pages = []
    for entry in doc["pages"]:
        meta = {k: entry.get(k) for k in ("title", "date", "image", "canonical", "language", "read_more")}
        pages.append(Page(file=entry["file"], group=entry["group"], url=entry["url"],
                          html=(base / entry["file"]).read_text(encoding="utf-8"),
                          expected=(base / entry["expected_text"]).read_text(encoding="utf-8"), meta=meta))
    return pages


def tokens(text: str | None) -> Counter:
    return Counter(TOKEN.findall((text or "").lower()))


def body_f1(extracted: str | None, expected: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 of extracted against expected text."""
    got, want = tokens(extracted), tokens(expected)
    overlap = sum((got & want).values())
    if not overlap:
        return 0.0, 0.0, 0.0
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def make_fetch(pages: list[Page]) -> Fetch:
    by_url = {_url_key(p.url): p.html for p in pages}
    return lambda url: by_url.get(_url_key(url))


def _url_key(url: str) -> str:
    return url.split("#")[0].rstrip("/").lower()


def plain(html: str, url: str, fetch: Fetch) -> str | None:
    return trafilatura.extract(html, url=url)


def fast_no_comments(html: str, url: str, fetch: Fetch) -> str | None:
    return trafilatura.extract(html, url=url, fast=True, include_comments=False)


def presswire(html: str, url: str, fetch: Fetch) -> object:
    """presswire's extraction as a poll runs it: extract the page, and follow a teaser's link once."""
    from ingest.extract import extract_page, follow_read_more

    page = extract_page(html, url)
    if not page.read_more:
        return page

    def fetch_page(link: str) -> tuple[str, str] | str:
        found = fetch(link)
        return (found, link) if found is not None else "not in the fixture set"
    return follow_read_more(page, page.read_more, fetch_page, extract_page)


BUILTINS: dict[str, Extractor] = {"plain": plain, "fast": fast_no_comments, "presswire": presswire}


def resolve(spec: str) -> Extractor:
    module_name, _, attr = spec.partition(":")
    if module_name == "builtin":
        return BUILTINS[attr]
    return getattr(importlib.import_module(module_name), attr)


def text_of(result: object) -> str | None:
    return result if result is None or isinstance(result, str) else getattr(result, "text", None)


@dataclass(frozen=True)
class Run:
    texts: dict[str, str]
    results: dict[str, object]
    cpu_seconds: float
    wall_seconds: float


def run_interleaved(extractors: dict[str, Extractor], pages: list[Page], fetch: Fetch) -> dict[str, Run]:
    """One pass over the set, every page through each extractor in turn, so that load from
    other processes on the machine falls on all extractors alike. CPU time is this process's."""
    results: dict[str, dict[str, object]] = {n: {} for n in extractors}
    cpu = dict.fromkeys(extractors, 0.0)
    wall = dict.fromkeys(extractors, 0.0)
    for page in pages:
        for name, extract in extractors.items():
            c0, w0 = time.process_time(), time.perf_counter()
            results[name][page.file] = extract(page.html, page.url, fetch)
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - w0
    return {n: Run({f: text_of(r) or "" for f, r in results[n].items()}, results[n], cpu[n], wall[n])
            for n in extractors}


def timed_runs(extractors: dict[str, Extractor], pages: list[Page], repeat: int) -> dict[str, list[Run]]:
    """A warm-up pass, then `repeat` timed passes."""
    fetch = make_fetch(pages)
    run_interleaved(extractors, pages, fetch)
    runs: dict[str, list[Run]] = {name: [] for name in extractors}
    for _ in range(repeat):
        for name, run in run_interleaved(extractors, pages, fetch).items():
            runs[name].append(run)
    return runs


def group_f1(pages: list[Page], texts: dict[str, str]) -> dict[str, list[float]]:
    by_group: dict[str, list[float]] = defaultdict(list)
    for page in pages:
        f1 = body_f1(texts[page.file], page.expected)[2]
        by_group[page.group].append(f1)
        by_group["ALL"].append(f1)
    return by_group


def pages_per_second(pages: list[Page], runs: list[Run]) -> float:
    """Throughput of the best pass by CPU time (like timeit, the least disturbed pass)."""
    return len(pages) / min(r.cpu_seconds for r in runs)


def _meta_value(result: object, field: str) -> object:
    if result is None or isinstance(result, str):
        return None
    metadata = getattr(result, "metadata", result)
    return getattr(metadata, field, None)


def metadata_accuracy(pages: list[Page], results: dict[str, object]) -> dict[str, str] | None:
    """Share of pages whose extracted title/date/image/canonical/language equals the manifest's."""
    fields = ("title", "date", "image", "canonical", "language")
    if all(_meta_value(results[p.file], "title") is None for p in pages):
        return None
    scores = {}
    for field in fields:
        hits = sum(_same(field, _meta_value(results[p.file], field), p) for p in pages if p.group != "wire_teaser")
        total = sum(1 for p in pages if p.group != "wire_teaser")
        scores[field] = f"{hits}/{total}"
    return scores


def _same(field: str, got: object, page: Page) -> bool:
    want = page.meta[field]
    if field == "date" and got is not None:
        got = str(got)[:10]
    if field == "canonical" and got is not None and want is not None:
        return _url_key(str(got)) == _url_key(want)
    return got == want


def print_report(pages: list[Page], runs: dict[str, list[Run]], show_pages: bool) -> bool:
    names = list(runs)
    f1s = {n: group_f1(pages, runs[n][0].texts) for n in names}
    groups = sorted(g for g in f1s[names[0]] if g != "ALL") + ["ALL"]
    print(f"{'group':<15}{'pages':>6}" + "".join(f"{'F1 ' + n:>13}" for n in names) + ("   ours-plain" if len(names) > 1 else ""))
    ok = True
    for g in groups:
        means = [statistics.mean(f1s[n][g]) for n in names]
        line = f"{g:<15}{len(f1s[names[0]][g]):>6}" + "".join(f"{m:>13.3f}" for m in means)
        if len(names) > 1:
            delta = means[1] - means[0]
            ok &= delta >= -1e-9
            line += f"{delta:>+13.3f}"
        print(line)
    print()
    speeds = {n: pages_per_second(pages, runs[n]) for n in names}
    for n in names:
        cpu = ", ".join(f"{r.cpu_seconds:.3f}" for r in runs[n])
        wall = ", ".join(f"{r.wall_seconds:.3f}" for r in runs[n])
        print(f"pages/s {n:<6} {speeds[n]:8.1f}   (best of {len(runs[n])} passes over {len(pages)} pages;"
              f" CPU s: {cpu}; wall s: {wall})")
    if len(names) > 1:
        ratio = speeds[names[1]] / speeds[names[0]]
        ok &= ratio >= SPEED_TARGET
        print(f"speed ratio ours/plain: {ratio:.2f}x (target >= {SPEED_TARGET}x)")
        meta = metadata_accuracy(pages, runs[names[1]][0].results)
        if meta:
            print("ours metadata matches (non-teaser pages): " + ", ".join(f"{k} {v}" for k, v in meta.items()))
        print(f"targets ({F1_TARGET_NOTE}; speed >= {SPEED_TARGET}x): {'MET' if ok else 'NOT MET'}")
    if show_pages:
        print_pages(pages, runs)
    return ok


def print_pages(pages: list[Page], runs: dict[str, list[Run]]) -> None:
    print()
    print(f"{'page':<40}{'group':<15}" + "".join(f"{'P/R/F1 ' + n:>24}" for n in runs))
    for page in pages:
        cells = []
        for name in runs:
            p, r, f = body_f1(runs[name][0].texts[page.file], page.expected)
            cells.append(f"{p:.2f}/{r:.2f}/{f:.2f}")
        print(f"{Path(page.file).name:<40}{page.group:<15}" + "".join(f"{c:>24}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--ours", default=DEFAULT_OURS, help="MODULE:FUNCTION or builtin:presswire|fast|plain")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes (the best one is reported)")
    parser.add_argument("--pages", action="store_true", help="print per-page precision/recall/F1")
    args = parser.parse_args(argv)
    pages = load_pages(args.manifest)
    extractors: dict[str, Extractor] = {"plain": plain}
    try:
        extractors["ours"] = resolve(args.ours)
    except (ImportError, AttributeError, KeyError) as exc:
        print(f"ours ({args.ours}) not available: {exc}; reporting plain trafilatura only\n", file=sys.stderr)
    runs = timed_runs(extractors, pages, args.repeat)
    ok = print_report(pages, runs, args.pages)
    return 0 if ok or len(extractors) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
