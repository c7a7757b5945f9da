"""Coarse-to-fine insertion: which cells of the model's input raise the score for a query,
with about half the tower runs of blanking every cell in turn.

Each region is scored by **insertion**: the similarity of a copy showing only that region, the
rest filled with the picture's median colour, minus the similarity of the plain fill. On the
small world (docs/benchmarks.md, section 18) the hottest cell fell on the object the
query names 0.63 of the time with single-cell occlusion (grey fill), 0.87 with occlusion on the
median colour, and 0.96 with insertion: a big object spread over several cells loses little
when one of them is blanked (the rest still show it), while the cell shown alone carries it.

The grid is scored **coarse to fine**: blocks of ``block`` x ``block`` cells first, then every
cell of the ``refine`` best blocks. A cell outside those blocks keeps an estimate, its block's
gain shared equally among its cells, and is marked as not measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from pixsift.search.explain.occlusion import (
    Cell,
    Mask,
    masked_scores,
    median_fill,
    occlusion_scores,
)
from pixsift.search.model.protocol import Embedder

#: Cells per side of a coarse block: ViT-B-32's 7 x 7 grid in 16 blocks.
BLOCK_CELLS = 2
#: Coarse blocks whose cells are measured one by one.
REFINED_BLOCKS = 2


@dataclass(frozen=True)
class Heat:
    """What each cell adds to the score, and which cells were measured one by one."""

    base: float
    gains: NDArray[np.float32]
    measured: NDArray[np.bool_]
    passes: int
    method: Literal["insertion", "occlusion"] = "insertion"


#: How an explanation's cells are scored: (embedder, pixels, query, grid) -> Heat.
HeatMethod = Callable[[Embedder, NDArray[np.float32], NDArray[np.float32], int], Heat]


def blocks(grid: int, block: int) -> list[tuple[Cell, ...]]:
    """The grid cut into squares of ``block`` cells a side (narrower at the far edges)."""
    starts = range(0, grid, block)
    return [
        tuple(
            (row, col)
            for row in range(top, min(top + block, grid))
            for col in range(left, min(left + block, grid))
        )
        for top in starts
        for left in starts
    ]


def coarse_to_fine(
    embedder: Embedder,
    pixels: NDArray[np.float32],
    query: NDArray[np.float32],
    grid: int,
    *,
    block: int = BLOCK_CELLS,
    refine: int = REFINED_BLOCKS,
) -> Heat:
    """The insertion gain of every cell of ``pixels`` (3 x S x S, normalised) for ``query``."""
    fill = median_fill(pixels)
    coarse = blocks(grid, max(1, block))
    # The whole picture (the base score), the plain fill, then each block alone.
    masks = [Mask(()), Mask((), keep=True), *[Mask(cells, keep=True) for cells in coarse]]
    scores = masked_scores(embedder, pixels, query, grid, masks, fill=fill)
    base, empty = float(scores[0]), float(scores[1])
    block_gains = scores[2:] - empty
    gains = np.zeros((grid, grid), np.float32)
    for cells, gain in zip(coarse, block_gains, strict=True):
        for row, col in cells:
            gains[row, col] = gain / len(cells)
    measured = np.zeros((grid, grid), bool)
    chosen = [coarse[i] for i in np.argsort(-block_gains, kind="stable")[: max(0, refine)]]
    fine = [cell for cells in chosen if len(cells) > 1 for cell in cells]
    if fine:
        cell_scores = masked_scores(
            embedder, pixels, query, grid, [Mask((cell,), keep=True) for cell in fine], fill=fill
        )
        for (row, col), score in zip(fine, cell_scores, strict=True):
            gains[row, col] = score - empty
    for cells in coarse:
        if len(cells) == 1 or any(cells is picked for picked in chosen):
            measured[tuple(np.array(cells).T)] = True  # a one-cell block is that cell's gain
    return Heat(base, gains, measured, passes=len(masks) + len(fine))


def full_occlusion(
    embedder: Embedder, pixels: NDArray[np.float32], query: NDArray[np.float32], grid: int
) -> Heat:
    """The method before coarse to fine: every cell blanked in turn with the preprocessing
    mean (grid x grid + 1 tower runs). Kept for comparison (benchmarks/explain.py)."""
    base, drops = occlusion_scores(embedder, pixels, query, grid)
    measured = np.ones((grid, grid), bool)
    return Heat(base, drops, measured, passes=grid * grid + 1, method="occlusion")
