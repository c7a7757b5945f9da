"""The fast text path (real tokens only) gives the full-context embedding, and queries cache."""

from __future__ import annotations

import numpy as np
import pytest

from pixsift.search.model.embedder import OpenClipEmbedder

TEXTS = [
    "",
    "a",
    "a dog on the beach",
    "a red bicycle leaning on a wall next to a green door, in the late afternoon sun",
    # Longer than the 77-token context: truncated by the tokenizer, end-of-text at the last slot.
    " ".join(f"word{number}" for number in range(200)),
]


def test_fast_path_is_used_for_a_causal_tower(tiny_embedder: OpenClipEmbedder) -> None:
    assert tiny_embedder.uses_fast_text_path


@pytest.mark.parametrize("text", TEXTS)
def test_truncated_path_equals_full_context(tiny_embedder: OpenClipEmbedder, text: str) -> None:
    fast = tiny_embedder._encode_texts([text])
    full = tiny_embedder.embed_texts_full_context([text])
    np.testing.assert_allclose(fast, full, atol=1e-5)


def test_a_batch_of_different_lengths_equals_full_context(tiny_embedder: OpenClipEmbedder) -> None:
    fast = tiny_embedder._encode_texts(TEXTS)
    full = tiny_embedder.embed_texts_full_context(TEXTS)
    np.testing.assert_allclose(fast, full, atol=1e-5)
    norms = np.linalg.norm(fast, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_cached_queries_return_equal_independent_copies(tiny_embedder: OpenClipEmbedder) -> None:
    first = tiny_embedder.embed_texts(["a cached query"])
    first[0, 0] = 123.0  # A caller scribbling on its result must not corrupt the cache.
    second = tiny_embedder.embed_texts(["a cached query"])
    expected = tiny_embedder.embed_texts_full_context(["a cached query"])
    np.testing.assert_allclose(second, expected, atol=1e-5)
    mixed = tiny_embedder.embed_texts(["a cached query", "a new one"])
    np.testing.assert_allclose(mixed[0], expected[0], atol=1e-5)
    assert mixed.shape == (2, tiny_embedder.dimension)


def test_a_bidirectional_tower_falls_back_to_the_full_path(tiny_embedder: OpenClipEmbedder) -> None:
    model = tiny_embedder.model
    saved = model.attn_mask
    try:
        model.attn_mask = None  # what no_causal_mask builds
        fallback = OpenClipEmbedder(
            model, tiny_embedder.preprocess, tiny_embedder.tokenizer, "m", tiny_embedder.device
        )
    finally:
        model.attn_mask = saved
    assert not fallback.uses_fast_text_path
