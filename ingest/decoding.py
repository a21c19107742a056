"""Untrusted bytes to safe text: Content-Encoding decoding with bounded memory, charset repair, clean strings.

Content-Encoding decoding never expands one network chunk unboundedly in memory.

HTTP clients commonly decode gzip/deflate with `decompressobj().decompress(chunk)` (httpx does), which
inflates a whole network read (up to 64 KiB) at once: at deflate's ~1000:1 ratio that is ~64 MB in one
step (and a gzip-inside-gzip body multiplies that again) before any size limit can look. presswire reads
the raw bytes instead and inflates them here in steps of at most STEP bytes, so the caller's byte count
sees every step and a compression bomb is cut at max_bytes with memory bounded by max_bytes + a few steps.

Supported: identity, gzip (also x-gzip, concatenated members), deflate (zlib-wrapped or raw), and chains
of those ("gzip, gzip"; MAX_CODINGS at most). Anything else (br, zstd, compress) is refused: we never ask for it.

Text: `repair_utf8` reads a document meant as UTF-8 that holds stray bytes of a legacy charset (a
Windows-1252 item pasted into a UTF-8 feed) byte sequence by sequence instead of as one charset, and
`clean_text` removes from a string what no stored text may hold: control characters (NUL included),
lone surrogates and the non-characters U+FFFE/U+FFFF.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import zlib
from typing import Iterable, Iterator, TypeVar

STEP = 64 * 1024  # most bytes one decompress call may produce
MAX_CODINGS = 5  # gzip/deflate layers undone at most (curl's limit too); each is a generator wrapping the last

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class UnsupportedEncoding(Exception):
    pass


class CorruptEncoding(Exception):
    pass


class TruncatedEncoding(Exception):
    """The body ended inside its compressed stream: cut short on the way (worth asking again), not corrupt."""


def decoded(raw: Iterable[bytes], content_encoding: str | None) -> Iterator[bytes]:
    """The decoded body of `raw` chunks sent with `content_encoding` (applied in the listed order)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in codings:
        if coding != "identity" and coding not in _WBITS:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {coding!r} (presswire asks for gzip, deflate)")
    layers = len(codings) - codings.count("identity")
    if layers > MAX_CODINGS:  # "gzip, gzip, ..." 2,000 times nested 2,000 generators: a RecursionError, no error
        raise UnsupportedEncoding(f"Content-Encoding of {layers} codings (presswire undoes at most {MAX_CODINGS})")
    chunks: Iterable[bytes] = raw
    for coding in reversed(codings):
        if coding != "identity":
            chunks = _inflate(chunks, coding)
    return iter(chunks)


def _inflate(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """Inflate a gzip/deflate stream, STEP bytes at a time; TruncatedEncoding when the body ends inside it.

    A body without a Content-Length (chunked, or ended by closing the connection) that a server or proxy
    cut short looks whole to HTTP: only the compressed stream can tell, by not having reached its end (read
    as it was, part of a page or feed was stored as the whole of it).

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
    if decomp is not None or (pending and not members):  # a stream begun and not ended (1 byte: begun)
        raise TruncatedEncoding(f"body cut short: its {coding} stream ends unfinished")


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


# --- text ------------------------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_BREAKS = "\t\n\r\x85\u2028\u2029"
_ASCII_CONTROL_OR_BREAK = bytes(range(0x20)) + b"\x7f"  # what the patterns match in ASCII text
_ASCII_CONTROL = _ASCII_CONTROL_OR_BREAK.translate(None, b"\t\n\r")
_LEGACY = "presswire-cp1252"
_Record = TypeVar("_Record")


def clean_text(text: str, *, newlines: bool = True) -> str:
    """`text` without control characters, lone surrogates or U+FFFE/U+FFFF; tabs and line breaks are kept
    when `newlines`, else each becomes a space (one-line values: titles, links, ids)."""
    if text.isascii():  # the common case, without a regex pass (~44 -> ~6 us of CPU on a 6 KB body)
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_CONTROL if newlines else _ASCII_CONTROL_OR_BREAK)) == len(data):
            return text
    if newlines:
        return _CONTROL.sub("", text)
    return _CONTROL_OR_BREAK.sub(lambda m: " " if m.group() in _BREAKS else "", text)


def clean_strings(record: _Record) -> _Record:
    """A frozen dataclass (a FeedEntry, an Extraction) with clean_text applied to each of its string fields
    (the record itself when they are clean already)."""
    changed = {f.name: cleaned for f in dataclasses.fields(record)
               if isinstance(value := getattr(record, f.name), str) and (cleaned := clean_text(value)) != value}
    return dataclasses.replace(record, **changed) if changed else record


def repair_utf8(data: bytes) -> bytes | None:
    """`data` as valid UTF-8 when it is UTF-8 with some invalid bytes (each invalid byte read as Windows-1252);
    None when it is valid UTF-8 already."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", _LEGACY).encode("utf-8")
    return None


def page_content(content: bytes, content_type: str) -> bytes | str:
    """An HTML page as the extractor should read it, by the HTML standard's order: a byte order mark, then the
    HTTP charset; without either, the bytes as they are (the extractor reads them as UTF-8 when they are, else
    by their <meta charset> or by guessing).

    Valid UTF-8 is UTF-8 whatever the header says (a server's default "charset=iso-8859-1" on a UTF-8 page;
    real Windows-1252 text with accents is never valid UTF-8), but for declared UTF-16 or UTF-32 with NUL
    bytes: ASCII text in those is valid UTF-8 too (a NUL after every letter), and was read so, as no text.
    Declared UTF-8 with stray legacy bytes is repaired byte by byte (repair_utf8). Any other declared charset
    decodes the page here: guessing from the bytes got short pages wrong ("crème brûlée" read as Central
    European)."""
    if content.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content
    charset = _charset(content_type)
    if charset is None:
        return content
    if not (charset.startswith(("utf-16", "utf-32")) and b"\x00" in content):
        try:
            content.decode("utf-8")
            return content
        except UnicodeDecodeError:
            pass
    if charset == "utf-8":
        return repair_utf8(content) or content
    text = content.decode(_WHATWG.get(charset, charset), "replace")
    return _XML_DECLARATION.sub("", text, count=1)  # lxml refuses a str that declares an encoding


def _charset(content_type: str) -> str | None:
    """Python's codec for the charset parameter of a Content-Type; None without one, or for one Python lacks."""
    match = _CHARSET_PARAM.search(content_type or "")
    try:
        return codecs.lookup(match.group(1)).name if match else None
    except LookupError:
        return None


def _legacy_bytes(exc: UnicodeError) -> tuple[str, int]:
    """codecs error handler: the undecodable bytes as Windows-1252 (U+FFFD for its five unassigned bytes)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("cp1252", "replace"), exc.end


codecs.register_error(_LEGACY, _legacy_bytes)

_CHARSET_PARAM = re.compile(r";\s*charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# the WHATWG Encoding Standard reads these labels as Windows-1252, as browsers do
_WHATWG = {"ascii": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252"}
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
