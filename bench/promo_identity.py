"""Check that ingest.promo.classify gives exactly the results of an older version of itself.

Loads ingest/promo.py as it was at a git revision (default: merge-audit, before the fast matchers)
next to the current one, runs both over the same items and compares the whole PromoResult (label,
scores, reasons with rule, weight, matched text, field and offsets, tickers, boilerplate spans)
and what clean_text makes of the text and the summary with it:

    fixtures/promo/ items (dev and held-out), as they are and with their first paragraph as summary
    fixtures/extract/expected/*.txt bodies
    long synthetic bodies: a fixture item's lead and tail around bench/backfill.py's generated paragraphs
    spliced bodies: random slices of fixture texts glued together, some with case changes and
    non-ASCII characters (curly quotes, and the letters that case-fold onto ASCII: ſ ı İ K)

    PYTHONPATH=. python bench/promo_identity.py [--rev merge-audit] [-n 3000] [--rules PATH]

Prints the number of items compared and each difference; exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from backfill import paragraph, sentence  # noqa: E402

from ingest import promo  # noqa: E402

NON_ASCII = ["\u201c", "\u201d", "\u2019", "\u00e9", "\u00a0", "\u2014", "\u017f", "\u0131", "\u0130", "\u212a"]


def old_module(rev: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:ingest/promo.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("promo_old")
    module.__file__ = str(ROOT / "ingest" / "promo.py")  # so that DEFAULT_RULES_PATH resolves the same
    sys.modules["promo_old"] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:ingest/promo.py", "exec"), module.__dict__)
    return module


def fixture_items() -> list[dict[str, str]]:
    items = []
    for split in ("dev", "heldout"):
        for path in sorted((ROOT / "fixtures" / "promo" / split).glob("*.toml")):
            items += tomllib.loads(path.read_text(encoding="utf-8"))["item"]
    return items


def item(text: str, **fields: str) -> dict[str, str]:
    return {"text": text, "title": "", "summary": "", "source_name": "", "source_url": "", **fields}


def inputs(n: int, seed: int) -> Iterator[tuple[str, dict[str, str]]]:
    fixtures = fixture_items()
    keys = ("title", "source_name", "source_url")
    for it in fixtures:
        yield "fixture", item(it["text"], **{k: it[k] for k in keys})
        yield "fixture+summary", item(it["text"], summary=it["text"].split("\n\n")[0][:400], **{k: it[k] for k in keys})
    for path in sorted((ROOT / "fixtures" / "extract" / "expected").glob("*.txt")):
        yield "extract", item(path.read_text(encoding="utf-8"), title=path.stem.replace("_", " "))
    rng = random.Random(seed)
    texts = [it["text"] for it in fixtures]
    for i in range(n):
        it = rng.choice(fixtures)
        if i % 3 == 0:
            yield "long", item(long_body(rng, it["text"]), **{k: it[k] for k in keys})
        elif i % 3 == 1:
            yield "spliced", item(spliced(rng, texts), title=sentence(rng), summary=spliced(rng, texts)[:300])
        else:
            yield "spliced+noise", item(noisy(rng, spliced(rng, texts)), title=noisy(rng, it["title"]),
                                        source_name=it["source_name"])


def long_body(rng: random.Random, text: str, size: int = 8000) -> str:
    """A fixture's first paragraph, generated paragraphs up to ~size characters, then the rest of the fixture."""
    cut = text.find("\n\n")
    cut = len(text) if cut < 0 else cut
    paragraphs: list[str] = []
    while sum(map(len, paragraphs)) < size - len(text):
        paragraphs.append(paragraph(rng))
    return text[:cut] + "\n\n" + "\n\n".join(paragraphs) + text[cut:]


def spliced(rng: random.Random, texts: list[str]) -> str:
    parts = []
    for _ in range(rng.randint(1, 12)):
        t = rng.choice(texts)
        a = rng.randrange(len(t))
        parts.append(t[a:a + rng.randint(1, 1500)])
    return rng.choice(["", "\n", "\n\n", " "]).join(parts)


def noisy(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 12)):
        i = rng.randrange(len(chars) + 1)
        roll = rng.random()
        if roll < 0.4:
            chars.insert(i, rng.choice(NON_ASCII))
        elif roll < 0.7 and i < len(chars):
            chars[i] = chars[i].swapcase()
        elif i < len(chars):
            chars[i:i + 40] = "".join(chars[i:i + 40]).upper()
    return "".join(chars)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="merge-audit", help="git revision of the reference ingest/promo.py")
    parser.add_argument("-n", type=int, default=3000, help="synthetic items")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", type=Path, default=promo.DEFAULT_RULES_PATH)
    args = parser.parse_args(argv)
    old = old_module(args.rev)
    new_rules, old_rules = promo.load_rules(args.rules), old.load_rules(args.rules)
    compared, differences, kinds = 0, 0, {}
    for kind, it in inputs(args.n, args.seed):
        a = old.classify(**it, rules=old_rules)
        b = promo.classify(**it, rules=new_rules)
        compared += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        if a != b or any(old.clean_text(it[f], a, field=f) != promo.clean_text(it[f], b, field=f)
                         for f in ("text", "summary")):
            differences += 1
            print(f"DIFFERENT ({kind}): {it['text'][:80]!r}\n  old: {a}\n  new: {b}")
    print(f"compared {compared} items ({', '.join(f'{k} {v}' for k, v in kinds.items())}) "
          f"against {args.rev}: {differences} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
