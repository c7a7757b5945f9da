"""Near-duplicate detection over stored embeddings: re-encodes, resizes and small crops of one
picture embed almost identically, so they are linked when their cosine similarity passes a
threshold, and linked images form groups (connected components)."""

from __future__ import annotations

import faiss
import numpy as np

from search.records import EmbeddingMatrix, ImageIdArray

DEFAULT_DUPLICATE_THRESHOLD = 0.95
NEIGHBOURS_PER_IMAGE = 16
SEARCH_BATCH = 4096


def find_duplicate_groups(
    image_ids: ImageIdArray, vectors: EmbeddingMatrix, threshold: float
) -> list[list[int]]:
    """Groups of two or more image ids whose members are linked by similarity >= threshold;
    largest groups first, ids ascending within a group."""
    count = len(image_ids)
    if count < 2:
        return []
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    parents = np.arange(count)
    neighbours = min(NEIGHBOURS_PER_IMAGE, count)
    for start in range(0, count, SEARCH_BATCH):
        batch = np.ascontiguousarray(vectors[start : start + SEARCH_BATCH], dtype=np.float32)
        scores, rows = index.search(batch, neighbours)
        for offset, (row_scores, row_neighbours) in enumerate(zip(scores, rows, strict=True)):
            for score, neighbour in zip(row_scores, row_neighbours, strict=True):
                if neighbour >= 0 and score >= threshold and neighbour != start + offset:
                    _union(parents, start + offset, int(neighbour))
    groups: dict[int, list[int]] = {}
    for row in range(count):
        groups.setdefault(_find(parents, row), []).append(int(image_ids[row]))
    found = [sorted(group) for group in groups.values() if len(group) > 1]
    return sorted(found, key=lambda group: (-len(group), group[0]))


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


def _find(parents: np.ndarray, row: int) -> int:
    while parents[row] != row:
        parents[row] = parents[parents[row]]
        row = int(parents[row])
    return row


def _union(parents: np.ndarray, first: int, second: int) -> None:
    root_first, root_second = _find(parents, first), _find(parents, second)
    if root_first != root_second:
        parents[max(root_first, root_second)] = min(root_first, root_second)
