"""What a similarity means in this library: a per-query calibration, bands and the cutoff.

A softmax-trained CLIP's cosine similarity has no fixed meaning: one text scores 0.30 against
everything, another 0.15 against its best match. So, as tags are calibrated per label
(search.tags.tagging), a query is calibrated on the library's own distribution of its scores:
over a fixed sample of the stored embeddings, the query's mean and standard deviation. A result's
``relevance`` is how many standard deviations its similarity lies above that mean. Most pictures
of a library do not match a given query, so the mean is what a non-match scores, and a picture
several deviations above it stands out as a match. Results are put in bands:

- ``strong``: relevance >= ``strong_z`` (and ``min_margin`` above the mean in absolute terms);
- ``possible``: relevance >= ``possible_z`` (and the margin);
- ``weak``: the rest, cut from the list unless the request asks for weaker matches;
- ``words``: no similarity says anything (keyword mode), or the picture was found by the words
  of its name, tags or text in hybrid mode; never cut.

A library too small to tell what is unusual (fewer than ``min_images`` stored embeddings) is not
calibrated: every similarity stays in the list and no band is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from pixsift.search.records import EmbeddingMatrix

Band = Literal["strong", "possible", "weak", "words"]
BANDS: tuple[str, ...] = get_args(Band)
#: Stored embeddings a query is calibrated on (the same fixed sample weighs query terms).
CALIBRATION_SAMPLE_SIZE = 2048


@dataclass(frozen=True)
class RelevanceOptions:
    # Measured on the world (benchmarks/world_quality.py, docs/benchmarks.md section 9)
    # with its softmax CLIP: at 3.0 the default list keeps 78 % of full captions' true scenes
    # with 2.3 results on average, and shows nothing for every "a <colour> <shape>" of an
    # absent pair (their best scene reaches 2.3-2.7); at 2.75 it keeps 97 % but shows 4.4 and
    # something for every absent caption. A softmax model has no absolute scale: a sigmoid
    # (SigLIP) model's probability would separate better.
    strong_z: float = 3.5
    possible_z: float = 3.0
    min_margin: float = 0.02
    min_images: int = 100
    min_std: float = 1e-3


DEFAULT_RELEVANCE = RelevanceOptions()


@dataclass(frozen=True)
class Relevance:
    """One query's calibration: its mean and spread of similarity over the library."""

    mean: float
    std: float
    calibrated: bool
    options: RelevanceOptions = DEFAULT_RELEVANCE

    def score(self, similarity: float) -> float:
        """Standard deviations above what this query typically scores in this library."""
        return (similarity - self.mean) / self.std

    def band(self, similarity: float | None) -> Band | None:
        """The band of ``similarity`` (None when the library is not calibrated)."""
        if similarity is None:
            return "words"
        if not self.calibrated:
            return None
        z = self.score(similarity)
        clears_margin = similarity - self.mean >= self.options.min_margin
        if z >= self.options.strong_z and clears_margin:
            return "strong"
        if z >= self.options.possible_z and clears_margin:
            return "possible"
        return "weak"

    def is_match(self, similarity: float | None) -> bool:
        """Whether a result stays in the list when weaker matches are not asked for."""
        return self.band(similarity) != "weak"


UNCALIBRATED = Relevance(mean=0.0, std=1.0, calibrated=False)


def calibrate(
    query: EmbeddingMatrix, sample: EmbeddingMatrix, options: RelevanceOptions = DEFAULT_RELEVANCE
) -> Relevance:
    """The calibration of ``query`` (1 x d, unit) on ``sample`` (the library's embeddings)."""
    if len(sample) < max(options.min_images, 2):
        return Relevance(mean=0.0, std=1.0, calibrated=False, options=options)
    scores = (sample @ query[0]).astype(np.float64)
    std = max(float(scores.std()), options.min_std)
    return Relevance(mean=float(scores.mean()), std=std, calibrated=True, options=options)
