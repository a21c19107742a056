"""Evaluate ingest.promo on the labeled set in fixtures/promo/.

Prints, for the dev part (used for tuning) and the held-out part (evaluation only):
precision/recall/F1 per label, a confusion matrix, how often each rule fires per true
label, the misclassified items, classification throughput (items/s), and the CPU time per
item on realistic long bodies: each item's text with article paragraphs from
fixtures/extract/expected/ inserted after its first paragraph, up to ~8,000 characters (the
size of a typical extracted article; the fixture items themselves are short).

    python bench/promo_eval.py [--rules PATH] [--split dev|heldout|all] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.promo import LABELS, PromoResult, Rules, classify, load_rules  # noqa: E402

FIXTURES = ROOT / "fixtures" / "promo"
ARTICLES = ROOT / "fixtures" / "extract" / "expected"
LONG_BODY = 8000  # characters
PROMO_TARGET = {"precision": 0.95, "recall": 0.90}


@dataclass(frozen=True)
class Item:
    id: str
    label: str
    group: str
    source_name: str
    source_url: str
    title: str
    text: str
    note: str


def load_items(split: str) -> list[Item]:
    items = []
    for path in sorted((FIXTURES / split).glob("*.toml")):
        for raw in tomllib.loads(path.read_text(encoding="utf-8"))["item"]:
            items.append(Item(**raw))
    return items


def run(items: list[Item], rules: Rules) -> list[PromoResult]:
    return [classify(i.text, title=i.title, source_name=i.source_name,
                     source_url=i.source_url, rules=rules) for i in items]


def per_label(items: list[Item], results: list[PromoResult]) -> dict[str, tuple[float, float, int]]:
    out = {}
    for label in LABELS:
        tp = sum(1 for i, r in zip(items, results) if i.label == label and r.label == label)
        predicted = sum(1 for r in results if r.label == label)
        actual = sum(1 for i in items if i.label == label)
        out[label] = (tp / predicted if predicted else 0.0, tp / actual if actual else 0.0, actual)
    return out


def print_scores(name: str, items: list[Item], results: list[PromoResult]) -> None:
    print(f"\n== {name}: {len(items)} items ==")
    print(f"{'label':<15}{'precision':>10}{'recall':>8}{'f1':>7}{'n':>5}")
    for label, (p, r, n) in per_label(items, results).items():
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(f"{label:<15}{p:>10.3f}{r:>8.3f}{f1:>7.3f}{n:>5}")
    p, r, _ = per_label(items, results)["promotional"]
    ok = p >= PROMO_TARGET["precision"] and r >= PROMO_TARGET["recall"]
    print(f"promotional target (P>={PROMO_TARGET['precision']}, R>={PROMO_TARGET['recall']}): "
          f"{'MET' if ok else 'NOT MET'}")
    print_confusion(items, results)


def print_confusion(items: list[Item], results: list[PromoResult]) -> None:
    counts = Counter((i.label, r.label) for i, r in zip(items, results))
    print(f"\nconfusion (rows: true, columns: predicted)\n{'':<15}" + "".join(f"{x:>15}" for x in LABELS))
    for true in LABELS:
        print(f"{true:<15}" + "".join(f"{counts[(true, pred)]:>15}" for pred in LABELS))


def print_rule_table(items: list[Item], results: list[PromoResult], rules: Rules) -> None:
    """Share of items of each true label on which each rule fired."""
    totals = Counter(i.label for i in items)
    fired = Counter((name, i.label) for i, r in zip(items, results)
                    for name in {x.rule for x in r.reasons})
    print("\nrule firing rate per true label (items where the rule fired / items with that label)")
    print(f"{'rule':<26}{'score':<14}{'weight':>7}" + "".join(f"{x:>15}" for x in LABELS))
    for rule in rules.rules:
        cells = "".join(f"{fired[(rule.name, lab)]:>4}/{totals[lab]:<3} {_pct(fired[(rule.name, lab)], totals[lab]):>5}"
                        for lab in LABELS)
        print(f"{rule.name:<26}{rule.score:<14}{rule.weight:>7.2f}{cells}")


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.0f}%" if total else "-"


def print_errors(items: list[Item], results: list[PromoResult]) -> None:
    wrong = [(i, r) for i, r in zip(items, results) if i.label != r.label]
    print(f"\nmisclassified: {len(wrong)}")
    for i, r in wrong:
        fired = ", ".join(f"{x.rule}({x.weight:g})" for x in r.reasons)
        print(f"  {i.id:<10} true={i.label:<13} got={r.label:<13} promo={r.promo_score:<5g} "
              f"pr={r.pr_score:<5g} [{fired}]")


def throughput(items: list[Item], rules: Rules, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        run(items, rules)
    return repeat * len(items) / (time.perf_counter() - start)


def long_bodies(items: list[Item], size: int = LONG_BODY) -> list[Item]:
    """Each item with article paragraphs inserted after its first paragraph, up to `size` characters."""
    paragraphs = [p for path in sorted(ARTICLES.glob("*.txt"))
                  for p in path.read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    out, k = [], 0
    for item in items:
        lead, _, rest = item.text.partition("\n\n")
        filler = []
        while len(item.text) + sum(map(len, filler)) < size:
            filler.append(paragraphs[k % len(paragraphs)])
            k += 1
        out.append(replace(item, text="\n\n".join([lead, *filler, rest] if rest else [lead, *filler])))
    return out


def cpu_ms_per_item(items: list[Item], rules: Rules, repeat: int) -> float:
    """CPU time (this process) per item: the best of `repeat` passes (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(items, rules)
        best = min(best, time.process_time() - start)
    return 1000 * best / len(items)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=Path, default=None, help="rules file (default: config/promo_rules.toml)")
    parser.add_argument("--split", choices=["dev", "heldout", "all"], default="all")
    parser.add_argument("--repeat", type=int, default=20, help="passes over all items for the items/s figure")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rules = load_rules(args.rules)
    print(f"rules: {rules.path} ({len(rules.rules)} rules, loaded in {1000 * (time.perf_counter() - t0):.1f} ms)")
    everything: list[Item] = []
    for split in (["dev", "heldout"] if args.split == "all" else [args.split]):
        items = load_items(split)
        everything += items
        results = run(items, rules)
        print_scores(split, items, results)
        print_rule_table(items, results, rules)
        print_errors(items, results)
    rate = throughput(everything, rules, args.repeat)
    chars = sum(len(i.text) for i in everything) / len(everything)
    print(f"\nthroughput: {rate:,.0f} items/s ({len(everything)} items x {args.repeat}, mean {chars:,.0f} chars/item)")
    long = long_bodies(everything)
    run(long, rules)  # warm up
    ms = cpu_ms_per_item(long, rules, max(3, args.repeat // 4))
    chars = sum(len(i.text) for i in long) / len(long)
    print(f"CPU time on long bodies: {ms:.2f} ms/item ({len(long)} items, mean {chars:,.0f} chars/item, "
          f"best of {max(3, args.repeat // 4)} passes, process time)")


if __name__ == "__main__":
    main()
