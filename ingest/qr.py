"""QR codes for items' source links, generated locally (PNG, no network, no Pillow).

The codes are segno's: segno.make(link, error="m", mask=MASK, micro=False), module for module. A link
segno writes in byte mode (one whose first byte is ASCII and which is neither all digits nor all in the
alphanumeric set of upper case, digits and " $%*+-./:", i.e. every ordinary URL) is encoded here by a
small encoder specialised to exactly that case; anything else (another mode, a link too long for
version 40) goes to segno itself. segno is pure Python and general (mode and version search,
Reed-Solomon a coefficient at a time, the matrix built and masked module by module); the specialised
encoder divides a byte at a time on integers and places all the modules with one precomputed
permutation per version. tests/test_qr.py compares the two.

The PNG is written here too, as a 1-bit grayscale image, because segno's own PNG writer and its search
for the best of the eight masks are slow in pure Python (10.0 -> 2.3 ms of CPU per code, both measured
on the same loaded machine). The mask is fixed (MASK): every mask gives a valid code that any reader
decodes; the choice only trades a little scanning robustness. With the default scale a module is one
hex digit of the rows, so they are written as one hex string.

CPU per qr_png, segno + the '0'/'1'-string PNG writer -> this (time.process_time over 1,000 codes, old
and new interleaved, median of 5 rounds, on the shared 2-core machine): the bench's links
(http://127.0.0.1:PORT/news/N/) 0.73 -> 0.074 ms; the fixtures' 505 real URLs (17-193 bytes, mean 92)
1.62 -> 0.152 ms, of which zlib level 9 is now half (0.075 ms; level 6 would save 0.01 ms and change the
bytes).
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import zlib
from bisect import bisect_left
from functools import cache
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Iterable

import segno
from segno import consts

MASK = 0
SCALE = 4  # pixels per module
BORDER = 2  # quiet zone, in modules


def qr_matrix(link: str) -> tuple[tuple[bool, ...], ...]:
    """The code's modules (True = dark), quiet zone not included."""
    size, modules = _modules(link)
    return tuple(tuple(m == "1" for m in modules[r:r + size]) for r in range(0, size * size, size))


def qr_png(link: str, scale: int = SCALE, border: int = BORDER) -> bytes:
    size, modules = _modules(link)
    width = (size + 2 * border) * scale
    if scale % 4 == 0:
        rows = _rows_hex(size, modules, scale, border)
    else:
        rows = _rows_bits(size, modules, scale, border)
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)  # 1-bit grayscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 9))
            + _chunk(b"IEND", b""))


def _rows_hex(size: int, modules: str, scale: int, border: int) -> bytes:
    """The image rows (filter type 0, then the pixels, 0 = black, each row padded with 0 bits to a
    byte) when a module is a whole number of 4-pixel nibbles: one hex digit, f light or 0 dark, each."""
    nibbles = scale // 4
    pixels = modules.translate({ord("0"): "f" * nibbles, ord("1"): "0" * nibbles})
    quiet = "f" * (border * nibbles)
    pad = "0" * ((size + 2 * border) * nibbles % 2)
    line = size * nibbles
    light_rows = ("00" + "f" * ((size + 2 * border) * nibbles) + pad) * (border * scale)
    rows = "".join(("00" + quiet + pixels[i:i + line] + quiet + pad) * scale for i in range(0, len(pixels), line))
    return bytes.fromhex(light_rows + rows + light_rows)


def _rows_bits(size: int, modules: str, scale: int, border: int) -> bytes:
    """_rows_hex for any scale, a pixel at a time."""
    width = (size + 2 * border) * scale
    light_row = b"\x00" + _bits("1" * width)
    rows = [light_row] * (border * scale)
    for r in range(0, size * size, size):
        line = "1" * (border * scale) + "".join("0" * scale if m == "1" else "1" * scale
                                                  for m in modules[r:r + size]) + "1" * (border * scale)
        rows.extend([b"\x00" + _bits(line)] * scale)  # filter type 0, then the packed pixels
    rows.extend([light_row] * (border * scale))
    return b"".join(rows)


def _bits(pixels: str) -> bytes:
    """'0'/'1' pixels (0 = black) packed 8 to a byte, the last byte padded."""
    padded = pixels + "0" * (-len(pixels) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def fits(link: str) -> bool:
    """Whether a QR code can hold `link` (qr_png raises segno's DataOverflowError, a ValueError, for one
    that no version holds: over 2,331 bytes for an ordinary URL)."""
    data = _byte_mode_data(link or " ")
    if data is not None:
        return len(data) <= _MAX_BYTES[-1]
    try:  # another mode (rare for a link): segno decides
        segno.make(link, error="m", mask=MASK, micro=False)
    except ValueError:
        return False
    return True


def write_qrcode_batch(directory: Path, codes: Iterable[tuple[str, str]]) -> list[str]:
    """Write <directory>/<url_slug>.png for each (url_slug, link), creating the directory first; returns what
    could not be written, and why (the others are). Each file is written atomically (a reader never sees half
    an image). A slug that would put the file anywhere else ("../x", "/tmp/x", "a/b", "link/x") is refused:
    slugs come from documents too. (Compared as paths, not resolved: a slug with no "/" names a file in
    `directory` itself, and resolving both cost ~40 us a code, in the backfill's hot path.)

    One mkdir a batch, and os-level writes: pathlib's mkdir and write_bytes made 9 system calls a code (a
    mkdir and its stat, open's fstat, isatty and lseek) where 4 do (open, write, close, rename)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # no code can be written there
        return [f"{url_slug}: {exc}" for url_slug, _link in codes]
    errors = []
    for url_slug, link in codes:
        path = directory / f"{url_slug}.png"
        try:
            if path.parent != directory:
                raise ValueError(f"QR code file {url_slug!r}.png would be outside {directory}")
            _write_atomically(str(path), qr_png(link))
        except (OSError, ValueError) as exc:  # a full disk; a link too long for a QR code
            errors.append(f"{url_slug}: {exc}")
    return errors


def _write_atomically(path: str, data: bytes) -> None:
    """`data` into `path` by way of `path`.tmp, renamed over it once whole; a write that fails leaves no
    temporary file, and `path` as it was."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except BaseException:  # the write, or the close that reports it
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.replace(tmp, path)


# --- the encoder ------------------------------------------------------------------------------------
# segno's tables (the code's block structure, capacities, pattern positions, format and version words,
# GF(256) and the generator polynomials) are used as they are: the codes must be segno's.

_M, _Q, _H = consts.ERROR_LEVEL_M, consts.ERROR_LEVEL_Q, consts.ERROR_LEVEL_H
_FORMAT_OFFSET = {_M: 0x00, _Q: 0x18, _H: 0x10}  # index of (level, mask 0) in consts.FORMAT_INFO
_ALPHANUMERIC = re.compile(b"[" + re.escape(consts.ALPHANUMERIC_CHARS) + b"]+")


def _count_bits(version: int) -> int:
    """Length of the byte mode's character count."""
    return 8 if version < 10 else 16


# The most bytes each version 1..40 holds in byte mode at level M.
_MAX_BYTES = [(consts.SYMBOL_CAPACITY[v][_M] - 4 - _count_bits(v)) // 8 for v in range(1, 41)]


def _modules(link: str) -> tuple[int, str]:
    """The code's width and its modules row by row, '1' dark and '0' light."""
    link = link or " "
    data = _byte_mode_data(link) if isinstance(link, str) else None
    version = bisect_left(_MAX_BYTES, len(data)) + 1 if data is not None else 41
    if version > 40:  # another mode, or too long: segno chooses, or raises DataOverflowError (a ValueError)
        code = segno.make(link, error="m", mask=MASK, micro=False)
        return len(code.matrix), "".join("1" if m else "0" for row in code.matrix for m in row)
    return _encode(data, version)


def _byte_mode_data(link: str) -> bytes | None:
    """The bytes segno encodes `link` as (ISO 8859-1, else Shift JIS, else UTF-8), or None when segno
    would not use byte mode for them (all digits: numeric mode; all in the alphanumeric set; Kanji mode
    when every byte pair is a Shift JIS Kanji, which needs a first byte >= 0x81) or cannot encode them."""
    for encoding in ("iso-8859-1", "shift_jis", "utf-8"):
        try:
            data = link.encode(encoding)
            break
        except UnicodeError:
            continue
    else:
        return None  # segno raises
    if data[0] >= 0x80 or data.isdigit() or _ALPHANUMERIC.fullmatch(data):
        return None
    return data


def _encode(data: bytes, version: int) -> tuple[int, str]:
    count_bits = _count_bits(version)
    bit_length = 4 + count_bits + 8 * len(data)
    error = _M
    for level in (_Q, _H):  # segno's boost_error: the highest level the version still holds the data at
        if consts.SYMBOL_CAPACITY[version][level] < bit_length:
            break
        error = level
    layout = _layout(version, error)
    # Mode 0100, count, data, terminator 0000; then, as segno does, a zero byte (its padding to a byte
    # boundary adds 8 bits when the stream already ends on one) and the pad codewords 0xEC 0x11 ...
    stream = (((4 << count_bits | len(data)) << 8 * len(data)) | int.from_bytes(data, "big")) << 4
    codewords = stream.to_bytes(bit_length // 8 + 1, "big") + b"\x00" + b"\xec\x11" * (layout.data_length // 2)
    blocks, pos = [], 0
    for length in layout.block_lengths:
        blocks.append(codewords[pos:pos + length])
        pos += length
    shortest = layout.block_lengths[0]
    interleaved = bytes(chain.from_iterable(zip(*blocks))) + bytes(b[-1] for b in blocks if len(b) > shortest)
    interleaved += bytes(chain.from_iterable(zip(*(_error_words(b, layout.ec_length) for b in blocks))))
    bits = (int.from_bytes(interleaved, "big") << layout.remainder) ^ layout.mask
    return layout.size, "".join(layout.place(format(bits, layout.bits_format) + "01"))


def _error_words(block: bytes, length: int) -> bytes:
    """Reed-Solomon: the remainder of block(x) * x^length divided by the generator polynomial, a data
    byte at a time (the remainder as one integer; _multiples has the generator times each byte)."""
    multiples = _multiples(length)
    top = 8 * (length - 1)
    keep = (1 << 8 * length) - 1
    remainder = 0
    for byte in block:
        remainder = ((remainder << 8) & keep) ^ multiples[(remainder >> top) ^ byte]
    return remainder.to_bytes(length, "big")


@cache
def _multiples(length: int) -> tuple[int, ...]:
    """The generator polynomial of `length` error words (leading term dropped) times each of 0..255."""
    log, exp, generator = consts.GALIOS_LOG, consts.GALIOS_EXP, consts.GEN_POLY[length]
    return (0,) + tuple(int.from_bytes(bytes(exp[log[c] + g] for g in generator), "big") for c in range(1, 256))


class _Layout:
    """Everything about a code of one version and error level but its data."""

    def __init__(self, version: int, error: int) -> None:
        self.size = size = 4 * version + 17
        blocks = consts.ECC[version][error]
        self.block_lengths = [b.num_data for b in blocks for _ in range(b.num_blocks)]
        self.data_length = sum(self.block_lengths)
        self.ec_length = blocks[0].num_total - blocks[0].num_data
        grid = _function_patterns(version, error)
        # The data modules in the order the bit stream fills them: two-module columns from the right,
        # alternately upwards and downwards, skipping column 6 (segno's add_codewords).
        order = []
        for right in range(size - 1, 0, -2):
            if right <= 6:
                right -= 1
            for vertical in range(size):
                for j in (right, right - 1):
                    upwards = ((right & 2) == 0) ^ (j < 6)
                    i = size - 1 - vertical if upwards else vertical
                    if grid[i][j] is None:
                        order.append((i, j))
        count = len(order)
        self.remainder = count - 8 * sum(b.num_total * b.num_blocks for b in blocks)  # 0, 3, 4 or 7 zero bits
        self.bits_format = f"0{count}b"
        self.mask = int("".join("1" if (i + j) % 2 == 0 else "0" for i, j in order), 2)  # mask 0
        # Read row by row from the bit stream + "01": a data module is its bit, a function module the
        # "0" (light) or the "1" (dark) after the stream.
        index = {position: k for k, position in enumerate(order)}
        self.place = itemgetter(*(index[i, j] if grid[i][j] is None else count + grid[i][j]
                                  for i in range(size) for j in range(size)))


@cache
def _layout(version: int, error: int) -> _Layout:
    return _Layout(version, error)


def _function_patterns(version: int, error: int) -> list[list[int | None]]:
    """The code's function modules, 1 dark and 0 light; None where the data goes."""
    size = 4 * version + 17
    grid: list[list[int | None]] = [[None] * size for _ in range(size)]
    for i in range(8, size - 8):  # timing patterns
        grid[6][i] = grid[i][6] = int(i % 2 == 0)
    for top, left in ((0, 0), (0, size - 7), (size - 7, 0)):  # finder patterns with their separators
        for i in range(max(top - 1, 0), min(top + 8, size)):
            for j in range(max(left - 1, 0), min(left + 8, size)):
                ring = max(abs(i - top - 3), abs(j - left - 3))
                grid[i][j] = int(ring in (0, 1, 3))
    if version >= 2:  # alignment patterns, but where a finder pattern is
        positions = consts.ALIGNMENT_POS[version - 2]
        first, last = positions[0], positions[-1]
        for x in positions:
            for y in positions:
                if (x, y) not in ((first, first), (first, last), (last, first)):
                    for i in range(x - 2, x + 3):
                        for j in range(y - 2, y + 3):
                            grid[i][j] = int(max(abs(i - x), abs(j - y)) != 1)
    word = consts.FORMAT_INFO[_FORMAT_OFFSET[error] + MASK]  # format information (segno's add_format_info)
    for i in range(8):
        low, high = (word >> i) & 1, (word >> (14 - i)) & 1
        skip = int(i >= 6)  # the timing pattern
        grid[i + skip][8] = low
        grid[8][i + skip] = high
        grid[8][size - 1 - i] = low
        grid[size - 1 - i][8] = high
    grid[size - 8][8] = 1  # the dark module
    if version >= 7:  # version information
        word = consts.VERSION_INFO[version - 7]
        for i in range(6):
            for k in range(3):
                bit = (word >> (3 * i + k)) & 1
                grid[size - 11 + k][i] = grid[i][size - 11 + k] = bit
    return grid
