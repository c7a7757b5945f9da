"""The torch-free tokenizer gives open_clip's token ids, text for text."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import open_clip
import pytest
from open_clip.tokenizer import default_bpe

from pixsift.search.model.tokenizer import ClipTokenizer, clip_merges

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
    return ClipTokenizer(clip_merges(Path(default_bpe())), context_length=77)


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


def test_texts_ftfy_would_leave_alone_skip_it_with_the_same_result() -> None:
    """fix_text skips ftfy for printable ASCII without "&" (a CLI search then never imports
    it): on such texts ftfy returns them unchanged, and on every other text fix_text is ftfy."""
    import ftfy

    from pixsift.search.model.ftfy_fast import fix_text

    rng = random.Random(1)
    ascii_letters = [chr(code) for code in range(0x20, 0x7F)]
    plain = [
        "".join(rng.choice(ascii_letters) for _ in range(rng.randint(0, 60))) for _ in range(3000)
    ]
    tricky = [
        "&amp;lt;",
        "caf\u00c3\u00a9",
        "\x1b[31mred",
        "a\tb\r\nc",
        "\u201cquoted\u201d",
        "\ufb01ne",
    ]
    for text in plain + tricky + varied_texts(300, seed=2):
        assert fix_text(text) == ftfy.fix_text(text), repr(text)
    assert fix_text("caf\u00c3\u00a9") == "caf\u00e9"  # mojibake still fixed


@pytest.mark.parametrize("merge_form", ["pairs", "lines"])
def test_towers_exported_with_a_tokenizers_file_keep_their_token_ids(
    tokenizer: ClipTokenizer, tmp_path: Path, merge_form: str
) -> None:
    """Exports before the merges file saved ``tokenizers``' serialisation (tokenizer.json, its
    merges as pairs; older ``tokenizers`` wrote "first second" lines): those caches and packs
    load with the same ids."""
    merges = clip_merges(Path(default_bpe()))
    saved = [merge.split(" ") for merge in merges] if merge_form == "pairs" else merges
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"merges": saved}}))
    loaded = ClipTokenizer.load(tmp_path, {"file": "tokenizer.json", "context_length": 77})
    texts = FIXED + varied_texts(50, seed=2)
    np.testing.assert_array_equal(loaded(texts), tokenizer(texts))


def test_a_damaged_merge_list_is_refused_in_one_line(tmp_path: Path) -> None:
    """A truncated list would shift the end token's id: every text vector wrong, silently."""
    from pixsift.search.errors import InvalidInputError

    merges = clip_merges(Path(default_bpe()))
    (tmp_path / "clip-bpe-merges.txt").write_text("\n".join(merges[:-100]), encoding="utf-8")
    settings = {"file": "clip-bpe-merges.txt", "context_length": 77}
    with pytest.raises(InvalidInputError, match=r"holds 48794 merges, not CLIP's 48894.*delete"):
        ClipTokenizer.load(tmp_path, settings)
    (tmp_path / "clip-bpe-merges.txt").write_text("\n".join(merges), encoding="utf-8")
    assert ClipTokenizer.load(tmp_path, settings).context_length == 77
