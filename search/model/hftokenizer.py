"""A Hugging Face text tower's tokenizer without torch or transformers: its ``tokenizers``
serialisation (the fast tokenizer's own), run with open_clip's HFTokenizer settings (its text
cleaning: "whitespace", case kept, or SigLIP's "canonicalize"; cut and padded to the context
length).

The exporter saves it beside the towers and checks it token for token against open_clip's
HFTokenizer on sample texts; tokenizers it does not reproduce (open_clip's "clips" mode, a
stripped separator) keep open_clip's, which needs torch and the tokenizer folder.
"""

from __future__ import annotations

import html
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
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
    def load(cls, directory: Path, settings: dict[str, Any]) -> HfTokenizer:
        serialised = (directory / str(settings["file"])).read_text(encoding="utf-8")
        # Sidecars written before SigLIP's cleaning was reproduced have no "clean": whitespace.
        clean = str(settings.get("clean", "whitespace"))
        return cls(serialised, int(settings["context_length"]), int(settings["pad_id"]), clean)

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        encodings = self._tokenizer.encode_batch([self._clean(text) for text in texts])
        return np.array([encoding.ids for encoding in encodings], dtype=np.int64).reshape(
            len(texts), self.context_length
        )


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
    (directory / HF_TOKENIZER_FILE).write_text(backend.to_str(), encoding="utf-8")
    return {
        "kind": "hf",
        "file": HF_TOKENIZER_FILE,
        "context_length": int(tokenizer.context_length),
        "pad_id": int(pad_id),
        "clean": clean[tokenizer.clean_fn],
    }
