"""Deterministic feature vectors: the same key and seed give the same floats in every process."""

from __future__ import annotations

import hashlib

__all__ = ["features_for"]

# Python's hash() is salted per process; blake2b is stable across runs and machines.
_WORD = 4
_BLOCK = 64


def features_for(key: str, *, n_features: int, seed: int) -> list[float]:
    """Return `n_features` floats in [-1, 1) derived from a hash of the key and seed."""
    raw = bytearray()
    block = 0
    while len(raw) < n_features * _WORD:
        digest = hashlib.blake2b(
            f"{seed}\x00{block}\x00{key}".encode(), digest_size=_BLOCK
        ).digest()
        raw.extend(digest)
        block += 1
    scale = 2.0 / 2 ** (8 * _WORD)
    return [
        int.from_bytes(raw[i * _WORD : (i + 1) * _WORD], "big") * scale - 1.0
        for i in range(n_features)
    ]
