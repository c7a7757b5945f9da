"""A Hugging Face text tower's tokenizer without torch or transformers: its ``tokenizers``
serialisation (the fast tokenizer's own), run with open_clip's HFTokenizer settings (its text
cleaning: "whitespace", case kept, or SigLIP's "canonicalize"; cut and padded to the context
length).

The exporter saves it beside the towers and checks it token for token against open_clip's
HFTokenizer on sample texts; tokenizers it does not reproduce (open_clip's "clips" mode, a
stripped separator) keep open_clip's, which needs torch and the tokenizer folder. A
SentencePiece-style BPE (Gemma's, SigLIP2's default model) is also saved as hashed tables run in
Python (search.model.spbpe, sidecar setting "bpe_tables"): loading Gemma's serialisation costs
~1 s of a CLI query, the tables under a millisecond. Sidecars without the setting keep loading
the serialisation.
"""

from __future__ import annotations

import html
import json
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pixsift.search.model.spbpe import (
    TABLES_FILE,
    SentencePieceBpe,
    reproducible_config,
    save_tables,
)

HF_TOKENIZER_FILE = "hf-tokenizer.json"


def clean_text(text: str) -> str:
    """open_clip's "whitespace" cleaning: ftfy, HTML entities unescaped twice, runs of
    whitespace to one space (case kept)."""
    from pixsift.search.model.ftfy_fast import fix_text

    text = html.unescape(html.unescape(fix_text(text))).strip()
    return " ".join(text.split()).strip()


def canonical_text(text: str) -> str:
    """open_clip's "canonicalize" cleaning (SigLIP's, from big_vision): the same ftfy and HTML
    clean-up, underscores to spaces, ASCII punctuation removed, lower case, whitespace runs to
    one space."""
    from pixsift.search.model.ftfy_fast import fix_text

    # ftfy.fix_text where it can change the text: importing ftfy costs ~45 ms of a CLI query.
    text = html.unescape(html.unescape(fix_text(text))).strip()
    text = text.replace("_", " ").translate(_NO_PUNCTUATION).lower()
    return " ".join(text.split()).strip()


_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
#: open_clip's clean function names -> ours.
CLEANERS = {"whitespace": clean_text, "canonicalize": canonical_text}


class HfTokenizer:
    """Texts -> int64 token ids of ``context_length`` columns, as open_clip's HFTokenizer gives
    them (special tokens from the tokenizer's own post-processor, padded with its pad id)."""

    def __init__(
        self, serialised: str, context_length: int, pad_id: int, clean: str = "whitespace"
    ) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_str(serialised)
        self._tokenizer.enable_truncation(max_length=context_length)
        self._tokenizer.enable_padding(length=context_length, pad_id=pad_id)
        self.context_length = context_length
        self._clean = CLEANERS[clean]

    @classmethod
    def load(cls, directory: Path, settings: dict[str, Any]) -> HfTokenizer | BpeTablesTokenizer:
        # Sidecars written before SigLIP's cleaning was reproduced have no "clean": whitespace.
        clean = str(settings.get("clean", "whitespace"))
        length, pad_id = int(settings["context_length"]), int(settings["pad_id"])
        if settings.get("bpe_tables"):
            return BpeTablesTokenizer(
                directory / str(settings["bpe_tables"]), length, pad_id, clean
            )
        serialised = (directory / str(settings["file"])).read_text(encoding="utf-8")
        return cls(serialised, length, pad_id, clean)

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        encodings = self._tokenizer.encode_batch([self._clean(text) for text in texts])
        return np.array([encoding.ids for encoding in encodings], dtype=np.int64).reshape(
            len(texts), self.context_length
        )


class BpeTablesTokenizer:
    """HfTokenizer's ids for a SentencePiece-style BPE, from its saved tables: the template's
    special tokens around the text's ids, cut to leave them room, padded with ``pad_id``."""

    def __init__(self, tables: Path, context_length: int, pad_id: int, clean: str) -> None:
        self._bpe = SentencePieceBpe(tables)
        self.context_length = context_length
        self._pad_id = pad_id
        self._clean = CLEANERS[clean]
        self._room = max(context_length - len(self._bpe.prefix) - len(self._bpe.suffix), 0)

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        rows = np.full((len(texts), self.context_length), self._pad_id, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = self._bpe.encode(self._clean(text))[: self._room]
            ids = [*self._bpe.prefix, *ids, *self._bpe.suffix][: self.context_length]
            rows[row, : len(ids)] = ids
        return rows


def save_hf_tokenizer_for(tokenizer: Any, directory: Path) -> dict[str, Any] | None:
    """Write a torch-free copy of open_clip HFTokenizer ``tokenizer`` into ``directory`` and
    return its sidecar settings; None when it is not one this module reproduces."""
    from open_clip.tokenizer import HFTokenizer, _clean_canonicalize, _clean_whitespace

    clean = {_clean_whitespace: "whitespace", _clean_canonicalize: "canonicalize"}
    if type(tokenizer) is not HFTokenizer or tokenizer.clean_fn not in clean:
        return None
    if tokenizer.tokenizer_mode or tokenizer.strip_sep_token:
        return None
    backend = getattr(tokenizer.tokenizer, "backend_tokenizer", None)
    pad_id = tokenizer.tokenizer.pad_token_id
    if backend is None or pad_id is None:  # a slow (Python) tokenizer has no serialisation
        return None
    serialised = backend.to_str()
    (directory / HF_TOKENIZER_FILE).write_text(serialised, encoding="utf-8")
    settings = {
        "kind": "hf",
        "file": HF_TOKENIZER_FILE,
        "context_length": int(tokenizer.context_length),
        "pad_id": int(pad_id),
        "clean": clean[tokenizer.clean_fn],
    }
    return {**settings, **save_bpe_tables(json.loads(serialised), directory)}


def save_bpe_tables(serialised: dict[str, Any], directory: Path) -> dict[str, str]:
    """The sidecar setting of the Python BPE's tables, written into ``directory``, when
    serialisation ``serialised`` is a SentencePiece-style BPE (else none: tokenizers runs it)."""
    config = reproducible_config(serialised)
    if config is None:
        return {}
    save_tables(serialised, config, directory / TABLES_FILE)
    return {"bpe_tables": TABLES_FILE}


def without_bpe_tables(directory: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """``settings`` with the Python BPE's tables removed (their file deleted), for an export
    whose check they failed; None when there were none (nothing left to fall back to)."""
    if not settings.get("bpe_tables"):
        return None
    (directory / str(settings["bpe_tables"])).unlink(missing_ok=True)
    return {key: value for key, value in settings.items() if key != "bpe_tables"}
