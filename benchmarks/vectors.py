"""A structured vector generator for benchmarks and index tests.

``structured_vectors`` makes vectors shaped like image embeddings rather than i.i.d. noise:
clusters within super-clusters, with a spread of cluster tightness, so that nearest-neighbour
similarities range from near-duplicates to loose neighbours (i.i.d. random vectors are the worst
case for every approximate index and say nothing about CLIP embeddings).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pixsift.search.records import EmbeddingMatrix


def structured_vectors(
    count: int,
    dimension: int = 512,
    *,
    seed: int = 0,
    clusters: int | None = None,
    chunk: int = 100_000,
) -> Iterator[EmbeddingMatrix]:
    """Yield ``count`` L2-normalised float32 vectors in chunks: super-clusters of clusters, each
    cluster with its own spread, so a vector's nearest neighbours score anywhere from ~0.98
    (near-duplicates in tight clusters) to ~0.6 (loose ones). Seeded and reproducible."""
    rng = np.random.default_rng(seed)
    clusters = clusters or max(16, count // 500)
    supers = max(4, clusters // 50)
    super_centres = _unit(rng.standard_normal((supers, dimension)))
    parents = rng.integers(0, supers, clusters)
    centres = _unit(
        super_centres[parents] + 0.9 * _unit(rng.standard_normal((clusters, dimension)))
    )
    # Per-cluster noise scale: the noise vector has norm ~spread, so members sit at cosine
    # ~1/sqrt(1+spread^2) from their centre.
    spreads = rng.uniform(0.15, 1.1, clusters).astype(np.float32)
    produced = 0
    while produced < count:
        size = min(chunk, count - produced)
        members = rng.integers(0, clusters, size)
        noise = rng.standard_normal((size, dimension)).astype(np.float32)
        noise *= (spreads[members] / np.sqrt(dimension))[:, None]
        yield _unit(centres[members].astype(np.float32) + noise)
        produced += size


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
