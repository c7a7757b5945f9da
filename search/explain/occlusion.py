"""Occlusion: the drop in cosine similarity when one grid cell of the model's input is blanked.

A blanked cell holds the preprocessing mean, which is zero after normalisation: the tower sees
"no information" there rather than black or white, which would themselves be content. The
blanked copies go through the image tower in batches, with the whole input in the first batch,
so the base score and the occluded scores come from the same runs of the same tower.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from pixsift.search.explain.geometry import cell_edges
from pixsift.search.model.protocol import Embedder

#: Copies per forward pass: a ViT-B-32 grid of 49 cells and the base run in two passes.
BATCH_SIZE = 25
#: Cells per side when the tower does not say (ViT-B-32's 224 / 32).
FALLBACK_CELL_PIXELS = 32

Cell = tuple[int, int]


def patch_grid(embedder: Embedder, size: int) -> int:
    """The tower's patches per side, else ``size`` in cells of 32 pixels."""
    grid = getattr(embedder, "patch_grid", None)
    return int(grid) if grid else max(1, size // FALLBACK_CELL_PIXELS)


def blanked(pixels: NDArray[np.float32], grid: int, cells: Sequence[Cell]) -> NDArray[np.float32]:
    """A copy of ``pixels`` (3 x S x S, normalised) with ``cells`` set to the mean (zero)."""
    edges = cell_edges(pixels.shape[-1], grid)
    copy = pixels.copy()
    for row, col in cells:
        copy[:, edges[row] : edges[row + 1], edges[col] : edges[col + 1]] = 0.0
    return copy


def occlusion_scores(
    embedder: Embedder,
    pixels: NDArray[np.float32],
    query: NDArray[np.float32],
    grid: int,
    *,
    batch_size: int = BATCH_SIZE,
) -> tuple[float, NDArray[np.float32]]:
    """The cosine similarity of ``pixels`` to ``query`` (a unit vector) and, per cell, how much
    blanking that cell lowers it (grid x grid; negative where the cell lowers the score)."""
    cells = [(row, col) for row in range(grid) for col in range(grid)]
    masks = [[], *[[cell] for cell in cells]]
    scores = masked_scores(embedder, pixels, query, grid, masks, batch_size=batch_size)
    base = float(scores[0])
    return base, (base - scores[1:]).reshape(grid, grid).astype(np.float32)


def masked_scores(
    embedder: Embedder,
    pixels: NDArray[np.float32],
    query: NDArray[np.float32],
    grid: int,
    masks: Sequence[Sequence[Cell]],
    *,
    batch_size: int = BATCH_SIZE,
) -> NDArray[np.float32]:
    """The cosine similarity to ``query`` of ``pixels`` with each mask's cells blanked.

    A server worker's towers run on its share of the cores (cli/serve.py); an explanation is
    heavy enough to use the rest, so its batches run side by side, one per share (the towers'
    runtime releases the GIL). Each batch's scores are the same whichever thread ran it."""
    vector = np.asarray(query, dtype=np.float32).reshape(-1)
    lanes = parallel_lanes(embedder)
    if lanes > 1:
        batch_size = min(batch_size, -(-len(masks) // lanes))
    batches = list(_batches(pixels, grid, masks, batch_size))
    if lanes == 1 or len(batches) == 1:
        scores = [embedder.embed_pixel_batch(batch) @ vector for batch in batches]
    else:
        with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="occlusion") as pool:
            scores = list(
                pool.map(lambda batch: embedder.embed_pixel_batch(batch) @ vector, batches)
            )
    return np.concatenate(scores).astype(np.float32)


def parallel_lanes(embedder: Embedder) -> int:
    """How many batches to run at once: the cores this process may use over the threads the
    towers take per run (1 where the towers say nothing: torch spreads one run itself)."""
    threads = getattr(embedder, "threads", None)
    if not isinstance(threads, int) or threads < 1:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // threads)


def _batches(
    pixels: NDArray[np.float32], grid: int, masks: Sequence[Sequence[Cell]], batch_size: int
) -> Iterator[NDArray[np.float32]]:
    for start in range(0, len(masks), batch_size):
        chunk = masks[start : start + batch_size]
        yield np.stack([blanked(pixels, grid, mask) for mask in chunk])
