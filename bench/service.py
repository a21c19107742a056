"""The service's concurrency: how long `presswire run --once` takes over S sources whose article pages
answer slowly, with [poll] concurrency 1 and N, and whether one endlessly slow source holds up the rest.

Serves S feeds (3 entries each; every article page answers after --page-delay seconds, as a distant
host would) plus one feed that drips a byte every 50 ms for ever, on 127.0.0.1 (each feed on its own
port, so they count as separate hosts), then polls them all into a fresh SQLite file and prints:

    concurrency  wall clock of the run, sources/s, and when the last good source finished (seconds)

    PYTHONPATH=. python bench/service.py [-s 40] [--page-delay 0.3] [--concurrency 1 8 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.server import FixtureServer  # noqa: E402


def serve(stack: ExitStack, sources: int, page_delay: float) -> list[str]:
    urls = []
    for s in range(sources):
        server = stack.enter_context(FixtureServer(None))
        entries = "".join(f"<item><guid>{s}-{i}</guid><title>Source {s} story {i}</title>"
                          f"<link>{server.base}/{i}</link></item>" for i in range(3))
        server.route("/feed", body=f"<rss version='2.0'><channel><title>S{s}</title>{entries}</channel></rss>",
                     headers={"Content-Type": "application/rss+xml"})
        for i in range(3):
            server.route(f"/{i}", body=f"<html><body><article><p>{f'Source {s} story {i} text. ' * 60}</p>"
                         "</article></body></html>", headers={"Content-Type": "text/html"}, delay=page_delay)
        urls.append(server.url("/feed"))
    slow = stack.enter_context(FixtureServer(None))
    slow.route("/feed", body=b"<rss>" + b" " * 100_000, drip=0.05, headers={"Content-Type": "application/rss+xml"})
    return urls + [slow.url("/feed")]


def run_once(urls: list[str], concurrency: int, total_timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="presswire-bench-") as tmp:
        config = Path(tmp) / "c.toml"
        sources = "".join(f'[[sources]]\nurl = "{u}"\nname = "s{n}"\n' for n, u in enumerate(urls))
        config.write_text(f'[database]\nurl = "sqlite:///{tmp}/p.db"\n[log]\nformat = "json"\n'
                          f'[http]\nallow_networks = ["127.0.0.1/32"]\nretries = 0\ntotal_timeout = {total_timeout}\n'
                          f'[poll]\nconcurrency = {concurrency}\n[service]\nmetrics_port = -1\n'
                          f'[output]\nqrcode_dir = ""\n{sources}')
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "ingest", "--config", str(config), "run", "--once"],
                              cwd=ROOT, capture_output=True, text=True, check=True)
        wall = time.monotonic() - started
    polls = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    polls = [p for p in polls if p.get("event") == "poll"]
    good = [p for p in polls if p["status"] == "ok"]
    return {"wall": wall, "polled": len(polls), "ok": len(good), "new": sum(p["new"] for p in good),
            "slow_error": next((p.get("error", "") for p in polls if p["status"] == "error"), "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--sources", type=int, default=40)
    parser.add_argument("--page-delay", type=float, default=0.3)
    parser.add_argument("--total-timeout", type=float, default=10.0, help="[http] total_timeout (cuts the drip)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    args = parser.parse_args()
    with ExitStack() as stack:
        urls = serve(stack, args.sources, args.page_delay)
        print(f"{args.sources} sources x 3 pages answering after {args.page_delay:g}s, plus one endless drip "
              f"(cut at total_timeout {args.total_timeout:g}s)")
        print(f"{'concurrency':>11}  {'wall s':>7}  {'sources/s':>9}  {'ok':>4}  {'new':>5}")
        base = None
        for n in args.concurrency:
            r = run_once(urls, n, args.total_timeout)
            base = base or r["wall"]
            print(f"{n:>11}  {r['wall']:>7.1f}  {r['polled'] / r['wall']:>9.2f}  {r['ok']:>4}  {r['new']:>5}"
                  f"   x{base / r['wall']:.1f}   slow source: {r['slow_error'][-60:]}")


if __name__ == "__main__":
    main()
