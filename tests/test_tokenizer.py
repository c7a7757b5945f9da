"""The torch-free tokenizer gives open_clip's token ids, text for text."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import open_clip
import pytest
from open_clip.tokenizer import default_bpe

from pixsift.search.model.tokenizer import ClipTokenizer, build_tokenizer_json

ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" .,;:!?'\"-_()[]{}<>/\\@#$%^&*+=~`|\t\n\u00a0\u200b")
    + list("éèàüößçñøåæœ日本語中文한국어Привет мир😀🐶🚲ąęłńśźżÀÉÎÕÜİıﬁ½²ℕ")
    + ["&amp;", "&lt;", "'s", "'ll", "Ã©", "<start_of_text>", "<end_of_text>"]
)
FIXED = [
    "",
    " ",
    "a",
    "a photo of a dog",
    "A RED Bicycle!!!",
    "it's what they've done, I'd say we'll",
    "<start_of_text>hi<end_of_text>",
    "&amp;quot;hello&amp;quot;",
    "l'été à Paris",
    "".join(chr(0xFF21 + offset) for offset in range(26)),  # fullwidth letters
    "x" * 500,
    " ".join(["word"] * 200),
    "1234567890 3.14159 1,000,000",
]


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer(build_tokenizer_json(Path(default_bpe())), context_length=77)


def varied_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 120))) for _ in range(count)]


def test_token_ids_equal_open_clips(tokenizer: ClipTokenizer) -> None:
    texts = FIXED + varied_texts(400, seed=0)
    expected = open_clip.get_tokenizer("ViT-B-32")(texts).numpy()
    got = tokenizer(texts)
    assert got.dtype == np.int64 and got.shape == expected.shape == (len(texts), 77)
    mismatched = [text for text, a, b in zip(texts, got, expected, strict=True) if (a != b).any()]
    assert mismatched == []


def test_long_texts_are_cut_with_the_end_token_last(tokenizer: ClipTokenizer) -> None:
    row = tokenizer(["many words " * 100])[0]
    assert row[0] == tokenizer.start_id and row[-1] == tokenizer.end_id and (row != 0).all()
