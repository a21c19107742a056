"""Soak: does `presswire run` stay bounded over many polls? Memory, threads, descriptors, sockets, processes.

Serves F feeds on H hosts of 127.0.0.1 (each host its own port, so its own origin, robots.txt and
kept-alive connections). Every feed request gives a new item (the feed lists the newest 3 of a counter),
so each poll fetches and extracts one page. Some feeds misbehave, by their number modulo 20:

    0   the feed answers 500 (a failing source: backoff)
    1   the feed answers after --slow seconds, past [http] read_timeout (a timeout)
    2   its pages answer after --slow seconds (page timeouts, retried on later polls)
    3   the feed drips a byte every 50 ms for ever (cut at total_timeout)

The hosts close a kept-alive connection after --idle seconds of silence, as real servers do, and after
--vanish seconds the last --vanish-share of the hosts go away (stop listening, their connections close).
Extraction workers are recycled every --recycle pages each, so a run sees many generations.

`presswire run` runs in a subprocess on a fresh SQLite file (short intervals and backoffs, /metrics on a
free port). Every --every seconds this prints, from /proc: the polls and items so far (/metrics), the
service's RSS, threads, open descriptors, sockets (all, established, CLOSE_WAIT: closed by the host and
not yet by us), its other processes (the resource tracker and the workers: count, zombies, largest RSS),
the forkserver's RSS and descriptors, and how many worker processes were seen so far (generations x
processes, when the samples catch each generation). At the end it stops the service (SIGTERM) and says
whether any process of it outlived it.

    PYTHONPATH=. python bench/soak.py [--feeds 200] [--hosts 20] [--minutes 5] [--interval 10]

A leak is a column that keeps growing once polling is in its steady state (after the first minute or so);
"rss" grows ever more slowly as SQLite's page caches (one per pooled connection) and the allocator's arenas
fill, while Python's own heap stays flat (README, "Resources over time").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.server import FixtureServer  # noqa: E402

_TCP_STATES = {"01": "established", "08": "close_wait"}
_WORDS = ["".join(random.Random(n).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3 + n % 7)) for n in range(3000)]


class Farm:
    """The hosts and their feeds; a counter per feed, so every request lists a new item."""

    def __init__(self, stack: ExitStack, feeds: int, hosts: int, slow: float, idle: float):
        self.hosts = [stack.enter_context(FixtureServer(None)) for _ in range(hosts)]
        self.slow = slow
        self.requests = [0] * feeds
        self._lock = threading.Lock()
        for server in self.hosts:
            server._httpd.RequestHandlerClass.timeout = idle  # a host closes a connection idle this long
            server._httpd.handle_error = lambda *_: None  # a client that gave up on a slow answer: expected
            server.route("/robots.txt", body="User-agent: *\nDisallow: /private/\n",
                         headers={"Content-Type": "text/plain"})
        self.urls = []
        for f in range(feeds):
            server = self.hosts[f % hosts]
            if f % 20 == 3:
                server.route(f"/feed/{f}", body=b"<rss>" + b" " * 1_000_000, drip=0.05,
                             headers={"Content-Type": "application/rss+xml"})
            else:
                server.handle(f"/feed/{f}", partial(self._feed, f, server.base))
            self.urls.append(server.url(f"/feed/{f}"))
            server.handle(f"/page/{f}", partial(self._page, f))

    def _feed(self, f: int, base: str, _headers: dict) -> tuple[int, dict, bytes]:
        if f % 20 == 0:
            return 500, {"Content-Type": "text/plain"}, b"server error"
        if f % 20 == 1:
            time.sleep(self.slow)
        with self._lock:
            self.requests[f] += 1
            n = self.requests[f]
        items = "".join(f"<item><guid>f{f}-{i}</guid><title>Feed {f} release {i}</title>"
                        f"<link>{base}/page/{f}?n={i}</link></item>" for i in range(n, max(0, n - 3), -1))
        return 200, {"Content-Type": "application/rss+xml"}, \
            f"<rss version='2.0'><channel><title>Feed {f}</title>{items}</channel></rss>".encode()

    def _page(self, f: int, _headers: dict) -> tuple[int, dict, bytes]:
        if f % 20 == 2:
            time.sleep(self.slow)
        rng = random.Random()
        paragraphs = "".join("<p>" + " ".join(rng.choice(_WORDS) for _ in range(60)) + ".</p>" for _ in range(5))
        return 200, {"Content-Type": "text/html; charset=utf-8"}, \
            (f"<html><head><title>Feed {f}</title></head><body><nav><a href='/'>Home</a></nav>"
             f"<article><h1>Feed {f} release</h1>{paragraphs}</article><footer>Contact</footer></body></html>").encode()

    def vanish(self, share: float) -> int:
        """The last `share` of the hosts go away: they stop listening, and their kept connections end
        (at their next idle timeout)."""
        gone = self.hosts[len(self.hosts) - int(len(self.hosts) * share):]
        for server in gone:
            server.__exit__(None, None, None)
        return len(gone)


def write_config(tmp: Path, urls: list[str], args: argparse.Namespace) -> Path:
    sources = "".join(f'[[sources]]\nurl = "{u}"\nname = "feed {n}"\n' for n, u in enumerate(urls))
    config = tmp / "soak.toml"
    config.write_text(f"""
[database]
url = "sqlite:///{tmp}/soak.db"
[log]
format = "json"
[http]
allow_networks = ["127.0.0.1/32"]
retries = 0
connect_timeout = 1
read_timeout = {args.slow / 2:g}
total_timeout = {args.slow:g}
host_delay = 0
robots_cache = 20
[poll]
interval = {args.interval:g}
min_interval = 1
jitter = 0.2
backoff = 2
max_backoff = {args.interval:g}
dispatch_every = 1
concurrency = {args.concurrency}
lease = 60
[extract]
processes = {args.processes}
recycle_after = {args.recycle}
[service]
metrics_port = 0
[output]
qrcode_dir = ""
{sources}""")
    return config


# --- /proc ----------------------------------------------------------------------------------------

def _status(pid: int) -> dict[str, str]:
    return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        try:
            kids = _children(stack.pop())
        except OSError:
            continue
        found += kids
        stack += kids
    return found


def _socket_states() -> dict[str, str]:
    states = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            states[fields[9]] = _TCP_STATES.get(fields[3], "other")
    return states


def sample(pid: int, workers_seen: set[int]) -> dict:
    status = _status(pid)
    fds = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            fds.append(os.readlink(fd))
        except OSError:
            pass
    states = _socket_states()
    sockets = [m.group(1) for link in fds if (m := re.fullmatch(r"socket:\[(\d+)\]", link))]
    kinds = [states.get(inode, "unix") for inode in sockets]
    procs, server = [], (0, 0)
    for child in _descendants(pid):
        try:
            s = _status(child)
            if int(s["PPid"]) == pid and b"forkserver" in Path(f"/proc/{child}/cmdline").read_bytes():
                server = (int(s["VmRSS"].split()[0]) // 1024, len(os.listdir(f"/proc/{child}/fd")))
                continue
        except OSError:
            continue
        procs.append((s["State"].split()[0], int(s.get("VmRSS", "0 kB").split()[0]) // 1024))
        if server[0] and int(s["PPid"]) != pid:  # a worker: a child of the forkserver
            workers_seen.add(child)
    return {"rss": int(status["VmRSS"].split()[0]) // 1024, "threads": int(status["Threads"]), "fds": len(fds),
            "sockets": len(sockets), "established": kinds.count("established"),
            "close_wait": kinds.count("close_wait"), "procs": len(procs),
            "zombies": sum(1 for state, _ in procs if state == "Z"),
            "worker_rss": max((rss for _, rss in procs), default=0), "server_rss": server[0], "server_fds": server[1]}


def metric(url: str | None, name: str) -> float:
    if url is None:
        return float("nan")
    try:
        text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    except OSError:
        return float("nan")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=10.0, help="[poll] interval, seconds")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--recycle", type=int, default=50, help="[extract] recycle_after")
    parser.add_argument("--slow", type=float, default=2.0, help="total_timeout; read_timeout is half of it")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds a host keeps an idle connection")
    parser.add_argument("--vanish", type=float, default=None, help="seconds before hosts go away (default: half-time)")
    parser.add_argument("--vanish-share", type=float, default=0.25)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    args = parser.parse_args()
    vanish_at = args.vanish if args.vanish is not None else args.minutes * 30

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="presswire-soak-") as tmp:
        farm = Farm(stack, args.feeds, args.hosts, args.slow + 1, args.idle)
        config = write_config(Path(tmp), farm.urls, args)
        log = Path(tmp) / "service.log"
        with log.open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(config), "run"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=err)
        print(f"{args.feeds} feeds on {args.hosts} hosts, interval {args.interval:g}s, concurrency "
              f"{args.concurrency}, {args.processes} workers recycled every {args.recycle} pages; "
              f"{args.vanish_share:.0%} of the hosts go away at {vanish_at:g}s; service pid {proc.pid}")
        print(f"{'s':>5} {'polls':>6} {'stored':>6} {'rss MB':>6} {'thr':>4} {'fds':>4} {'socks':>5} {'estab':>5} "
              f"{'c_wait':>6} {'procs':>5} {'zomb':>4} {'wrk MB':>6} {'fs MB':>5} {'fs fds':>6} {'wpids':>5}", flush=True)
        started, metrics_url, vanished, workers_seen = time.monotonic(), None, False, set()
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                time.sleep(min(args.every, max(0.1, args.minutes * 60 - elapsed)))
                if proc.poll() is not None:
                    sys.exit(f"the service exited with {proc.returncode}; its log: {log.read_text()[-2000:]}")
                if metrics_url is None:
                    for line in log.read_text().splitlines():
                        if '"service started"' in line:
                            metrics_url = json.loads(line).get("metrics")
                if not vanished and time.monotonic() - started >= vanish_at:
                    print(f"      {farm.vanish(args.vanish_share)} hosts went away", flush=True)
                    vanished = True
                s = sample(proc.pid, workers_seen)
                print(f"{time.monotonic() - started:>5.0f} {metric(metrics_url, 'presswire_polls_total'):>6.0f} "
                      f"{metric(metrics_url, 'presswire_items_stored_total'):>6.0f} {s['rss']:>6} {s['threads']:>4} "
                      f"{s['fds']:>4} {s['sockets']:>5} {s['established']:>5} {s['close_wait']:>6} {s['procs']:>5} "
                      f"{s['zombies']:>4} {s['worker_rss']:>6} {s['server_rss']:>5} {s['server_fds']:>6} {len(workers_seen):>5}", flush=True)
        finally:
            tree = _descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "killed after 60 s"
            deadline = time.monotonic() + 10
            while (alive := [p for p in tree if Path(f"/proc/{p}").exists()]) and time.monotonic() < deadline:
                time.sleep(0.2)
            print(f"stopped: exit {code}; processes of it still alive: {alive or 'none'}")


if __name__ == "__main__":
    main()
