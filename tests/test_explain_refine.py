"""Coarse-to-fine insertion (search/explain/refine.py) with a seeded linear image tower: the
blocks cover the grid once, the cells of the best blocks are measured alone and agree with
measuring them one by one, the others carry their block's share, and it costs fewer tower runs
than blanking every cell."""

from __future__ import annotations

import numpy as np
import pytest

from pixsift.search.explain.occlusion import Mask, masked_scores, median_fill
from pixsift.search.explain.refine import blocks, coarse_to_fine, full_occlusion

SIZE = 28  # 7 x 7 cells of 4 pixels, as ViT-B-32's grid


class LinearTowers:
    """A seeded linear image tower, its outputs normalised; counts the copies it embeds."""

    def __init__(self) -> None:
        rng = np.random.default_rng(5)
        self.projection = rng.standard_normal((3 * SIZE * SIZE, 12)).astype(np.float32)
        self.runs = 0

    def embed_pixel_batch(self, batch: np.ndarray) -> np.ndarray:
        self.runs += len(batch)
        vectors = batch.reshape(len(batch), -1) @ self.projection
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_blocks_cover_an_odd_grid_once() -> None:
    cut = blocks(7, 2)
    assert len(cut) == 16
    cells = [cell for block in cut for cell in block]
    assert sorted(cells) == [(row, col) for row in range(7) for col in range(7)]
    assert cut[-1] == ((6, 6),)  # the far corner: a block of one cell


def test_best_blocks_are_refined_and_agree_with_cells_shown_alone() -> None:
    towers = LinearTowers()
    rng = np.random.default_rng(1)
    pixels = rng.standard_normal((3, SIZE, SIZE)).astype(np.float32)
    query = towers.embed_pixel_batch(pixels[np.newaxis])[0]
    towers.runs = 0
    heat = coarse_to_fine(towers, pixels, query, 7)
    # The base, the plain fill, 16 blocks, then the cells of the two best blocks (at most 8).
    assert heat.passes == towers.runs and 2 + 16 + 2 <= heat.passes <= 2 + 16 + 8
    assert heat.passes < full_occlusion(LinearTowers(), pixels, query, 7).passes == 50
    fill = median_fill(pixels)
    every_cell = [(row, col) for row in range(7) for col in range(7)]
    empty = masked_scores(towers, pixels, query, 7, [Mask((), keep=True)], fill=fill)[0]
    alone = masked_scores(
        towers, pixels, query, 7, [Mask((c,), keep=True) for c in every_cell], fill=fill
    )
    exact = (alone - empty).reshape(7, 7)
    measured = heat.measured
    # The cells of the two best blocks, and the one-cell block in the far corner.
    assert heat.passes - 18 < measured.sum() <= heat.passes - 18 + 1
    np.testing.assert_allclose(heat.gains[measured], exact[measured], atol=1e-5)
    assert heat.base == pytest.approx(1.0, abs=1e-5)  # its own embedding as the query
    # An estimated cell holds its block's gain shared among the block's cells.
    for block in blocks(7, 2):
        if not measured[block[0]]:
            shown = Mask(block, keep=True)
            gain = masked_scores(towers, pixels, query, 7, [shown], fill=fill)[0] - empty
            for cell in block:
                assert heat.gains[cell] == pytest.approx(gain / len(block), abs=1e-5)
