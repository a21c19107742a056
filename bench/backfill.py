"""Backfill throughput and memory, against a bare single-process trafilatura.extract loop.

Serves N generated article pages (four site layouts, varied lengths, headings, lists, tables, chrome)
on 127.0.0.1 from a separate process, behind a sitemap index (sitemaps of 5,000 URLs), then runs
`python -m ingest backfill --sitemap ...` (what the `presswire` script runs) in a subprocess on a fresh
SQLite file with the default extraction pool (one process per core), its modules' bytecode compiled as
an installed package's is (installed_env), and prints:

    backfill   items/s (wall clock of the backfill process) and peak RSS (the process tree: the CLI and
               its extraction workers, sampled from /proc; plus the largest single process)
    CPU        per item, of the backfill process and of its workers (from /proc)
    file create the kernel CPU an empty file's creation costs just before each run (create_cost: a QR code
               file an item; on these machines it costs 15 to 40 times more for a minute or two after many
               deletions)
    baseline   items/s of `trafilatura.extract(html)` in one process over the same pages, in memory
               (no HTTP, no store): on the first --baseline-pages of them (all of them by default
               up to 2,000; the pages cycle through the same generators, so the rate is representative)
    ratio      backfill items/s / baseline items/s (target >= 1.6 on 2 cores)
    stages     the CPU each step of the pipeline costs per item (fetch, extract, normalize + classify +
               fingerprint, QR code, save), timed one after the other in this process on --stages pages,
               and the ratio that total allows on 2 cores at best
    one process (--one-process) the same backfill once more with `[extract] processes = 0` (every step in
               the backfill process), and how many times that rate the default pool gives: what the second
               core buys, apart from what the pipeline's steps cost against a bare extract

    PYTHONPATH=. python bench/backfill.py                  # N = 2,000
    PYTHONPATH=. python bench/backfill.py -n 50000         # the memory target: peak RSS <= 400 MB
    PYTHONPATH=. python bench/backfill.py --repeat 5       # five runs, each with its baseline; the median
    PYTHONPATH=. python bench/backfill.py --one-process    # and the pipeline's own speed-up from the pool
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PER_SITEMAP = 5000
WORDS = ("battery storage contract utility grid capacity megawatt hours project company announced today "
         "investors market revenue quarter growth lithium supply chain manufacturing facility expansion "
         "agreement customers technology platform solution partnership regulatory approval shareholders "
         "financial results guidance pipeline development commercial deployment energy solar wind hydrogen "
         "network services operations management board director officer strategy acquisition funding").split()


# --- the generated site ------------------------------------------------------------------------------

def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(9, 26))]
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "!", "?"])


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 6)))


def body_blocks(rng: random.Random, n: int) -> str:
    out = []
    for i in range(rng.randint(4, 18)):
        roll = rng.random()
        if i and roll < 0.12:
            out.append(f"<h2>{sentence(rng)[:-1].title()[:60]}</h2>")
        elif roll < 0.2:
            out.append("<ul>" + "".join(f"<li>{sentence(rng)}</li>" for _ in range(rng.randint(2, 6))) + "</ul>")
        elif roll < 0.24:
            rows = "".join(f"<tr><td>{rng.choice(WORDS)}</td><td>{rng.randint(1, 999)}</td></tr>" for _ in range(4))
            out.append(f"<table>{rows}</table>")
        elif roll < 0.3:
            out.append(f"<blockquote><p>{paragraph(rng)}</p></blockquote>")
        else:
            link = f' <a href="/news/{rng.randint(1, max(2, n))}/">{rng.choice(WORDS)}</a>' if roll < 0.5 else ""
            out.append(f"<p>{paragraph(rng)}{link}</p>")
    return "".join(out)


def page(n: int) -> bytes:
    """Article page n: deterministic, one of four layouts."""
    rng = random.Random(n)
    title = sentence(rng)[:-1].title()[:90]
    date = f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"
    nav = "".join(f'<li><a href="/c/{w}/">{w}</a></li>' for w in rng.sample(WORDS, 8))
    related = "".join(f'<li><a href="/news/{rng.randint(1, 9999)}/">{sentence(rng)}</a></li>' for _ in range(5))
    body = body_blocks(rng, n)
    head = (f"<head><meta charset='utf-8'><title>{title} | Wire</title>"
            f"<meta name='description' content='{sentence(rng)}'>"
            f"<meta property='og:image' content='https://cdn.example/{n}.jpg'>"
            f"<meta property='article:published_time' content='{date}'></head>")
    layouts = [
        f"<body><header><ul class='menu'>{nav}</ul></header><main><article class='post'><h1>{title}</h1>"
        f"<time datetime='{date}'>{date}</time><div class='entry-content'>{body}</div></article>"
        f"<aside><h3>Related</h3><ul>{related}</ul></aside></main><footer><p>Copyright Wire Inc.</p></footer></body>",
        f"<body><div id='top'><ul>{nav}</ul></div><div class='release'><h1 class='headline'>{title}</h1>"
        f"<p class='dateline'>NEW YORK, {date} /Wire/ --</p><section class='release-body'>{body}</section>"
        f"<p>About the company: {paragraph(rng)}</p></div><div class='more'><ul>{related}</ul></div></body>",
        f"<body><nav>{nav}</nav><div class='layout'><div class='col-main'><h1>{title}</h1><div class='byline'>By "
        f"Staff</div><div class='story'>{body}</div></div><div class='col-side'><div class='ad'>Advertisement</div>"
        f"<ul>{related}</ul></div></div><div class='footer'>Terms | Privacy</div></body>",
        f"<body><h1>{title}</h1>{body}<hr><p><a href='/'>Home</a></p></body>",
    ]
    return f"<!DOCTYPE html><html lang='en'>{head}{layouts[n % 4]}</html>".encode()


def sitemap_index(base: str, n: int) -> bytes:
    parts = "".join(f"<sitemap><loc>{base}/sitemap-{k}.xml</loc></sitemap>"
                    for k in range((n + PER_SITEMAP - 1) // PER_SITEMAP))
    return (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{parts}'
            "</sitemapindex>").encode()


def sitemap(base: str, n: int, k: int) -> bytes:
    urls = "".join(f"<url><loc>{base}/news/{i}/</loc></url>"
                   for i in range(k * PER_SITEMAP + 1, min(n, (k + 1) * PER_SITEMAP) + 1))
    return (f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}'
            "</urlset>").encode()


def serve(n: int, port_file: Path) -> None:
    """The site, in its own process. Pages are generated into files first and read per request (nothing held
    in memory). It shares the two cores with what is measured, while the baseline pays nothing for its pages,
    so it should cost as little CPU as it can: one asyncio loop speaking just enough HTTP/1.1 (keep-alive,
    Content-Length): 0.13 ms of CPU a page where http.server's threads and header parsing took 0.23 ms."""
    import asyncio

    pages = port_file.parent / "pages"
    pages.mkdir(exist_ok=True)
    for i in range(1, n + 1):
        (pages / f"{i}.html").write_bytes(page(i))

    def answer(path: str, host: str) -> tuple[int, str, bytes]:
        base, parts = f"http://{host}", path.strip("/").split("/")
        if path == "/sitemap.xml":
            return 200, "application/xml", sitemap_index(base, n)
        if parts[0].startswith("sitemap-"):
            return 200, "application/xml", sitemap(base, n, int(parts[0][8:-4]))
        if parts[0] == "news" and len(parts) == 2 and parts[1].isdigit() and 1 <= int(parts[1]) <= n:
            return 200, "text/html; charset=utf-8", (pages / f"{int(parts[1])}.html").read_bytes()
        return 404, "text/plain", b"not found"

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # GET requests only, one after another on the connection (keep-alive)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                path = head[0].split(" ")[1]
                host = next((line[5:].strip() for line in head if line[:5].lower() == "host:"), "127.0.0.1")
                status, kind, body = answer(path, host)
                writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\nContent-Type: {kind}\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        port_file.write_text(str(server.sockets[0].getsockname()[1]))
        await server.serve_forever()

    asyncio.run(main())


# --- measuring -----------------------------------------------------------------------------------------

def tree_memory(pid: int, pss: bool, cpu: dict[int, float]) -> tuple[int, int, int]:
    """(RSS sum, PSS sum, largest RSS) in bytes of pid and its descendants, from /proc. RSS counts the
    pages that forked workers share with each other once per process; PSS splits them between them.
    PSS (smaps_rollup walks every mapping: milliseconds of kernel time per process) only when `pss`,
    0 otherwise. `cpu` gets each process's CPU seconds so far (user + system)."""
    rss_sum, pss_sum, largest, stack = 0, 0, 0, [pid]
    while stack:
        p = stack.pop()
        try:
            rss = _kb(Path(f"/proc/{p}/status"), "VmRSS:")
            share = _kb(Path(f"/proc/{p}/smaps_rollup"), "Pss:") if pss else 0
            cpu[p] = cpu_seconds(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
        rss_sum, pss_sum, largest = rss_sum + rss, pss_sum + share, max(largest, rss)
    return rss_sum, pss_sum, largest


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_cost(directory: Path, n: int = 500) -> float:
    """Kernel CPU milliseconds to create one empty file, over n files in a new folder `directory`: a backfill
    creates a QR code file an item. On ext4 without a journal (these machines' root file system) this is
    ~0.02 ms, but 0.3-0.8 ms for about a minute and a half after 10,000 files were deleted: the kernel checks
    each recently deleted inode it finds free, one by one, before it reuses one (fs/ext4/ialloc.c,
    recently_deleted; perf showed it taking most of the time of such creates). Deleting a run's work
    directory does it; so the bench deletes its own only at its end, and prints this before each run."""
    directory.mkdir()
    folder = os.open(directory, os.O_RDONLY)
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        for i in range(n):
            os.close(os.open(f"f{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder))
        return (resource.getrusage(resource.RUSAGE_SELF).ru_stime - before) * 1000 / n
    finally:
        os.close(folder)


def _kb(path: Path, key: str) -> int:
    return int(next(line for line in path.read_text().splitlines() if line.startswith(key)).split()[1]) * 1024


def installed_env(base: str, tmp: Path) -> dict[str, str]:
    """The environment the backfill runs in: as an installed presswire's, with its modules' bytecode compiled
    (pip compiles a package when it installs it). These machines set PYTHONDONTWRITEBYTECODE, which would
    make every run compile our ~60 modules first (~0.15 s in the backfill process, more in the forkserver).
    The bytecode goes to a cache folder of the bench's own (PYTHONPYCACHEPREFIX), not the source tree. With
    that prefix set, Python reads no __pycache__ of the libraries either, so the first call fills the cache
    with them too: a 5-page backfill, which imports what the measured runs import (without it the first
    run read ~0.5 against ~0.75 for the others)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    if not (tmp / "pycache").exists():
        subprocess.run([sys.executable, "-m", "compileall", "-q", "ingest", "store"], cwd=ROOT, env=env, check=True)
        (tmp / "warm-up").mkdir()
        urls = tmp / "warm-up" / "urls.txt"
        urls.write_text("".join(f"{base}/news/{i}/\n" for i in range(1, 6)))
        subprocess.run([sys.executable, "-m", "ingest", "--config", str(write_config(tmp / "warm-up", 2, True)),
                        "backfill", "--urls", str(urls)], cwd=ROOT, env=env, check=True, capture_output=True)
    return env


def write_config(workdir: Path, concurrency: int, qrcodes: bool, processes: int | None = None) -> Path:
    """The backfill's config; `processes`: [extract] processes (None: the default, one a core)."""
    config = workdir / "presswire.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{workdir / "bench.db"}"\n'
                      f'[log]\nformat = "json"\n'
                      f'[http]\nallow_networks = ["127.0.0.1/32"]\n'
                      f'[output]\nqrcode_dir = "{workdir / "qrcodes" if qrcodes else ""}"\n'
                      f"[backfill]\nconcurrency = {concurrency}\nper_host = {concurrency}\nhost_delay = 0\n"
                      f"batch_size = 200\nprogress_every = 30\n"
                      + (f"[extract]\nprocesses = {processes}\n" if processes is not None else ""))
    return config


def run_backfill(base: str, workdir: Path, n: int, concurrency: int, qrcodes: bool,
                 processes: int | None = None) -> dict:
    config = write_config(workdir, concurrency, qrcodes, processes)
    cmd = [sys.executable, "-m", "ingest", "--config", str(config), "backfill", "--sitemap",
           f"{base}/sitemap.xml", "--json"]
    env = installed_env(base, workdir.parent)  # before the clock starts: the first call compiles
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    peak, peak_pss, largest, samples, cpu = 0, 0, 0, 0, {}
    while proc.poll() is None:  # RSS 5 times a second, PSS once (it costs CPU the backfill would use)
        total, pss, big = tree_memory(proc.pid, pss=samples % 5 == 0, cpu=cpu)
        peak, peak_pss, largest, samples = max(peak, total), max(peak_pss, pss), max(largest, big), samples + 1
        time.sleep(0.2)
    wall = time.monotonic() - started
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"backfill failed ({proc.returncode}): {out}")
    summary = json.loads(out.strip().splitlines()[-1])
    main_cpu = cpu.pop(proc.pid, 0.0)
    return {"summary": summary, "wall_s": wall, "peak_rss": peak, "peak_pss": peak_pss, "largest_rss": largest,
            "cpu_main": main_cpu, "cpu_workers": sum(cpu.values())}


def baseline(pages: list[bytes]) -> float:
    """Pages per second of trafilatura.extract over these pages (after a warm-up on 20 of them)."""
    import trafilatura
    for html in pages[:20]:
        trafilatura.extract(html)
    started = time.monotonic()
    for html in pages:
        trafilatura.extract(html)
    return len(pages) / (time.monotonic() - started)


def stages(base: str, n: int, workdir: Path) -> list[tuple[str, float]]:
    """CPU milliseconds per item of each step of the backfill's path, run one after the other in this
    process over the first n pages (after a warm-up): what the pipeline costs, whichever process runs it."""
    from datetime import datetime, timezone

    import trafilatura

    from ingest.assemble import Assembly, assemble
    from ingest.extract import extract_page
    from ingest.fetch import Fetcher
    from ingest.model import FeedEntry
    from ingest.pipeline import deduplicator
    from ingest.promo import load_rules
    from ingest.qr import qr_png
    from ingest.settings import DedupSettings, HttpSettings
    from store import db, repository

    urls = [f"{base}/news/{i}/" for i in range(1, n + 1)]
    entries = [FeedEntry(guid=None, link=url, title="") for url in urls]
    fetcher = Fetcher(HttpSettings(allow_networks=("127.0.0.1/32",)))
    dedup = deduplicator(DedupSettings())
    assembly, now = Assembly(rules=load_rules(None), dedup=dedup), datetime.now(timezone.utc)
    engine = db.make_engine(f"sqlite:///{workdir / 'stages.db'}")
    db.ensure_schema(engine)
    sessions = db.session_factory(engine)
    with sessions.begin() as s:
        source, _ = repository.add_source(s, f"{base}/sitemap.xml", "bench", now)
    out = {}

    def timed(name, step, inputs):
        step(inputs[0])  # warm-up
        started = time.process_time()
        results = [step(x) for x in inputs]
        out[name] = (time.process_time() - started) * 1000 / len(inputs)
        return results

    pages = timed("fetch (Fetcher.get, client side)", lambda url: fetcher.get(url).content, urls)
    timed("bare trafilatura.extract", trafilatura.extract, pages)
    found = timed("extract (ingest.extract)", lambda pair: extract_page(pair[0], pair[1]), list(zip(pages, urls)))
    items = timed("normalize + classify + fingerprint", lambda pair: assemble(
        assembly, pair[0], pair[1], source_name="bench", seen_at=now, page_url=pair[0].link), list(zip(entries, found)))
    timed("QR code PNG", lambda item: qr_png(item.source_link), items)

    def save(batch):
        with sessions.begin() as s:
            repository.save_items(s, source.id, batch, now=now, qrcode_prefix="qrcodes/", judge=dedup)

    batches = [items[i:i + 200] for i in range(0, len(items), 200)]
    started = time.process_time()
    for batch in batches:
        save(batch)
    out["save (SQLite, dedup lookup, FTS)"] = (time.process_time() - started) * 1000 / len(items)
    fetcher.close()
    return list(out.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--pages", type=int, default=2000, help="pages served and backfilled")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline-pages", type=int, default=2000, help="pages of the bare trafilatura loop")
    parser.add_argument("--no-qrcodes", action="store_true", help="do not write QR code PNGs")
    parser.add_argument("--stages", type=int, default=500, metavar="N",
                        help="also time each step of the pipeline in one process over N pages (0: don't)")
    parser.add_argument("--repeat", type=int, default=1, metavar="R",
                        help="backfill R times, each followed by the baseline, and report each run and the "
                             "median ratio (these shared machines vary by 10-25%% from one minute to the next)")
    parser.add_argument("--one-process", action="store_true",
                        help="also backfill once with [extract] processes = 0 (every step in one process) and "
                             "print the pool's speed-up over it")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.pages, args.serve)
        return
    with tempfile.TemporaryDirectory(prefix="presswire-bench-") as tmp:
        workdir = Path(tmp)
        port_file = workdir / "port"
        server = subprocess.Popen([sys.executable, __file__, "-n", str(args.pages), "--serve", str(port_file)])
        try:
            while not port_file.exists() or not port_file.read_text():
                if server.poll() is not None:
                    raise SystemExit("the page server died")
                time.sleep(0.1)
            base = f"http://127.0.0.1:{port_file.read_text()}"
            load_before = os.getloadavg()
            pages = [page(i) for i in range(1, min(args.baseline_pages, args.pages) + 1)]
            runs = []  # (backfill result, baseline pages/s), each backfill on a fresh database
            for r in range(max(1, args.repeat)):
                (workdir / f"run{r}").mkdir()
                creating = create_cost(workdir / f"run{r}" / "create-cost")
                served = cpu_seconds(server.pid)
                result = run_backfill(base, workdir / f"run{r}", args.pages, args.concurrency, not args.no_qrcodes)
                result["cpu_server"], result["create_ms"] = cpu_seconds(server.pid) - served, creating
                runs.append((result, baseline(pages)))
            alone = None
            if args.one_process:
                (workdir / "alone").mkdir()
                alone = run_backfill(base, workdir / "alone", args.pages, args.concurrency, not args.no_qrcodes,
                                     processes=0)
            steps = stages(base, min(args.stages, args.pages), workdir) if args.stages else []
        finally:
            server.terminate()
            server.wait()
    ratios = [r["summary"]["seen"] / r["wall_s"] / rate_base for r, rate_base in runs]
    if len(runs) > 1:
        for k, ((r, rate_base), ratio) in enumerate(zip(runs, ratios), 1):
            print(f"run {k}                {r['summary']['seen'] / r['wall_s']:.1f} items/s, baseline {rate_base:.1f} "
                  f"pages/s, ratio {ratio:.2f}; file create {r['create_ms']:.2f} ms")
    result, rate_base = runs[sorted(range(len(runs)), key=ratios.__getitem__)[len(runs) // 2]]  # the median run
    sampled = len(pages)
    s = result["summary"]
    rate = s["seen"] / result["wall_s"]
    print(f"pages                {args.pages} (stored {s['stored']}, failed {s['failed']}, errors {s['errors']})")
    print(f"backfill             {rate:.1f} items/s ({result['wall_s']:.1f} s wall, process start included; "
          f"{s['items_per_s']:.1f} items/s by its own clock)")
    result["peak_rss"] = max(r["peak_rss"] for r, _ in runs)  # the largest of all runs
    result["peak_pss"], result["largest_rss"] = (max(r[k] for r, _ in runs) for k in ("peak_pss", "largest_rss"))
    print(f"peak RSS             {result['peak_rss'] / 2**20:.0f} MB summed over the backfill and its extraction "
          f"workers (PSS {result['peak_pss'] / 2**20:.0f} MB); largest process {result['largest_rss'] / 2**20:.0f} MB")
    per_item = lambda seconds: seconds * 1000 / max(s["seen"], 1)  # noqa: E731
    print(f"CPU per item         {per_item(result['cpu_main']):.2f} ms in the backfill process, "
          f"{per_item(result['cpu_workers']):.2f} ms in its workers and forkserver (start-up included; "
          "sampled from /proc 5 times a second, so a little is missed); "
          f"{per_item(result['cpu_server']):.2f} ms in the page server (on the same cores)")
    print(f"file create          {result['create_ms']:.2f} ms of kernel CPU for an empty file, just before the run "
          "(~0.02 when the disk is quiet; 0.3-0.8 for a minute or two after many deletions: see create_cost)")
    print(f"baseline             {rate_base:.1f} items/s (trafilatura.extract, one process, {sampled} pages in memory)")
    median = " (the median run)" if len(runs) > 1 else ""
    print(f"ratio                {rate / rate_base:.2f}{median} (target >= 1.6 on 2 cores; cpus {os.cpu_count()})")
    if alone is not None:
        one = alone["summary"]["seen"] / alone["wall_s"]
        cpu_alone = alone["cpu_main"] * 1000 / max(alone["summary"]["seen"], 1)
        print(f"one process          {one:.1f} items/s ([extract] processes = 0; {alone['wall_s']:.1f} s wall, "
              f"{cpu_alone:.2f} ms of CPU an item): the pool's rate is {rate / one:.2f} times it, "
              f"which is {one / rate_base:.2f} of the baseline")
    print(f"load average         {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
          f"(1 min; other processes share the cores)")
    if steps:
        ours = sum(ms for name, ms in steps if not name.startswith("bare"))
        bare = dict(steps)["bare trafilatura.extract"]
        print("CPU per item, each step alone in one process (ms):")
        for name, ms in steps:
            print(f"  {name:38} {ms:6.2f}")
        print(f"  {'the pipeline (all but bare)':38} {ours:6.2f}  -> at most {2 * bare / ours:.2f} of the "
              "bare rate on 2 cores, before the page server, IPC and threads")
    print(f"bench self max RSS   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (pages of the baseline)")


if __name__ == "__main__":
    main()
