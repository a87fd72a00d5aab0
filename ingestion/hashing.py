"""Content and perceptual hashes, and a small index to find near duplicates among them.

The exact hash is SHA-256 of the file bytes. The perceptual hash is imagehash's 64-bit pHash of the
upright RGB picture: a resized or re-encoded copy of a photo lands within a few bits of the original.
"""
import hashlib

import imagehash
import numpy as np

from .conf import setting


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def perceptual_hash(image):
    """16 hex digits: the 64-bit pHash of a PIL image."""
    return str(imagehash.phash(image))


def hash_to_int(phash_hex):
    return int(phash_hex, 16)


def hamming(a, b):
    """Differing bits between two perceptual hashes (hex strings or ints)."""
    if isinstance(a, str):
        a = hash_to_int(a)
    if isinstance(b, str):
        b = hash_to_int(b)
    return (a ^ b).bit_count()


def default_distance():
    return setting("PETSITE_NEAR_DUPLICATE_DISTANCE", 6)


class NearDuplicateIndex:
    """Perceptual hashes with keys; `nearest(h)` finds the closest stored one by Hamming distance.

    A flat numpy scan: tens of thousands of 64-bit hashes compare in well under a millisecond,
    which is simpler and as fast here as a BK-tree.
    """

    def __init__(self):
        self._hashes = np.empty(0, dtype=np.uint64)
        self._keys = []
        self._pending = []  # appended in batches to avoid reallocating per add

    def __len__(self):
        return len(self._keys)

    def add(self, phash, key):
        self._pending.append(hash_to_int(phash) if isinstance(phash, str) else int(phash))
        self._keys.append(key)

    def _flush(self):
        if self._pending:
            self._hashes = np.concatenate([self._hashes, np.array(self._pending, dtype=np.uint64)])
            self._pending = []

    def distances(self, phash):
        """Distance from `phash` to every stored hash, in insertion order."""
        self._flush()
        value = np.uint64(hash_to_int(phash) if isinstance(phash, str) else int(phash))
        return np.bitwise_count(self._hashes ^ value)

    def nearest(self, phash, max_distance):
        """(key, distance) of the closest stored hash within `max_distance`, or None."""
        if not self._keys:
            return None
        distances = self.distances(phash)
        best = int(np.argmin(distances))
        if distances[best] > max_distance:
            return None
        return self._keys[best], int(distances[best])


def near_duplicate_pairs(phashes, max_distance):
    """All index pairs (i, j), i < j, whose hashes are within `max_distance` bits."""
    values = np.array([hash_to_int(h) if isinstance(h, str) else int(h) for h in phashes], dtype=np.uint64)
    pairs = []
    for i in range(len(values) - 1):
        close = np.nonzero(np.bitwise_count(values[i + 1 :] ^ values[i]) <= max_distance)[0]
        pairs.extend((i, i + 1 + int(j)) for j in close)
    return pairs
