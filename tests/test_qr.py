"""ingest.qr against segno, its reference: the same modules for every version and error level the byte-mode
encoder reaches, for ASCII and non-ASCII links, the same error where segno fails, and the same PNG bytes as
the writer it replaced (segno's matrix, packed a pixel at a time)."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib

import pytest
import segno
from hypothesis import given, settings, strategies as st
from segno import consts

from conftest import ROOT
from ingest.qr import fits, qr_matrix, qr_png, write_qrcode_batch

LEVELS = {"M": consts.ERROR_LEVEL_M, "Q": consts.ERROR_LEVEL_Q, "H": consts.ERROR_LEVEL_H}


def segno_matrix(link: str) -> tuple[tuple[bool, ...], ...]:
    code = segno.make(link or " ", error="m", mask=0, micro=False)
    return tuple(tuple(bool(m) for m in row) for row in code.matrix)


def reference_png(link: str, scale: int = 4, border: int = 2) -> bytes:
    """ingest.qr.qr_png before the byte-mode encoder: segno's code, the PNG rows built as '0'/'1' strings."""
    def bits(pixels: str) -> bytes:
        padded = pixels + "0" * (-len(pixels) % 8)
        return int(padded, 2).to_bytes(len(padded) // 8, "big")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    matrix = segno_matrix(link)
    width = (len(matrix) + 2 * border) * scale
    light_row = b"\x00" + bits("1" * width)
    rows = [light_row] * (border * scale)
    for modules in matrix:
        line = "1" * (border * scale) + "".join("0" * scale if dark else "1" * scale for dark in modules) \
            + "1" * (border * scale)
        rows.extend([b"\x00" + bits(line)] * scale)
    rows.extend([light_row] * (border * scale))
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + chunk(b"IEND", b""))


def link_of(length: int, alphabet: str = "", seed: int = 0) -> str:
    """A URL-like link whose bytes as segno encodes it (ISO 8859-1, else Shift JIS, else UTF-8) number
    `length`: ASCII path characters, with characters of `alphabet` spread through the path."""
    chars = "abcdefghijklmnopqrstuvwxyz0123456789-_/.?=&%"
    link = "https://w.example/"[:length]
    k = seed
    while True:
        k += 1
        extra = alphabet[k % len(alphabet)] if alphabet and k % 3 == 0 else chars[(k * 7919) % len(chars)]
        if byte_length(link + extra) > length:
            break
        link += extra
    while byte_length(link) < length:  # a multi-byte character did not fit: make up the rest in ASCII
        link += "a"
    return link


def byte_length(link: str) -> int:
    for encoding in ("iso-8859-1", "shift_jis", "utf-8"):
        try:
            return len(link.encode(encoding))
        except UnicodeError:
            continue
    raise AssertionError(link)


def max_bytes(version: int, level: str) -> int:
    """The most bytes a version holds in byte mode at a level (the count is 8 bits up to version 9, 16 after)."""
    return (consts.SYMBOL_CAPACITY[version][LEVELS[level]] - 4 - (8 if version < 10 else 16)) // 8


def boundary_lengths(boosts: bool) -> list[int]:
    """Per version, the fewest and most bytes that need it at level M, and (boosts) either side of the
    lengths at which segno raises the error level to Q and to H (its boost_error)."""
    lengths = {1, 2}
    for version in range(1, 41):
        low = max_bytes(version - 1, "M") + 1 if version > 1 else 1
        high = max_bytes(version, "M")
        lengths.update((low, high))
        if boosts:
            for n in (low + 1, high - 1, max_bytes(version, "Q"), max_bytes(version, "Q") + 1,
                      max_bytes(version, "H"), max_bytes(version, "H") + 1):
                if low <= n <= high:
                    lengths.add(n)
    return sorted(lengths)


@pytest.mark.parametrize("alphabet", ["", "é£ü", "日本語", "\U0001f600ü"],
                         ids=["ascii", "latin-1", "shift-jis", "utf-8"])
def test_the_modules_are_segnos_for_every_version_and_error_level(alphabet):
    seen = set()
    for length in boundary_lengths(boosts=not alphabet):  # every boost in ASCII; the others take long enough
        link = link_of(length, alphabet, seed=length)
        assert byte_length(link) == length
        code = segno.make(link, error="m", mask=0, micro=False)
        assert qr_matrix(link) == tuple(tuple(bool(m) for m in row) for row in code.matrix), (length, link)
        seen.add((code.version, code.error))
    assert {v for v, _ in seen} == set(range(1, 41))
    if not alphabet:
        assert {e for _, e in seen} == {"M", "Q", "H"}


def test_the_modules_are_segnos_for_the_benchs_links_and_the_fixtures():
    links = [f"http://127.0.0.1:{port}/news/{n}/" for port in (80, 8080, 43123) for n in range(1, 3000, 37)]
    links += sorted({link for path in (ROOT / "fixtures").rglob("*") if path.is_file()
                     for link in re.findall(r"https?://[^\s\"'<>]+", path.read_text("utf-8", "replace"))})
    assert len(links) > 600
    for link in links:
        assert qr_matrix(link) == segno_matrix(link), link


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.text(max_size=200).map(lambda path: "https://x.example/" + path))
def test_any_text_gives_segnos_code(text):
    assert qr_matrix(text) == segno_matrix(text)


def test_a_link_segno_cannot_encode_is_segnos_error():
    link = "https://x.example/\ud800"  # a lone surrogate: no encoding takes it
    with pytest.raises(UnicodeEncodeError):
        segno.make(link, error="m", mask=0, micro=False)
    with pytest.raises(UnicodeEncodeError):
        qr_png(link)


@pytest.mark.parametrize("link", ["", " ", "0123456789", "HTTPS://EXAMPLE.COM/NEWS/1", "\u30a2\u30a4",
                                  "\x81\x40", "https://example.com/" + "a" * 2311])
def test_what_segno_encodes_otherwise_is_segnos(link):
    # empty, numeric, alphanumeric, Kanji (Shift JIS and ISO 8859-1 bytes), the last byte-mode length of version 40
    assert qr_matrix(link) == segno_matrix(link)
    assert qr_png(link) == reference_png(link)


def test_too_long_for_version_40_is_segnos_error():
    link = "https://example.com/" + "a" * 2312
    with pytest.raises(segno.DataOverflowError):
        segno.make(link, error="m", mask=0, micro=False)
    with pytest.raises(segno.DataOverflowError):
        qr_png(link)


@pytest.mark.parametrize("link", ["https://example.com/" + "a" * n for n in (2311, 2312)]
                         + ["1" * 7089, "1" * 7090, "https://x.example/\ud800", ""])
def test_fits_says_whether_segno_can_make_the_code(link):
    try:
        segno.make(link or " ", error="m", mask=0, micro=False)
        possible = True
    except ValueError:  # DataOverflowError; UnicodeEncodeError
        possible = False
    assert fits(link) == possible


def test_the_png_bytes_are_the_writers_it_replaced():
    links = [f"http://127.0.0.1:43123/news/{n}/" for n in range(1, 200, 7)]
    links += [link_of(n, alphabet, seed=n) for n in (1, 17, 40, 75, 106, 150, 300, 700)
              for alphabet in ("", "é£ü", "日本語", "\U0001f600")]
    for link in links:
        assert qr_png(link) == reference_png(link), link


@pytest.mark.parametrize("scale, border", [(1, 0), (2, 1), (3, 2), (4, 0), (4, 1), (4, 3), (5, 2), (8, 2), (12, 4)])
def test_any_scale_and_border_give_the_same_png_bytes(scale, border):
    for link in ("https://example.com/a", "http://127.0.0.1:8080/news/12345/", link_of(120, "é", seed=3)):
        assert qr_png(link, scale, border) == reference_png(link, scale, border)


def test_a_batch_writes_the_same_pngs(tmp_path):
    codes = [(f"item-{n}", f"http://127.0.0.1:43123/news/{n}/") for n in range(20)]
    assert write_qrcode_batch(tmp_path, codes) == []
    for slug, link in codes:
        assert (tmp_path / f"{slug}.png").read_bytes() == reference_png(link)


def test_a_slug_that_leaves_the_directory_is_refused(tmp_path):
    qrcodes, outside = tmp_path / "qrcodes", tmp_path / "outside"
    outside.mkdir()
    (qrcodes / "sub").mkdir(parents=True)
    (qrcodes / "link").symlink_to(outside)
    slugs = ["../escaped", str(outside / "absolute"), "sub/nested", "link/through"]
    errors = write_qrcode_batch(qrcodes, [(slug, "https://x/a") for slug in slugs] + [("fine", "https://x/b")])
    assert len(errors) == 4 and all("would be outside" in e for e in errors)
    assert [p.name for p in tmp_path.rglob("*.png")] == ["fine.png"]


def test_a_directory_that_cannot_be_made_fails_each_code_by_name(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    errors = write_qrcode_batch(tmp_path / "taken" / "qrcodes", [("a", "https://x/a"), ("b", "https://x/b")])
    assert [e.split(":")[0] for e in errors] == ["a", "b"] and all("taken" in e for e in errors)


def test_a_code_that_cannot_be_written_whole_leaves_no_file(tmp_path):
    """A write that fails half-way (here the process's file size limit, as a full disk would) leaves neither the
    image nor its temporary file, and the codes that fit are written."""
    script = f"""
import resource, signal, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from ingest.qr import qr_png, write_qrcode_batch
small, large = "https://x/a", "https://x/" + "b" * 600
limit = len(qr_png(small)) + 10
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
assert len(qr_png(large)) > limit
print(write_qrcode_batch(Path({str(tmp_path)!r}), [("small", small), ("large", large)]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.startswith("['large: ") and "File too large" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.png"]
    assert (tmp_path / "small.png").read_bytes() == reference_png("https://x/a")
