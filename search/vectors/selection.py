"""A selection of image ids that a search may return, kept as a bitmap.

A filter can select a million images; a Python set of them costs ~100 ms to build and a FAISS
``IDSelectorBatch`` another hash set of the same size. A bitmap over the id range (one bit per
id: 125 KB per million ids) answers membership for an array of ids with one vectorised lookup,
is intersected with a bitwise and, and FAISS reads it in place (``IDSelectorBitmap``). The ids
themselves are unpacked only when a search scans a (small) selection exactly.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from pixsift.search.records import ImageIdArray

#: Bit order of the bitmap: id ``i`` is bit ``i & 7`` of byte ``i >> 3``, as FAISS reads it.
BIT_ORDER = "little"


class Selection:
    """Image ids a search may return. ``total`` is the number of images the selection was drawn
    from (None when unknown): a selection of all of them is recognised without comparing ids.
    Immutable; safe to share between threads and to cache."""

    __slots__ = ("_bitmap", "_ids", "count", "total")

    def __init__(self, bitmap: np.ndarray, count: int, total: int | None = None) -> None:
        self._bitmap = bitmap
        self._bitmap.flags.writeable = False
        self._ids: ImageIdArray | None = None
        self.count = int(count)
        self.total = total

    @classmethod
    def of_ids(cls, ids: np.ndarray, total: int | None = None) -> Selection:
        """The selection of ``ids`` (any order, repeats allowed; ids must be >= 0)."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if len(ids) and int(ids.min()) < 0:
            raise ValueError("image ids are never negative")
        size = int(ids.max()) + 1 if len(ids) else 0
        bits = np.zeros(size, dtype=bool)
        bits[ids] = True
        return cls(np.packbits(bits, bitorder=BIT_ORDER), int(bits.sum()), total)

    @property
    def covers_all(self) -> bool:
        """Whether every image of the library is selected (the selection filters nothing)."""
        return self.total is not None and self.count >= self.total

    def fraction(self, of: int) -> float:
        """The selected share of ``of`` vectors (at most 1)."""
        return 1.0 if of <= 0 else min(1.0, self.count / of)

    def ids(self) -> ImageIdArray:
        """The selected ids, ascending."""
        if self._ids is None:
            bits = np.unpackbits(self._bitmap, bitorder=BIT_ORDER)
            self._ids = np.flatnonzero(bits).astype(np.int64)
        return self._ids

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """One bool per id of ``ids``: whether it is selected (negative ids never are)."""
        ids = np.asarray(ids, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self._bitmap) * 8)
        found = np.zeros(ids.shape, dtype=bool)
        valid = ids[inside]
        found[inside] = (self._bitmap[valid >> 3] >> (valid & 7).astype(np.uint8)) & 1 == 1
        return found

    def intersect(self, other: Selection) -> Selection:
        size = min(len(self._bitmap), len(other._bitmap))
        bitmap = self._bitmap[:size] & other._bitmap[:size]
        return Selection(bitmap, _bit_count(bitmap))

    def without(self, ids: np.ndarray) -> Selection:
        """This selection less ``ids`` (the library's total no longer applies)."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(self._bitmap) * 8)]
        if not len(ids):
            return self
        bitmap = self._bitmap.copy()
        np.bitwise_and.at(bitmap, ids >> 3, ~(np.uint8(1) << (ids & 7).astype(np.uint8)))
        return Selection(bitmap, _bit_count(bitmap))

    def faiss_selector(self) -> Any:
        """A FAISS ``IDSelectorBitmap`` reading this bitmap in place (it keeps a reference)."""
        return faiss.IDSelectorBitmap(self._bitmap)


def _bit_count(bitmap: np.ndarray) -> int:
    return int(np.bitwise_count(bitmap).sum(dtype=np.int64))


def as_selection(allowed: Selection | np.ndarray | None) -> Selection | None:
    """Callers may pass plain id arrays where a selection is expected."""
    if allowed is None or isinstance(allowed, Selection):
        return allowed
    return Selection.of_ids(allowed)
