"""The query vector: each term embedded, weighed by the spread of its similarities, summed.

A text's cosine similarities to images spread much less (CLIP's text and image embeddings sit in
different regions of the space) than an image's similarities to other images. Each term's
embedding is therefore divided by the spread (standard deviation) of its similarities over a
sample of the library before the weighted sum. Because similarity is linear in the query vector,
ranking by the normalised sum is the same as ranking by the weighted sum of each term's z-scored
similarity, so "this photo, but at night" gives the text as much say as the photo, and a weight
of -1 subtracts as much as +1 adds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixsift.search.errors import InvalidInputError
from pixsift.search.query.context import SearchContext
from pixsift.search.query.request import QueryTerm
from pixsift.search.records import EmbeddingMatrix, l2_normalise

SPREAD_SAMPLE_SIZE = 2048
MIN_SPREAD = 1e-3
#: Terms cancel when what is left of their weighted sum is this small a fraction of its parts.
#: Embeddings of the same words computed twice can differ in their last bits; dividing by a
#: text's small spread magnifies that noise, so an absolute threshold would rank by noise.
CANCEL_TOLERANCE = 1e-3


def query_vector(library: SearchContext, terms: Sequence[QueryTerm]) -> EmbeddingMatrix:
    """The L2-normalised query vector (1 x d) for ``terms``."""
    embeddings = np.concatenate([term_embedding(library, term) for term in terms])
    if len(terms) == 1:
        return embeddings
    weights = np.array([term.weight for term in terms], dtype=np.float32)
    return combine_terms(embeddings, weights, library.embedding_sample(SPREAD_SAMPLE_SIZE))


def term_embedding(library: SearchContext, term: QueryTerm) -> EmbeddingMatrix:
    return library.query_embedding(text=term.text, image=term.image_path, image_id=term.image_id)


def combine_terms(
    embeddings: EmbeddingMatrix, weights: np.ndarray, sample: EmbeddingMatrix
) -> EmbeddingMatrix:
    """The weighted sum of ``embeddings`` (one unit row per term), each divided by the spread
    of its similarities over ``sample``; refused when the terms cancel out."""
    scaled = weights / similarity_spreads(embeddings, sample)
    combined = scaled @ embeddings
    if float(np.linalg.norm(combined)) <= CANCEL_TOLERANCE * float(np.abs(scaled).sum()):
        raise InvalidInputError("the query terms cancel each other out")
    return l2_normalise(combined.reshape(1, -1))


def similarity_spreads(embeddings: EmbeddingMatrix, sample: EmbeddingMatrix) -> np.ndarray:
    """The standard deviation of each embedding's similarities over ``sample`` (1 when the
    library is too small to tell)."""
    if len(sample) < 2:
        return np.ones(len(embeddings), dtype=np.float32)
    return np.maximum((sample @ embeddings.T).std(axis=0), MIN_SPREAD).astype(np.float32)
