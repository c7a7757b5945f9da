"""int8 towers, made from a model's exported fp32 towers: ONNX Runtime's dynamic quantization of
both, checked against the fp32 towers on fixed probes. No torch: seconds, where an export from
torch takes minutes, and a model whose int8 towers stray from fp32 has lost nothing (the "auto"
default then keeps the fp32 towers it already has; search.library_model)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from pixsift.search.model.ort import (
    SIDECAR_NAME,
    TOWER_FILES,
    OnnxEmbedder,
    TowersInfo,
    publish_towers,
    tower_agreement,
)
from pixsift.search.model.quantize import quantize_weights


def derive_int8_towers(fp32: OnnxEmbedder, directory: Path) -> TowersInfo:
    """Make ``directory``'s int8 towers from ``fp32``'s (atomically, as an export is published)
    and return their sidecar, whose ``agreement`` is each int8 tower's smallest cosine to the
    fp32 one on the probes."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".int8-", dir=directory.parent))
    try:
        for path in fp32.directory.iterdir():
            if path.name in TOWER_FILES:
                quantize_weights(path, staging / path.name)
            elif path.is_file() and path.name != SIDECAR_NAME and ".onnx" not in path.name:
                shutil.copy2(path, staging / path.name)  # the tokenizer's files, not weights
        info = replace(fp32.info, quantize="int8", agreement={})
        info = replace(info, agreement=_agreement(fp32, staging, info))
        publish_towers(staging, directory, info)
        return info
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _agreement(fp32: OnnxEmbedder, staging: Path, info: TowersInfo) -> dict[str, float]:
    # The fp32 text tower itself, not the int8 query copy an fp32 embedder runs by default.
    exact = OnnxEmbedder(
        fp32.directory, fp32.info, fp32.preprocess, fp32.tokenizer, threads=None,
        query_tower="fp32",
    )  # fmt: skip
    quick = OnnxEmbedder(staging, info, fp32.preprocess, fp32.tokenizer, threads=None)
    return tower_agreement(quick, exact.embed_pixel_batch, exact.embed_texts)
