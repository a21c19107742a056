"""Content-Encoding decoding that never expands one network chunk unboundedly in memory.

httpx decodes gzip/deflate with `decompressobj().decompress(chunk)`, which inflates a whole network read
(up to 64 KiB) at once: at deflate's ~1000:1 ratio that is ~64 MB in one step (and a gzip-inside-gzip
body multiplies that again) before any size limit can look. presswire reads the raw bytes instead and
inflates them here in steps of at most STEP bytes, so the caller's byte count sees every step and a
compression bomb is cut at max_bytes with memory bounded by max_bytes + a few steps.

Supported: identity, gzip (also x-gzip, concatenated members), deflate (zlib-wrapped or raw), and chains
of those ("gzip, gzip"). Anything else (br, zstd, compress) is refused: we never ask for it.
"""

from __future__ import annotations

import zlib
from typing import Iterable, Iterator

STEP = 64 * 1024  # most bytes one decompress call may produce

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class UnsupportedEncoding(Exception):
    pass


class CorruptEncoding(Exception):
    pass


def decoded(raw: Iterable[bytes], content_encoding: str | None) -> Iterator[bytes]:
    """The decoded body of `raw` chunks sent with `content_encoding` (applied in the listed order)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in codings:
        if coding != "identity" and coding not in _WBITS:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {coding!r} (presswire asks for gzip, deflate)")
    chunks: Iterable[bytes] = raw
    for coding in reversed(codings):
        if coding != "identity":
            chunks = _inflate(chunks, coding)
    return iter(chunks)


def _inflate(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """Inflate a gzip/deflate stream, STEP bytes at a time; a truncated stream gives what it holds.

    Concatenated gzip members are all inflated (as gzip(1) does); junk after the last one is ignored."""
    decomp, members, pending = None, 0, b""
    for chunk in chunks:
        data, pending = pending + chunk, b""
        while data:
            if decomp is None:
                if len(data) < 2:  # too little to tell zlib from raw deflate: wait for the next chunk
                    pending = data
                    break
                decomp = _decompressor(coding, data)
            try:
                yield from _drain(decomp, data)
            except CorruptEncoding:
                if members:
                    return
                raise
            data = b""
            if decomp.eof:
                members += 1
                if coding == "deflate":
                    return
                data, decomp = decomp.unused_data, None


def _drain(decomp, data: bytes) -> Iterator[bytes]:
    """Feed `data`, yielding output STEP by STEP until the decompressor needs more input."""
    while True:
        out = _step(decomp, data)
        if out:
            yield out
        data = decomp.unconsumed_tail
        if decomp.eof or (not data and len(out) < STEP):
            return


def _decompressor(coding: str, first: bytes):
    """gzip, or deflate as sent: zlib-wrapped per the RFC, or raw as some servers do."""
    if coding == "deflate" and not _looks_zlib(first):
        return zlib.decompressobj(-zlib.MAX_WBITS)
    return zlib.decompressobj(_WBITS[coding])


def _looks_zlib(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _step(decomp, data: bytes) -> bytes:
    try:
        return decomp.decompress(data, STEP)
    except zlib.error as exc:
        raise CorruptEncoding(f"corrupt compressed body: {exc}") from exc
