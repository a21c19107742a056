"""MinHash signatures and LSH band keys: the numpy half of near-duplicate detection (ingest.dedup).

Its own module so that numpy is imported only where fingerprints are computed (the extraction workers,
and any process that fingerprints items itself), not by every process that imports ingest.dedup to
verify candidates or read the store.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterable, Sequence

import numpy as np

_MERSENNE61 = (1 << 61) - 1


def signature(shingle_set: Iterable[int], num_perm: int, seed: int) -> tuple[int, ...]:
    """Classic MinHash: for each of ``num_perm`` hash functions
    ``(a * x + b) mod (2**61 - 1)`` (``x`` the shingle hash masked to 61 bits)
    the minimum over the shingles; ``()`` for none."""
    values = np.array([h & _MERSENNE61 for h in shingle_set], dtype=np.uint64)
    return tuple(_minhash(values, num_perm, seed).tolist()) if len(values) else ()


_U61, _U31, _U30 = (np.uint64((1 << bits) - 1) for bits in (61, 31, 30))
_1, _30, _31, _61 = (np.uint64(n) for n in (1, 30, 31, 61))
_CHUNK = 128  # shingles per pass: the head's ~100 in one


def _minhash(values: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """The MinHash signature of ``values`` (uint64, each < 2**61): exactly
    ``min((a * x + b) % p)`` per hash function as Python integers compute it, ``p = 2**61 - 1``."""
    chunks = [_minhash_chunk(values[i : i + _CHUNK], num_perm, seed) for i in range(0, len(values), _CHUNK)]
    return chunks[0] if len(chunks) == 1 else np.minimum.reduce(chunks)


def _minhash_chunk(values: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """In uint64 arithmetic over flat (shingle, function) arrays, with ``a = ah * 2**31 + al`` and
    ``x = xh * 2**31 + xl`` (``ah, xh < 2**30``; ``al, xl < 2**31``):
    ``a * x = ah*xh * 2**62 + (ah*xl + al*xh) * 2**31 + al*xl``; modulo p, ``2**62 = 2`` and
    ``m * 2**31 = (m >> 30) + (m & (2**30 - 1)) * 2**31``. Every term is below 2**62 and their sum
    with ``b`` below 2**64; folding the bits above 61 once leaves ``t`` in [0, p + 5], and the
    wrapped-around ``t - p`` is the smaller of the two exactly when ``t >= p``."""
    ah2, ah, al, b = (array[: len(values) * num_perm] for array in _perm_arrays(num_perm, seed))
    xh = np.repeat(values >> _31, num_perm)
    xl = np.repeat(values & _U31, num_perm)
    total = xh * ah2  # ah*xh * 2**62 = 2*ah*xh (mod p), < 2**61
    total += b
    mid = xl * ah
    xh *= al
    mid += xh  # < 2**62
    total += mid >> _30
    mid &= _U30
    mid <<= _31
    total += mid
    xl *= al  # < 2**62
    total += xl
    high = total >> _61
    total &= _U61
    total += high  # <= p + 5
    np.subtract(total, _U61, out=high)  # wraps around above 2**63 unless total >= p
    np.minimum(total, high, out=total)
    return total.reshape(len(values), num_perm).min(axis=0)


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[tuple[int, int], ...]:
    """The fixed (a, b) pairs of the hash functions, derived from ``seed``."""
    rng = random.Random(seed)
    return tuple((rng.randrange(1, _MERSENNE61), rng.randrange(0, _MERSENNE61)) for _ in range(num_perm))


@functools.lru_cache(maxsize=8)
def _perm_arrays(num_perm: int, seed: int) -> tuple[np.ndarray, ...]:
    """``(2 * ah, ah, al, b)`` of the hash functions, repeated for ``_CHUNK`` shingles (read-only)."""
    a, b = (np.array(column, dtype=np.uint64) for column in zip(*_permutations(num_perm, seed)))
    arrays = tuple(np.tile(array, _CHUNK) for array in ((a >> _31) << _1, a >> _31, a & _U31, b))
    for array in arrays:
        array.flags.writeable = False
    return arrays


def band_keys(sig: Sequence[int], bands: int, rows: int) -> tuple[int, ...]:
    """One signed 64-bit LSH key per band; the band number is part of the key:
    BLAKE2b-64 of ``struct.pack("<I4Q", band, *rows_of_the_band)``."""
    if len(sig) < bands * rows:
        return ()
    values = np.array([v & 0xFFFFFFFFFFFFFFFF for v in sig[: bands * rows]], dtype=np.uint64)
    return _band_keys(values, bands, rows)


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> tuple[int, ...]:
    data, width = sig.astype("<u8").tobytes(), 8 * rows
    digests = b"".join([hashlib.blake2b(band.to_bytes(4, "little") + data[band * width : (band + 1) * width],
                                        digest_size=8).digest() for band in range(bands)])
    return tuple(np.frombuffer(digests, dtype="<i8").tolist())


def band_keys_of_head(head: bytes, num_perm: int, seed: int, bands: int, rows: int) -> tuple[int, ...]:
    """Band keys from the head's shingle hashes (8-byte little-endian digests, as ingest.dedup.gram_digests)."""
    values = np.frombuffer(head, dtype="<u8") & _U61
    return _band_keys(_minhash(values, num_perm, seed), bands, rows)
