"""A model pack in Immich's layout, made from an open_clip model as Immich's exporter makes one
(immich-app/immich, machine-learning/export: towers with a batch of one, inputs "image" and
"text" (int32), output "embedding", L2-normalised; open_clip's config and preprocess config; the
Hugging Face CLIP fast tokenizer saved beside the text tower). Built here from random weights
because published packs cannot be downloaded in the tests."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.tokenizer import default_bpe

from pixsift.search.model.tokenizer import MERGE_COUNT, bytes_to_unicode


class _Tower(torch.nn.Module):
    def __init__(self, model: Any, kind: str) -> None:
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if self.kind == "image":
            return self.model.encode_image(batch, normalize=True)
        return self.model.encode_text(batch, normalize=True)


def write_clip_tokenizer(target: Path, context_length: int) -> None:
    """Hugging Face's CLIP fast tokenizer over open_clip's vocabulary, saved as Immich saves it."""
    from transformers import CLIPTokenizerFast

    with gzip.open(default_bpe()) as vocabulary_file:
        lines = vocabulary_file.read().decode("utf-8").split("\n")[1 : MERGE_COUNT + 1]
    merges = [tuple(line.split()) for line in lines]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [symbol + "</w>" for symbol in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    tokenizer = CLIPTokenizerFast(
        vocab={token: number for number, token in enumerate(tokens)},
        merges=merges,
        model_max_length=context_length,
        pad_token="<|endoftext|>",
    )
    tokenizer.save_pretrained(str(target))


def write_immich_pack(model: Any, config: dict[str, Any], target: Path) -> Path:
    """``model``'s towers and files in Immich's layout under ``target``."""
    (target / "visual").mkdir(parents=True, exist_ok=True)
    (target / "textual").mkdir(parents=True, exist_ok=True)
    (target / "config.json").write_text(json.dumps(config))
    preprocess = dict(open_clip.get_model_preprocess_cfg(model))
    (target / "visual" / "preprocess_cfg.json").write_text(json.dumps(preprocess))
    size = int(config["vision_cfg"]["image_size"])
    context = int(config["text_cfg"].get("context_length", 77))
    samples = {
        "visual": ("image", torch.randn(1, 3, size, size), "image"),
        "textual": ("text", torch.ones(1, context, dtype=torch.int32), "text"),
    }
    model = model.eval()
    # As Immich's exporter does: the fused attention kernel has no ONNX translation.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        _export_towers(model, samples, target)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    write_clip_tokenizer(target / "textual", context)
    return target


def _export_towers(model: Any, samples: dict[str, Any], target: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        for folder, (kind, sample, input_name) in samples.items():
            torch.onnx.export(
                _Tower(model, kind),
                (sample,),
                str(target / folder / "model.onnx"),
                input_names=[input_name],
                output_names=["embedding"],
                dynamo=False,
                opset_version=17,
            )
