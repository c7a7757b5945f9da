"""CLIP's byte-pair tokenizer without torch, giving the same token ids as open_clip's
``SimpleTokenizer``, text for text.

open_clip's tokenizer module imports torch (it returns tensors), and importing open_clip pulls in
torchvision and torch._dynamo: seconds of start-up for a one-word query. The text cleaning is
open_clip's (ftfy, HTML unescaping, whitespace, lower case) and so is the byte-pair merging, run
here over open_clip's own merge list. Hugging Face ``tokenizers`` (Rust) can run the same BPE, but
loading its serialisation of the 48,894 merges costs ~55 ms, more than the text tower's pass for a
query of a few words; building the two tables below from the plain merge list costs ~12 ms, and
merging a query's words costs microseconds (cached per word, as open_clip caches them). The
exporter saves the merges beside the towers and checks the ids against open_clip on sample texts.
"""

from __future__ import annotations

import gzip
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pixsift.search.model.ftfy_fast import fix_text

#: open_clip's merges, one "first second" pair per line, in merge order.
MERGES_FILE = "clip-bpe-merges.txt"
#: open_clip's SimpleTokenizer: 49152 - 256 - 2 merges from the vocabulary file.
MERGE_COUNT = 49152 - 256 - 2
START_OF_TEXT = "<start_of_text>"
END_OF_TEXT = "<end_of_text>"
END_OF_WORD = "</w>"
#: open_clip's pre-tokenisation (with its two special tokens first), applied after lower-casing.
SPLIT_PATTERN = (
    r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)
#: Words whose ids a tokenizer remembers (a server's queries repeat their words).
_WORD_CACHE_SIZE = 50_000


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table, which CLIP's vocabulary uses."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def clip_merges(vocabulary_path: Path) -> list[str]:
    """The merges of open_clip's vocabulary file (bpe_simple_vocab_16e6.txt.gz), as
    "first second" lines in merge order."""
    with gzip.open(vocabulary_path) as vocabulary:
        lines = vocabulary.read().decode("utf-8").split("\n")
    return lines[1 : MERGE_COUNT + 1]


def read_merges(path: Path) -> list[str]:
    """The merges saved in ``path``: a merges file, or the ``tokenizers`` serialisation that
    exports before this file wrote (its model's merges, as pairs or "first second" lines)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".json":
        return text.split("\n")
    merges = json.loads(text)["model"]["merges"]
    return [merge if isinstance(merge, str) else " ".join(merge) for merge in merges]


def clean_text(text: str) -> str:
    """open_clip's "lower" cleaning: ftfy, HTML entities unescaped twice, runs of whitespace to
    one space, lower case."""
    text = html.unescape(html.unescape(fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


class ClipTokenizer:
    """Texts -> int64 token ids [start, ..., end, 0, ...] of ``context_length`` columns, cut
    (keeping the end token last) when longer, as open_clip's SimpleTokenizer gives them."""

    def __init__(self, merges: Sequence[str], context_length: int) -> None:
        import regex

        symbols = list(bytes_to_unicode().values())
        # open_clip's vocabulary, in its order (a merge's token is its two halves joined).
        vocabulary = [*symbols, *(symbol + END_OF_WORD for symbol in symbols)]
        vocabulary += [merge.replace(" ", "") for merge in merges]
        vocabulary += [START_OF_TEXT, END_OF_TEXT]
        self._ids = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
        self._ranks = dict(zip(merges, range(len(merges)), strict=True))
        self._byte_symbols = bytes_to_unicode()
        self._words: dict[str, list[int]] = {}
        # Split as open_clip does, with the same regex engine: a special token counts only where
        # open_clip's pattern matches it (not after punctuation, which swallows its "<").
        self._pattern = regex.compile(SPLIT_PATTERN, regex.IGNORECASE)
        self.context_length = context_length
        self._special = {name: self._ids[name] for name in (START_OF_TEXT, END_OF_TEXT)}
        self.start_id, self.end_id = self._special[START_OF_TEXT], self._special[END_OF_TEXT]

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` without the start and end tokens."""
        ids: list[int] = []
        for piece in self._pattern.findall(clean_text(text)):
            special = self._special.get(piece)
            ids += [special] if special is not None else self._word_ids(piece)
        return ids

    def _word_ids(self, piece: str) -> list[int]:
        word = "".join(self._byte_symbols[byte] for byte in piece.encode("utf-8"))
        ids = self._words.get(word)
        if ids is None:
            if len(self._words) >= _WORD_CACHE_SIZE:
                self._words.clear()
            ids = self._words[word] = [self._ids[token] for token in self._merged(word)]
        return ids

    def _merged(self, word: str) -> list[str]:
        """open_clip's BPE of one word: the last symbol marked as the word's end, then the
        adjacent pair merged first in the merge list joined everywhere, until none is left."""
        tokens = [*word[:-1], word[-1] + END_OF_WORD]
        while len(tokens) > 1:
            ranked = [
                (rank, at)
                for at in range(len(tokens) - 1)
                if (rank := self._ranks.get(f"{tokens[at]} {tokens[at + 1]}")) is not None
            ]
            if not ranked:
                break
            at = min(ranked)[1]
            first, second = tokens[at], tokens[at + 1]
            merged: list[str] = []
            index = 0
            while index < len(tokens):
                if tokens[index] == first and tokens[index + 1 : index + 2] == [second]:
                    merged.append(first + second)
                    index += 2
                else:
                    merged.append(tokens[index])
                    index += 1
            tokens = merged
        return tokens

    @classmethod
    def load(cls, directory: Path, settings: dict[str, Any]) -> ClipTokenizer:
        path = directory / str(settings["file"])
        merges = read_merges(path)
        # A damaged file would shift every id after the merges (the end token's among them):
        # wrong vectors, silently. The exporter saves only CLIP's full list.
        if len(merges) != MERGE_COUNT:
            from pixsift.search.errors import damaged_tower_file

            reason = f"it holds {len(merges)} merges, not CLIP's {MERGE_COUNT}"
            raise damaged_tower_file(path, reason)
        return cls(merges, int(settings["context_length"]))

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        rows = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.start_id, *self.encode(text), self.end_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.end_id
            rows[row, : len(ids)] = ids
        return rows


def save_tokenizer_for(tokenizer: Any, directory: Path) -> dict[str, Any] | None:
    """Write a torch-free copy of open_clip ``tokenizer`` into ``directory`` and return its
    sidecar settings, or None when it is not the plain CLIP BPE this module reproduces (e.g. a
    Hugging Face tokenizer; those models keep open_clip's tokenizer)."""
    from open_clip.tokenizer import SimpleTokenizer, _clean_lower, default_bpe

    if type(tokenizer) is not SimpleTokenizer or tokenizer.clean_fn is not _clean_lower:
        return None
    if tokenizer.reduction_fn is not None or tokenizer.vocab_size != 2 * 256 + MERGE_COUNT + 2:
        return None
    merges = clip_merges(Path(default_bpe()))
    (directory / MERGES_FILE).write_text("\n".join(merges), encoding="utf-8")
    return {"kind": "clip_bpe", "file": MERGES_FILE, "context_length": tokenizer.context_length}


def save_torch_free_tokenizer(tokenizer: Any, directory: Path) -> dict[str, Any] | None:
    """A torch-free copy of open_clip ``tokenizer`` (CLIP BPE, or a Hugging Face tokenizer's
    ``tokenizers`` serialisation) in ``directory``, and its sidecar settings; None when neither
    reproduces it."""
    from pixsift.search.model.hftokenizer import save_hf_tokenizer_for

    return save_tokenizer_for(tokenizer, directory) or save_hf_tokenizer_for(tokenizer, directory)


def load_tokenizer(directory: Path, settings: dict[str, Any]) -> Any:
    """The torch-free tokenizer a sidecar's ``settings`` describe."""
    if settings.get("kind") == "hf":
        from pixsift.search.model.hftokenizer import HfTokenizer

        return HfTokenizer.load(directory, settings)
    return ClipTokenizer.load(directory, settings)


def json_settings(raw: object) -> dict[str, Any] | None:
    """The tokenizer settings of a sidecar, or None when they are absent or malformed."""
    if not isinstance(raw, dict) or raw.get("kind") not in ("clip_bpe", "hf"):
        return None
    try:
        return {**raw, "context_length": int(raw["context_length"]), "file": str(raw["file"])}
    except (KeyError, TypeError, ValueError):
        return None
