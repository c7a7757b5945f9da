"""CLIP's byte-pair tokenizer without torch: Hugging Face ``tokenizers`` (Rust) over open_clip's
own vocabulary, giving the same token ids as open_clip's ``SimpleTokenizer``.

open_clip's tokenizer module imports torch (it returns tensors), and importing open_clip pulls in
torchvision and torch._dynamo: seconds of start-up for a one-word query. The text cleaning stays
in Python, as open_clip does it (ftfy, HTML unescaping, whitespace, lower case), because ftfy has
no counterpart among the ``tokenizers`` normalisers; the byte-level BPE runs in ``tokenizers``.
The exporter builds one from the model's tokenizer, checks it token for token against open_clip
on sample texts and saves it as ``tokenizer.json`` beside the towers.
"""

from __future__ import annotations

import gzip
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pixsift.search.model.ftfy_fast import fix_text

#: Token ids as the text tower takes them: one row per text, padded with zeros.
TOKENIZER_FILE = "tokenizer.json"
#: open_clip's SimpleTokenizer: 49152 - 256 - 2 merges from the vocabulary file.
MERGE_COUNT = 49152 - 256 - 2
START_OF_TEXT = "<start_of_text>"
END_OF_TEXT = "<end_of_text>"
#: open_clip's pre-tokenisation (with its two special tokens first), applied after lower-casing.
SPLIT_PATTERN = (
    r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)


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


def build_tokenizer_json(vocabulary_path: Path) -> str:
    """The ``tokenizers`` serialisation of open_clip's BPE over ``vocabulary_path``
    (bpe_simple_vocab_16e6.txt.gz)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    with gzip.open(vocabulary_path) as vocabulary:
        lines = vocabulary.read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : MERGE_COUNT + 1]]
    symbols = list(bytes_to_unicode().values())
    vocabulary = symbols + [symbol + "</w>" for symbol in symbols]
    vocabulary += ["".join(merge) for merge in merges] + [START_OF_TEXT, END_OF_TEXT]
    model = models.BPE(
        vocab={token: number for number, token in enumerate(vocabulary)},
        merges=merges,
        end_of_word_suffix="</w>",
        fuse_unk=False,
    )
    tokenizer = Tokenizer(model)
    # Texts come split into open_clip's pieces (see ClipTokenizer): bytes to symbols, then BPE.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer.to_str()


def clean_text(text: str) -> str:
    """open_clip's "lower" cleaning: ftfy, HTML entities unescaped twice, runs of whitespace to
    one space, lower case."""
    text = html.unescape(html.unescape(fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


class ClipTokenizer:
    """Texts -> int64 token ids [start, ..., end, 0, ...] of ``context_length`` columns, cut
    (keeping the end token last) when longer, as open_clip's SimpleTokenizer gives them."""

    def __init__(self, serialised: str, context_length: int) -> None:
        import regex
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_str(serialised)
        # Split as open_clip does, with the same regex engine: a special token counts only where
        # open_clip's pattern matches it (not after punctuation, which swallows its "<").
        self._pattern = regex.compile(SPLIT_PATTERN, regex.IGNORECASE)
        self.context_length = context_length
        self._special = {
            name: int(self._tokenizer.token_to_id(name)) for name in (START_OF_TEXT, END_OF_TEXT)
        }
        self.start_id, self.end_id = self._special[START_OF_TEXT], self._special[END_OF_TEXT]

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` without the start and end tokens."""
        ids: list[int] = []
        words: list[str] = []
        for piece in self._pattern.findall(clean_text(text)):
            special = self._special.get(piece)
            if special is None:
                words.append(piece)
                continue
            ids += [*self._bpe(words), special]
            words = []
        return ids + self._bpe(words)

    def _bpe(self, words: list[str]) -> list[int]:
        if not words:
            return []
        return list(self._tokenizer.encode(words, is_pretokenized=True).ids)

    @classmethod
    def load(cls, directory: Path, settings: dict[str, Any]) -> ClipTokenizer:
        serialised = (directory / str(settings["file"])).read_text(encoding="utf-8")
        return cls(serialised, int(settings["context_length"]))

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
    (directory / TOKENIZER_FILE).write_text(build_tokenizer_json(Path(default_bpe())))
    return {"kind": "clip_bpe", "file": TOKENIZER_FILE, "context_length": tokenizer.context_length}


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
