"""Tagging as one matrix product: every stored image embedding against every label embedding.

A label's raw cosine score means little on its own (some labels score high on every picture),
so each label is calibrated on the library's own distribution of its scores: an image gets the
label when its score is ``min_z`` standard deviations above the label's mean over the library
*and* ``min_margin`` above it in absolute terms, and the label is among the image's ``top_k``
labels by score. Small libraries borrow strength from all labels' pooled statistics (a prior
worth ``prior_images`` images), so that three pictures do not define what is unusual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pixsift.search.records import EmbeddingMatrix, ImageIdArray

#: Rows scored at a time: bounds the score matrix's memory (rows x labels float32).
SCORE_CHUNK = 65_536


@dataclass(frozen=True)
class TaggingOptions:
    top_k: int = 5
    min_z: float = 2.0
    min_margin: float = 0.03
    prior_images: int = 20
    #: Floor of a label's standard deviation (a label that scores the same everywhere).
    min_std: float = 1e-3


@dataclass(frozen=True)
class LabelStatistics:
    mean: np.ndarray
    std: np.ndarray


def label_statistics(
    vectors: EmbeddingMatrix, labels: EmbeddingMatrix, options: TaggingOptions
) -> LabelStatistics:
    """Each label's mean and standard deviation of score over the library, shrunk towards the
    pooled statistics of all labels by a prior worth ``options.prior_images`` images."""
    count = len(vectors)
    total = np.zeros(len(labels), dtype=np.float64)
    squares = np.zeros(len(labels), dtype=np.float64)
    for start in range(0, count, SCORE_CHUNK):
        scores = (vectors[start : start + SCORE_CHUNK] @ labels.T).astype(np.float64)
        total += scores.sum(axis=0)
        squares += (scores**2).sum(axis=0)
    mean = total / max(count, 1)
    variance = np.maximum(squares / max(count, 1) - mean**2, 0.0)
    pooled_mean = float(mean.mean()) if count else 0.0
    pooled_variance = float((variance + (mean - pooled_mean) ** 2).mean()) if count else 0.0
    prior = options.prior_images
    shrunk_mean = (count * mean + prior * pooled_mean) / (count + prior)
    shrunk_variance = (count * variance + prior * pooled_variance) / (count + prior)
    std = np.maximum(np.sqrt(shrunk_variance), options.min_std)
    return LabelStatistics(shrunk_mean.astype(np.float32), std.astype(np.float32))


def calibrated_tags(
    image_ids: ImageIdArray,
    vectors: EmbeddingMatrix,
    labels: EmbeddingMatrix,
    names: Sequence[str],
    options: TaggingOptions | None = None,
    calibration: EmbeddingMatrix | None = None,
) -> dict[int, dict[str, float]]:
    """The tags of each image (image id -> label -> cosine score); each label is calibrated on
    ``calibration`` (the library, or a sample of it) when given, else on ``vectors``."""
    options = options or TaggingOptions()
    if len(vectors) == 0 or len(labels) == 0:
        return {}
    reference = vectors if calibration is None or len(calibration) == 0 else calibration
    statistics = label_statistics(reference, labels, options)
    top_k = min(options.top_k, len(labels))
    tags: dict[int, dict[str, float]] = {}
    for start in range(0, len(vectors), SCORE_CHUNK):
        scores = vectors[start : start + SCORE_CHUNK] @ labels.T
        above = scores - statistics.mean
        passes = (above >= options.min_z * statistics.std) & (above >= options.min_margin)
        # The k best labels of each row, by score; argpartition needs no full sort.
        best = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]
        in_top = np.zeros_like(passes)
        np.put_along_axis(in_top, best, True, axis=1)
        rows, columns = np.nonzero(passes & in_top)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            image_id = int(image_ids[start + row])
            tags.setdefault(image_id, {})[names[column]] = float(scores[row, column])
    return tags
