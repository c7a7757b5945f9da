"""How terms are weighed: each term's embedding is divided by the spread of its similarities
over the library before the weighted sum, so a text term (whose similarities spread narrowly)
counts as much as an image term (whose similarities spread widely). Checked against the
definition by brute force, on vectors built so that equal weights would rank differently."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixsift.search.errors import InvalidInputError
from pixsift.search.library import Library
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.records import EmbeddingMatrix

DIMENSION = 32
COUNT = 300


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


class FixedTextEmbedder:
    """Texts map to fixed vectors; no image is ever embedded (queries use stored images)."""

    model_id = "fixed-text-test-model"
    dimension = DIMENSION

    def __init__(self, texts: dict[str, np.ndarray]) -> None:
        self.texts = texts

    def preprocess(self, image: Image.Image) -> np.ndarray:
        raise AssertionError("no image is embedded in these tests")

    def embed_images(self, images: list[Image.Image]) -> EmbeddingMatrix:
        raise AssertionError("no image is embedded in these tests")

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix:
        raise AssertionError("no image is embedded in these tests")

    def embed_texts(self, texts: list[str]) -> EmbeddingMatrix:
        return np.stack([self.texts[text] for text in texts])


@pytest.fixture(scope="module")
def weighted_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Library, np.ndarray]:
    rng = np.random.default_rng(7)
    # Images vary widely among themselves and barely along the text's direction, like CLIP's
    # text-image modality gap: a text's similarities spread about 8x narrower than an image's.
    basis = np.linalg.qr(rng.standard_normal((DIMENSION, DIMENSION)))[0].T
    common, text_direction, others = basis[0], basis[1], basis[2:]
    variation = rng.standard_normal((COUNT, DIMENSION - 2)) @ others
    along_text = 0.02 * rng.standard_normal((COUNT, 1)) * text_direction
    images = unit(common + 0.3 * variation + along_text)
    words = unit(text_direction + 0.3 * common)
    texts = {"the words": words, "the same words": words.copy()}
    library = Library.open(tmp_path_factory.mktemp("weighted"), embedder=FixedTextEmbedder(texts))
    library.import_vectors(images, model_id=FixedTextEmbedder.model_id)
    yield library, images
    library.close()


def expected_ranking(
    stored: np.ndarray, terms: list[tuple[np.ndarray, float]], *, spread: bool
) -> list[int]:
    """Rank positions by the weighted sum of each term's (z-scored, if ``spread``) similarity."""
    total = np.zeros(len(stored))
    for vector, weight in terms:
        similarities = stored @ vector
        total += weight * (similarities / similarities.std() if spread else similarities)
    return list(np.argsort(-total, kind="stable"))


def test_each_term_is_divided_by_the_spread_of_its_similarities(weighted_library) -> None:
    library, _ = weighted_library
    ids, stored = library.store.all_embeddings(FixedTextEmbedder.model_id)
    image_position = 5
    image_vector = stored[image_position]
    text_vector = library.query_embedding(text="the words")[0]
    terms = [(image_vector, 1.0), (text_vector, 1.0)]
    request = SearchRequest(
        (QueryTerm(image_id=int(ids[image_position])), QueryTerm(text="the words")),
        mode="semantic",
        k=20,
        weaker=True,  # the ranking is under test, not where the matches end
    )
    got = [hit.id for hit in library.find(request).hits]

    weighted = [int(ids[i]) for i in expected_ranking(stored, terms, spread=True)[:20]]
    equal = [int(ids[i]) for i in expected_ranking(stored, terms, spread=False)[:20]]
    # The data must tell the two rules apart, or the test proves nothing.
    assert len(set(weighted[:10]) & set(equal[:10])) <= 4
    assert got == weighted


def test_a_negative_text_term_counts_as_much_as_a_positive_image_term(weighted_library) -> None:
    library, _ = weighted_library
    ids, stored = library.store.all_embeddings(FixedTextEmbedder.model_id)
    text_vector = library.query_embedding(text="the words")[0]
    terms = [(stored[9], 1.0), (text_vector, -1.0)]
    request = SearchRequest(
        (QueryTerm(image_id=int(ids[9])), QueryTerm(text="the words", weight=-1.0)),
        mode="semantic",
        k=15,
        weaker=True,  # the ranking is under test, not where the matches end
    )
    got = [hit.id for hit in library.find(request).hits]
    assert got == [int(ids[i]) for i in expected_ranking(stored, terms, spread=True)[:15]]


def test_terms_that_cancel_are_refused_even_when_their_vectors_differ_in_the_last_bits(
    weighted_library,
) -> None:
    library, _ = weighted_library
    noisy = library.embedder.texts["the words"] + np.float32(1e-6)
    library.embedder.texts["the same words"] = unit(noisy)
    request = SearchRequest(
        (QueryTerm(text="the words"), QueryTerm(text="the same words", weight=-1.0)),
        mode="semantic",
    )
    with pytest.raises(InvalidInputError, match="cancel"):
        library.find(request)
    ids, _ = library.store.all_embeddings(FixedTextEmbedder.model_id)
    same_image = (QueryTerm(image_id=int(ids[3])), QueryTerm(image_id=int(ids[3]), weight=-1.0))
    with pytest.raises(InvalidInputError, match="cancel"):
        library.find(SearchRequest(same_image, mode="semantic"))
