"""Queries that look like what users send: the tuning prompts, and synthetic text-like vectors.

An index's search parameters are tuned on text queries as well as on stored images, because text
queries sit elsewhere in the space. CLIP's two towers map into separate cones (the *modality
gap*): an image's best match among other images scores near cosine 0.9, a text's best image
match near 0.3, and a text's top ten lie close together in score, spread over more of the
index's lists than an image's. An index tuned only on images therefore probes too few lists for
texts.

When the writer has the library's model it embeds :func:`tuning_prompts` (everyday prompts from
templates x nouns); ``search.vectors`` never imports the model, so the embeddings are passed in.
Without a model (a bulk import, a rebuild on a machine without the weights),
:func:`synthetic_text_queries` builds text-like vectors from the stored ones.
"""

from __future__ import annotations

import numpy as np

from pixsift.search.records import EmbeddingMatrix

#: A text's best image match in CLIP-like models (an image's best match to other images: ~0.9).
TEXT_BEST_MATCH = 0.3

_TEMPLATES = (
    "a photo of a {}",
    "a {} outdoors",
    "a close-up picture of a {}",
    "a {} at night",
    "a blurry photo of a {}",
    "a drawing of a {}",
    "two people with a {}",
    "an old {} in the snow",
)
_NOUNS = (
    "dog", "cat", "bird", "horse", "car", "bicycle", "boat", "train",
    "house", "bridge", "mountain", "beach", "forest", "river", "city street", "garden",
    "birthday cake", "cup of coffee", "plate of food", "bottle", "laptop", "phone", "book", "chair",
    "child", "old man", "woman", "crowd", "flower", "tree", "sunset", "christmas tree",
)  # fmt: skip


def tuning_prompts() -> list[str]:
    """The fixed prompt set (256 texts) whose embeddings are the "text" tuning queries."""
    return [template.format(noun) for noun in _NOUNS for template in _TEMPLATES]


def synthetic_text_queries(
    stored: EmbeddingMatrix,
    count: int,
    *,
    seed: int = 0,
    best_match: float = TEXT_BEST_MATCH,
    topics: EmbeddingMatrix | None = None,
) -> EmbeddingMatrix:
    """``count`` text-like unit queries made from ``stored`` (a sample of stored vectors), each
    with a best stored match near cosine ``best_match``. ``topics`` (default: ``stored``) are
    the vectors the queries are about, e.g. held-out ones for an evaluation.

    Each query starts from a stored vector ``a`` (its topic) with the stored mean ``m``
    removed: ``s = unit(a - m)``. Images share the mean (the axis of their cone) and a text
    does not, so a text's image ranking follows the centred direction. Then a random direction
    ``n``, orthogonal to ``s``, carries the rest of the query: ``q = unit(s + sigma * n)``. In
    high dimension ``n`` is nearly orthogonal to every image, so like the modality gap it
    lowers every similarity by the same factor ``1 / sqrt(1 + sigma^2)``; ``sigma`` is chosen
    per query so that the topic scores ``best_match`` (``s . a / sqrt(1 + sigma^2)``). What
    ``n`` adds to each image's score (about ``sigma / sqrt(dimension)``) blurs the
    neighbourhood the way a text's does: the top ten score close together and fall in more
    lists than an image's."""
    stored = np.asarray(stored, dtype=np.float32)
    if len(stored) == 0 or count <= 0:
        return np.zeros((0, stored.shape[1] if stored.ndim == 2 else 0), dtype=np.float32)
    rng = np.random.default_rng(seed)
    mean = stored.mean(axis=0)
    pool = stored if topics is None else np.asarray(topics, dtype=np.float32)
    topics = pool[rng.choice(len(pool), count, replace=count > len(pool))]
    centred = _unit(topics - mean)
    topic_scores = np.sum(centred * topics, axis=1)
    sigma = np.sqrt(np.maximum((topic_scores / best_match) ** 2 - 1.0, 0.0))
    noise = rng.standard_normal(centred.shape).astype(np.float32)
    noise = _unit(noise - np.sum(noise * centred, axis=1, keepdims=True) * centred)
    return _unit(centred + sigma[:, None].astype(np.float32) * noise)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)
