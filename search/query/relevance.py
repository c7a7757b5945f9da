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

A sigmoid-trained model (SigLIP, SigLIP2) says more: ``sigmoid(scale * cosine + bias)`` is its
probability that a text matches a picture, the same in every library. A plain text query's
results carry it (``probability``), and a picture the model gives at least the match probability
(the request's, else PIXSIFT_MATCH_PROBABILITY: 0.95) is a match even where it does not stand out
from the library: ``possible`` from that probability, ``strong`` from halfway between it and
certainty. It only adds matches: the calibration keeps a long caption's scenes that the model
gives a lower probability, the probability keeps more of a short text's true scenes, which the
calibration often leaves under its bar (docs/benchmarks.md, section 43). Queries that are not
one text (an image, several terms) have no such probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np

from pixsift.search.errors import InvalidInputError
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
    #: (scale, bias) of a sigmoid-trained model, for a plain text query; else None.
    sigmoid: tuple[float, float] | None = None
    #: A match from this probability up, whatever the calibration (needs ``sigmoid``).
    match_probability: float | None = None

    def score(self, similarity: float) -> float:
        """Standard deviations above what this query typically scores in this library."""
        return (similarity - self.mean) / self.std

    def probability(self, similarity: float | None) -> float | None:
        """The model's probability that the query's text matches (None: not a sigmoid model's
        plain text query, or no similarity)."""
        if self.sigmoid is None or similarity is None:
            return None
        scale, bias = self.sigmoid
        logit = scale * similarity + bias
        # The two forms keep exp() from overflowing at either end.
        if logit >= 0:
            return 1.0 / (1.0 + math.exp(-logit))
        return math.exp(logit) / (1.0 + math.exp(logit))

    def band(self, similarity: float | None) -> Band | None:
        """The band of ``similarity``: the better of the calibration's and the probability's
        (None when neither says anything: a library too small to calibrate)."""
        if similarity is None:
            return "words"
        by_probability = self._probability_band(similarity)
        if not self.calibrated:
            return by_probability
        z = self.score(similarity)
        clears_margin = similarity - self.mean >= self.options.min_margin
        if (z >= self.options.strong_z and clears_margin) or by_probability == "strong":
            return "strong"
        if (z >= self.options.possible_z and clears_margin) or by_probability == "possible":
            return "possible"
        return "weak"

    def _probability_band(self, similarity: float) -> Band | None:
        probability = self.probability(similarity)
        if self.match_probability is None or probability is None:
            return None
        if probability >= (1.0 + self.match_probability) / 2:
            return "strong"
        return "possible" if probability >= self.match_probability else None

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


def checked_match_probability(value: float | str | None) -> float | None:
    """A match probability (0 < p < 1) from a request or the setting; None or "off": none."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
        return None
    try:
        probability = float(value)
    except ValueError:
        probability = math.nan
    if not 0.0 < probability < 1.0:  # also refuses NaN
        raise InvalidInputError(
            f'a match probability is a number between 0 and 1 (or "off"), not {value!r}'
        )
    return probability


def match_probability_setting() -> float | None:
    """PIXSIFT_MATCH_PROBABILITY, checked (search.settings.MATCH_PROBABILITY)."""
    from pixsift.search.settings import MATCH_PROBABILITY

    try:
        return checked_match_probability(MATCH_PROBABILITY.value())
    except InvalidInputError as error:
        raise InvalidInputError(f"{MATCH_PROBABILITY.environment_variable}: {error}") from None


def with_probability(
    relevance: Relevance, model_sigmoid: tuple[float, float] | None, requested: float | None
) -> Relevance:
    """A plain text query's ``relevance`` with the model's probability and the match
    probability: the request's, else PIXSIFT_MATCH_PROBABILITY's. A softmax model has none: one
    asked for in the request is refused, the setting does not apply to it."""
    if model_sigmoid is None:
        if requested is not None:
            raise InvalidInputError(
                "a match probability needs a sigmoid-trained model (SigLIP, SigLIP2): this "
                "library's model is softmax-trained, its similarities are no probabilities"
            )
        return relevance
    threshold = requested if requested is not None else match_probability_setting()
    return replace(relevance, sigmoid=model_sigmoid, match_probability=threshold)
