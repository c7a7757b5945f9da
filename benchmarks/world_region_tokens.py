"""Region vectors from a ViT's own patch tokens instead of cropped pictures (benchmarks/
world_regions.py's cheaper alternatives), on open_clip's VisionTransformer through the product's
torch embedder:

- "pooled tokens": one pass over the whole picture; each window's vector is the mean of its
  patches' final tokens through the tower's projection (the pooled token is trained, the patch
  tokens are not: a test of whether they carry the object anyway);
- "token subset": one pass per window over the class token and that window's patches only
  (positions kept, the others dropped, as patch dropout does): the picture as if nothing else
  were in it, at the drawn size, for a share of a full pass's tokens.

Windows are in patches of the grid (left, top, side).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from PIL import Image

Window = tuple[int, int, int]  # left, top, side: in patches


def grid_windows(patches: int, per_side: int, side: int) -> tuple[Window, ...]:
    """``per_side`` x ``per_side`` windows of ``side`` patches spread edge to edge."""
    step = (patches - side) // (per_side - 1) if per_side > 1 else 0
    return tuple((c * step, r * step, side) for r in range(per_side) for c in range(per_side))


#: On the world model's 8 x 8 grid: 2 x 2 and 3 x 3 (stride 2) windows of 4 x 4 patches, as
#: world_regions.py's "2x2 half" and "3x3 half, stride 1/4", and 5 x 5 of them (stride 1).
TOKEN_WINDOWS: dict[str, tuple[Window, ...]] = {
    "2x2 of 4x4 patches": grid_windows(8, 2, 4),
    "3x3 of 4x4 patches, stride 2": grid_windows(8, 3, 4),
    "5x5 of 4x4 patches, stride 1": grid_windows(8, 5, 4),
}


def _indices(window: Window, patches: int) -> list[int]:
    left, top, side = window
    return [
        row * patches + col for row in range(top, top + side) for col in range(left, left + side)
    ]


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _pixels(embedder, images: Sequence[Image.Image]):
    import torch

    return torch.stack([embedder.preprocess(image) for image in images])


def pooled_tokens(
    embedder, images: Sequence[Image.Image], windows: Sequence[Window], batch: int = 64
) -> tuple[np.ndarray, np.ndarray, float]:
    """(whole-picture vectors, pictures x windows x dimension vectors, seconds): one pass."""
    import torch

    visual = embedder.model.visual
    patches = embedder.patch_grid
    started = time.perf_counter()
    wholes, regions = [], []
    with torch.inference_mode():
        for at in range(0, len(images), batch):
            x = visual.transformer(visual._embeds(_pixels(embedder, images[at : at + batch])))
            pooled, tokens = visual._pool(x)
            wholes.append((pooled @ visual.proj).numpy())
            projected = tokens @ visual.proj  # batch x patches^2 x dimension
            regions.append(
                np.stack(
                    [projected[:, _indices(w, patches)].mean(dim=1).numpy() for w in windows],
                    axis=1,
                )
            )
    seconds = time.perf_counter() - started
    return _unit(np.concatenate(wholes)), _unit(np.concatenate(regions)), seconds


def token_subsets(
    embedder, images: Sequence[Image.Image], windows: Sequence[Window], batch: int = 64
) -> tuple[np.ndarray, float]:
    """(pictures x windows x dimension vectors, seconds): one short pass per window."""
    import torch

    visual = embedder.model.visual
    patches = embedder.patch_grid
    started = time.perf_counter()
    regions = []
    with torch.inference_mode():
        for at in range(0, len(images), batch):
            embedded = visual._embeds(_pixels(embedder, images[at : at + batch]))
            per_window = []
            for window in windows:
                keep = [0] + [1 + i for i in _indices(window, patches)]  # class token first
                pooled, _ = visual._pool(visual.transformer(embedded[:, keep]))
                per_window.append((pooled @ visual.proj).numpy())
            regions.append(np.stack(per_window, axis=1))
    seconds = time.perf_counter() - started
    return _unit(np.concatenate(regions)), seconds
