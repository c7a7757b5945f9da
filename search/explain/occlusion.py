"""Masked copies of the model's input through the image tower: cells blanked (occlusion) or
cells shown alone on a blank (insertion), and their cosine similarity to the query.

What "blank" holds is the fill: by default the preprocessing mean, zero after normalisation
(``occlusion_scores``, the full-grid occlusion used before coarse-to-fine); the explanations
fill with the picture's own median colour (``median_fill``, see search.explain.refine). The
copies go through the image tower in batches, so every score of one explanation comes from the
same tower in the same runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pixsift.search.explain.geometry import cell_edges
from pixsift.search.model.protocol import Embedder

#: Copies per forward pass: a ViT-B-32 grid of 49 cells and the base run in two passes.
BATCH_SIZE = 25
#: Cells per side when the tower does not say (ViT-B-32's 224 / 32).
FALLBACK_CELL_PIXELS = 32

Cell = tuple[int, int]


@dataclass(frozen=True)
class Mask:
    """One masked copy: ``cells`` blanked (``keep`` False) or shown alone (``keep`` True)."""

    cells: tuple[Cell, ...]
    keep: bool = False


def median_fill(pixels: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per channel, the median of the normalised input (3 x 1 x 1): a picture's background
    colour, mostly. A grey of the preprocessing mean is itself content on a coloured picture
    (on the small world, filling with it put the hottest cell on the object 0.63 of the time,
    with the median colour 0.87; docs/benchmarks.md, section 18)."""
    return np.median(pixels.reshape(pixels.shape[0], -1), axis=1).reshape(-1, 1, 1)


def patch_grid(embedder: Embedder, size: int) -> int:
    """The tower's patches per side, else ``size`` in cells of 32 pixels."""
    grid = getattr(embedder, "patch_grid", None)
    return int(grid) if grid else max(1, size // FALLBACK_CELL_PIXELS)


def blanked(pixels: NDArray[np.float32], grid: int, cells: Sequence[Cell]) -> NDArray[np.float32]:
    """A copy of ``pixels`` (3 x S x S, normalised) with ``cells`` set to the mean (zero)."""
    return composed(pixels, np.zeros((pixels.shape[0], 1, 1), np.float32), grid, Mask(tuple(cells)))


def composed(
    pixels: NDArray[np.float32], fill: NDArray[np.float32], grid: int, mask: Mask
) -> NDArray[np.float32]:
    """``pixels`` with ``mask``'s cells filled, or everything but its cells filled."""
    edges = cell_edges(pixels.shape[-1], grid)
    if mask.keep:
        copy = np.empty_like(pixels)
        copy[:] = fill
    else:
        copy = pixels.copy()
    for row, col in mask.cells:
        rows, cols = slice(edges[row], edges[row + 1]), slice(edges[col], edges[col + 1])
        copy[:, rows, cols] = pixels[:, rows, cols] if mask.keep else fill
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
    masks: Sequence[Sequence[Cell] | Mask],
    *,
    batch_size: int = BATCH_SIZE,
    fill: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """The cosine similarity to ``query`` of ``pixels`` with each mask applied (a plain list of
    cells: those cells blanked), blanks holding ``fill`` (3 x 1 x 1; the mean, zero, if None).

    A server worker's towers run on its share of the cores (cli/serve.py); an explanation is
    heavy enough to use the rest, so its batches run side by side, one per share (the towers'
    runtime releases the GIL). Each batch's scores are the same whichever thread ran it."""
    vector = np.asarray(query, dtype=np.float32).reshape(-1)
    lanes = parallel_lanes(embedder)
    if lanes > 1:
        batch_size = min(batch_size, -(-len(masks) // lanes))
    fill = np.zeros((pixels.shape[0], 1, 1), np.float32) if fill is None else fill
    as_masks = [mask if isinstance(mask, Mask) else Mask(tuple(mask)) for mask in masks]
    batches = list(_batches(pixels, fill, grid, as_masks, batch_size))
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
    pixels: NDArray[np.float32],
    fill: NDArray[np.float32],
    grid: int,
    masks: Sequence[Mask],
    batch_size: int,
) -> Iterator[NDArray[np.float32]]:
    for start in range(0, len(masks), batch_size):
        chunk = masks[start : start + batch_size]
        yield np.stack([composed(pixels, fill, grid, mask) for mask in chunk])
