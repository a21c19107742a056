"""Oversized and endless responses: 100 MB bodies, compression bombs, codings we never asked for, slow drips.

Every case goes through `presswire poll` against a 127.0.0.1 server and asserts what was recorded: the
source's error (`sources list --json`, the poll's log line) or the item's failure. Big bodies are produced
by generators while they are sent, never built in memory.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import time
import tracemalloc
import zlib
from typing import Iterator

import pytest

from conftest import Presswire, log_events, write_config
from hostile import HTML_TYPE, RSS_TYPE, item, items, poll_event, presswire_for, rss, source_state
from ingest.errors import PermanentFetchError, TransientFetchError
from ingest.fetch import Fetcher
from ingest.settings import HttpSettings

MB = 1 << 20
MAX_BYTES = 10_000_000  # the default [http] max_bytes, which these tests keep


def _counting(chunks, sent: list[int]):
    for chunk in chunks:
        sent[0] += len(chunk)
        yield chunk


def _endless_feed(total: int, sent: list[int]):
    """An RSS feed of `total` bytes, produced chunk by chunk while it is sent."""
    head = rss("").split("</channel>")[0].encode()
    chunk = "".join(item(f"g{n}", f"Story {n}", f"https://wire.example/{n}") for n in range(200)).encode()
    yield from _counting(itertools.chain([head], itertools.repeat(chunk, (total - len(head)) // len(chunk))), sent)


@functools.cache
def _bomb(coding: str, size: int = 256 * MB) -> bytes:
    """`size` zero bytes compressed with `coding` ("gzip", "deflate" zlib-wrapped, "raw-deflate", "gzip, gzip")."""
    wbits = {"gzip": 31, "gzip, gzip": 31, "deflate": 15, "raw-deflate": -15}[coding]
    compressor = zlib.compressobj(1, zlib.DEFLATED, wbits)
    zeros = bytes(MB)
    body = b"".join(compressor.compress(zeros) for _ in range(size // MB)) + compressor.flush()
    return gzip.compress(body) if coding == "gzip, gzip" else body


def test_a_100_mb_feed_is_cut_at_max_bytes(tmp_path, sqlite_url, empty_server):
    sent = [0]
    empty_server.route("/feed.xml", body=lambda _h: _endless_feed(100 * MB, sent), headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    event = poll_event(pw)
    assert event["status"] == "error" and f"response too large: more than max_bytes {MAX_BYTES}" in event["error"]
    assert "max_bytes" in source_state(pw)["last_error"]
    assert sent[0] < 40 * MB  # the reading stopped: the server could not send the rest
    assert items(pw) == []


def test_an_endless_article_page_is_cut_and_the_item_kept_with_the_reason(tmp_path, sqlite_url, empty_server):
    endless = itertools.chain([b"<html><body><article>"], itertools.repeat(b"<p>" + b"word " * 2000 + b"</p>"))
    empty_server.route("/endless/", body=lambda _h: endless, headers=HTML_TYPE)
    empty_server.route("/feed.xml", body=rss(item("e1", "Endless page", empty_server.url("/endless/"),
                                                  "The feed's own summary.")), headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    [stored] = items(pw)
    assert f"more than max_bytes {MAX_BYTES}" in stored["failure"]
    assert stored["method"] == "feed" and stored["body_html"] == "<p>The feed's own summary.</p>"


@pytest.mark.parametrize("coding,header", [("gzip", "gzip"), ("deflate", "deflate"), ("raw-deflate", "deflate"),
                                           ("gzip, gzip", "gzip, gzip")])
def test_compression_bombs_are_cut_at_max_bytes(tmp_path, sqlite_url, empty_server, coding, header):
    bomb = _bomb(coding)
    assert len(bomb) < 2 * MB  # 256 MB once inflated
    empty_server.route("/feed.xml", body=bomb, headers={**RSS_TYPE, "Content-Encoding": header})
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    event = poll_event(pw)
    assert f"response too large: more than max_bytes {MAX_BYTES}" in event["error"]


def test_a_compression_bomb_never_holds_more_than_max_bytes_in_memory(empty_server):
    empty_server.route("/bomb", body=_bomb("gzip, gzip"), headers={"Content-Encoding": "gzip, gzip"})
    tracemalloc.start()
    try:
        with Fetcher(HttpSettings(retries=0, allow_networks=("127.0.0.1/32",))) as fetcher, \
                pytest.raises(PermanentFetchError, match="max_bytes"):
            fetcher.get(empty_server.url("/bomb"))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_BYTES  # 256 MB inflated from 1 KB; never more than max_bytes + a few steps held


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_codings_presswire_never_asks_for_are_refused_not_passed_through(tmp_path, sqlite_url, empty_server, coding):
    empty_server.route("/feed.xml", body=b"\x1b\x07\x00\xf8\xa5\x90\x00" * 100,
                       headers={**RSS_TYPE, "Content-Encoding": coding})
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    event = poll_event(pw)
    assert "unsupported Content-Encoding" in event["error"] and "presswire asks for gzip, deflate" in event["error"]
    assert empty_server.hits_for("/feed.xml")[0]["accept-encoding"] == "gzip, deflate"  # never br


def test_a_chain_of_thousands_of_codings_fails_its_item_not_the_poll(tmp_path, sqlite_url, empty_server):
    """Each coding is a layer of decoding; 2,000 of them ended the whole poll with a RecursionError."""
    feed = rss(item("p", "Page", empty_server.url("/page/"), "The feed's summary.")).encode()
    for _ in range(5):  # the most presswire undoes: read
        feed = gzip.compress(feed)
    empty_server.route("/feed.xml", body=feed, headers={**RSS_TYPE, "Content-Encoding": "gzip, " * 4 + "gzip"})
    empty_server.route("/page/", body=gzip.compress(b"<html><body><p>Page.</p></body></html>"),
                       headers={**HTML_TYPE, "Content-Encoding": ", ".join(["gzip"] * 2000)})
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    [stored] = items(pw)
    assert "Content-Encoding of 2000 codings (presswire undoes at most 5)" in stored["failure"]
    assert stored["body_html"] == "<p>The feed's summary.</p>"


def test_a_corrupt_gzip_body_is_a_clear_error(tmp_path, sqlite_url, empty_server):
    empty_server.route("/feed.xml", body=b"\x1f\x8b\x08\x00" + b"not really gzip" * 10,
                       headers={**RSS_TYPE, "Content-Encoding": "gzip"})
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert "corrupt compressed body" in poll_event(pw)["error"]


def test_a_declared_length_over_max_bytes_is_refused_before_reading(tmp_path, sqlite_url, empty_server):
    sent = [0]
    empty_server.route("/feed.xml", body=lambda _h: _endless_feed(100 * MB, sent),
                       headers={**RSS_TYPE, "Content-Length": str(100 * MB)})
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert f"Content-Length {100 * MB} > max_bytes {MAX_BYTES}" in poll_event(pw)["error"]
    assert sent[0] < 40 * MB


def test_a_slow_drip_is_cut_at_total_timeout(tmp_path, sqlite_url, empty_server):
    """One byte every 0.2 s keeps every read under read_timeout (30 s) forever; total_timeout ends it."""
    empty_server.route("/feed.xml", body=rss(item("d", "Drip", "https://wire.example/d")) * 50, headers=RSS_TYPE,
                       drip=0.2)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"), http="total_timeout = 1.5\n")
    started = time.monotonic()
    event = poll_event(pw)
    assert "response took longer than total_timeout 1.5s" in event["error"]
    assert "total_timeout" in source_state(pw)["last_error"]
    assert time.monotonic() - started < 30  # generous: the body alone would take 10 minutes


def test_a_server_that_never_answers_is_cut_at_total_timeout(tmp_path, sqlite_url, empty_server):
    empty_server.route("/feed.xml", body=rss(""), headers=RSS_TYPE, delay=5)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"), http="total_timeout = 1\n")
    assert "longer than total_timeout 1s" in poll_event(pw)["error"]


def test_threads_sharing_a_fetcher_each_retry_their_own_request(empty_server):
    """8 threads, one Fetcher: each request is retried on its own (503, 503, then 200), and a request
    that keeps failing gives up after exactly retries + 1 attempts while the others succeed."""
    from concurrent.futures import ThreadPoolExecutor

    from ingest.errors import TransientFetchError

    def flaky(path: str, failures: int):
        def answer(_headers: dict[str, str]):
            if len(empty_server.hits_for(path)) <= failures:
                return 503, {}, b"busy"
            return 200, {"Content-Type": "text/plain"}, path.encode()
        return answer

    paths = [f"/story/{i}" for i in range(24)]
    for path in paths:
        empty_server.handle(path, flaky(path, 2))
    empty_server.handle("/down", flaky("/down", 99))

    def get(path: str) -> bytes | str:
        try:
            return fetcher.get(empty_server.url(path)).content
        except TransientFetchError as exc:
            return str(exc)

    with Fetcher(HttpSettings(retries=2, retry_backoff=0, allow_networks=("127.0.0.1/32",))) as fetcher, \
            ThreadPoolExecutor(8) as threads:
        got = list(threads.map(get, ["/down", *paths]))
    assert got[1:] == [path.encode() for path in paths]
    assert "HTTP 503" in got[0] and len(empty_server.hits_for("/down")) == 3
    assert all(len(empty_server.hits_for(path)) == 3 for path in paths)


def test_numbers_in_headers_that_only_look_like_digits_are_ignored_and_the_poll_goes_on(tmp_path, sqlite_url,
                                                                                       empty_server):
    """Header bytes are read as Latin-1, where 0xB9 and 0xB3 are "¹" and "³": str.isdigit() says yes, float()
    says no. A Retry-After or a max-age of them is no number, not a crash of the whole poll."""
    empty_server.route("/busy.xml", status=503, body=b"busy", headers={"Retry-After": "\u00b9"})
    empty_server.route("/cached.xml", body=rss(item("c1", "Cached", "", "The summary.")),
                       headers={**RSS_TYPE, "Cache-Control": "max-age=\u00b3"})
    pw = Presswire(write_config(tmp_path / "c.toml", sqlite_url, [(empty_server.url("/busy.xml"), "Busy"),
                                                                   (empty_server.url("/cached.xml"), "Cached")]))
    events = {e["url"]: e for e in log_events(pw("poll")) if e["event"] == "poll"}
    assert events[empty_server.url("/busy.xml")]["error"].endswith("busy.xml: HTTP 503")
    assert events[empty_server.url("/cached.xml")]["status"] == "ok"
    assert [i["title"] for i in items(pw)] == ["Cached"]


def _cut_short(body: bytes, headers: dict[str, str]) -> dict:
    """A route that promises `body` (its Content-Length) and closes the connection halfway through it."""
    return dict(body=lambda _h: iter([body[:len(body) // 2]]), headers={**headers, "Content-Length": str(len(body))})


def _compressed(body: bytes, coding: str) -> bytes:
    """`body` compressed with `coding` ("gzip", "deflate" zlib-wrapped, "raw-deflate")."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, {"gzip": 31, "deflate": 15, "raw-deflate": -15}[coding])
    return compressor.compress(body) + compressor.flush()


def _chunked(body: bytes) -> Iterator[bytes]:
    """`body` in the chunked transfer coding, properly ended: HTTP sees a whole body."""
    yield b"%x\r\n%s\r\n" % (len(body), body)
    yield b"0\r\n\r\n"


def _compressed_route(body: bytes, headers: dict[str, str], coding: str = "gzip", framing: str = "close",
                      cut: str | None = "half") -> dict:
    """A route that sends `body` compressed with `coding`, without a Content-Length, and stops `cut` ("half" its
    compressed stream, "trailer": all but its last 4 bytes, of the gzip or zlib trailer; None: nowhere), then
    ends the body as `framing` has it ("close": by closing the connection; "chunked": with the last chunk)."""
    stream = _compressed(body, coding)
    sent = {"half": stream[:len(stream) // 2], "trailer": stream[:-4], None: stream}[cut]
    return dict(body=lambda _h: _chunked(sent) if framing == "chunked" else iter([sent]),
                headers={**headers, "Content-Encoding": coding.removeprefix("raw-"),
                         **({"Transfer-Encoding": "chunked"} if framing == "chunked" else {})})


@pytest.mark.parametrize("cut", ["half", "trailer"])
@pytest.mark.parametrize("framing", ["close", "chunked"])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_body_cut_short_without_a_content_length_is_a_transient_failure(empty_server, coding, framing,
                                                                                     cut):
    """Without a Content-Length only the compressed stream can tell that the body is not whole: it never ends."""
    body = rss("".join(item(f"g{n}", f"Story {n}", f"https://wire.example/{n}") for n in range(50))).encode()
    empty_server.route("/cut.xml", **_compressed_route(body, RSS_TYPE, coding, framing, cut))
    empty_server.route("/whole.xml", **_compressed_route(body, RSS_TYPE, coding, framing, cut=None))
    with Fetcher(HttpSettings(retries=0, allow_networks=("127.0.0.1/32",))) as fetcher:
        with pytest.raises(TransientFetchError, match=f"/cut.xml: body cut short: its "
                                                      f"{coding.removeprefix('raw-')} stream ends unfinished"):
            fetcher.get(empty_server.url("/cut.xml"))
        assert fetcher.get(empty_server.url("/whole.xml")).content == body  # the control: sent whole, read whole


@pytest.mark.parametrize("route, failure", [
    (_cut_short, "connection closed after {half} of the {whole} bytes of its Content-Length"),
    (functools.partial(_compressed_route, framing="chunked"), "body cut short: its gzip stream ends unfinished"),
], ids=["content-length", "gzip-chunked"])
def test_a_page_cut_short_by_the_server_is_no_article_and_is_tried_again(tmp_path, sqlite_url, empty_server,
                                                                         route, failure):
    sentences = " ".join(f"Sentence {n} tells the whole story of the storage contract in detail." for n in range(40))
    page = f"<html><body><article><h1>Story</h1><p>{sentences}</p><p>The last paragraph.</p></article></body></html>"
    empty_server.route("/story/", **route(page.encode(), HTML_TYPE))
    empty_server.route("/feed.xml", body=rss(item("s1", "Story", empty_server.url("/story/"), "The feed's summary.")),
                       headers=RSS_TYPE)
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert poll_event(pw)["status"] == "ok"
    [stored] = items(pw)
    assert failure.format(half=len(page) // 2, whole=len(page)) in stored["failure"] \
        and empty_server.url("/story/") in stored["failure"]
    assert stored["method"] == "feed"  # not the half page, as if it were the article
    empty_server.route("/story/", body=page, headers=HTML_TYPE)
    assert poll_event(pw)["retried"] == 1
    [stored] = items(pw)
    assert stored["failure"] is None and "The last paragraph." in stored["body_html"]


def test_a_feed_cut_short_is_an_error_and_its_validators_are_not_kept(tmp_path, sqlite_url, empty_server):
    feed = rss("".join(item(f"g{n}", f"Story {n}", "", "A summary.") for n in range(20))).encode()
    empty_server.route("/feed.xml", **_cut_short(feed, {**RSS_TYPE, "ETag": '"v1"'}))
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"))
    assert "connection closed after" in poll_event(pw)["error"]
    assert items(pw) == []
    empty_server.route("/feed.xml", body=feed, headers={**RSS_TYPE, "ETag": '"v1"'})
    assert poll_event(pw)["new"] == 20  # asked unconditionally: no 304 for the entries the cut feed lacked
    assert "if-none-match" not in empty_server.hits_for("/feed.xml")[-1]


@pytest.mark.parametrize("length", ["-1", "\u00b2"])
def test_a_content_length_that_is_no_number_is_a_clear_error_not_a_wait(tmp_path, sqlite_url, empty_server, length):
    empty_server.route("/feed.xml", body=rss(item("g", "Story", "", "A summary.")),
                       headers={**RSS_TYPE, "Content-Length": length})  # kept alive: nothing ends the body
    pw = presswire_for(tmp_path, sqlite_url, empty_server.url("/feed.xml"), http="read_timeout = 5\n")
    started = time.monotonic()
    assert f"invalid Content-Length {length!r}" in poll_event(pw)["error"]
    assert time.monotonic() - started < 4
