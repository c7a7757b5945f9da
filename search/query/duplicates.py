"""Near-duplicate detection over stored embeddings: re-encodes, resizes and small crops of one
picture embed almost identically, so images whose cosine similarity passes a threshold are
grouped."""

from __future__ import annotations

import faiss
import numpy as np

from pixsift.search.records import EmbeddingMatrix, ImageIdArray

DEFAULT_DUPLICATE_THRESHOLD = 0.95
NEIGHBOURS_PER_IMAGE = 16
SEARCH_BATCH = 4096


def find_duplicate_groups(
    image_ids: ImageIdArray,
    vectors: EmbeddingMatrix,
    threshold: float,
    apart: frozenset[tuple[int, int]] = frozenset(),
) -> list[list[int]]:
    """Groups of two or more image ids, largest first, ids ascending within a group.

    Each group gathers one image (the lowest id not yet grouped) and its not-yet-grouped
    neighbours at similarity >= threshold. Every member is therefore within the threshold of
    the group's first image; linking transitively instead would chain gradual variations (A~B,
    B~C, ...) into one ever-growing group of pictures that are not duplicates of each other.
    ``apart`` holds pairs of ids (lower first) the user said are not duplicates: neither joins
    the other's group."""
    count = len(image_ids)
    if count < 2:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    neighbours = min(NEIGHBOURS_PER_IMAGE, count)
    grouped = np.zeros(count, dtype=bool)
    groups: list[list[int]] = []
    for start in range(0, count, SEARCH_BATCH):
        scores, rows = index.search(vectors[start : start + SEARCH_BATCH], neighbours)
        for offset, (row_scores, row_neighbours) in enumerate(zip(scores, rows, strict=True)):
            row = start + offset
            if grouped[row]:
                continue
            members = [
                int(neighbour)
                for score, neighbour in zip(row_scores, row_neighbours, strict=True)
                if neighbour >= 0 and neighbour != row and score >= threshold
                and not grouped[neighbour] and not _apart(apart, image_ids, row, neighbour)
            ]  # fmt: skip
            if members:
                grouped[[row, *members]] = True
                groups.append(sorted(int(image_ids[member]) for member in [row, *members]))
    return sorted(groups, key=lambda group: (-len(group), group[0]))


def _apart(apart: frozenset[tuple[int, int]], image_ids: ImageIdArray, a: int, b: int) -> bool:
    if not apart:
        return False
    first, second = int(image_ids[a]), int(image_ids[b])
    return (min(first, second), max(first, second)) in apart


def collapse_near_duplicates(
    ranked_ids: list[int], vectors: dict[int, np.ndarray], threshold: float
) -> list[int]:
    """Keep the first of each run of near-identical results, in ranking order."""
    kept: list[int] = []
    kept_vectors: list[np.ndarray] = []
    for image_id in ranked_ids:
        vector = vectors.get(image_id)
        if vector is None:
            continue
        if kept_vectors and float(np.max(np.stack(kept_vectors) @ vector)) >= threshold:
            continue
        kept.append(image_id)
        kept_vectors.append(vector)
    return kept
