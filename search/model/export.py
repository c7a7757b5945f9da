"""Exporting a model's towers from torch to ONNX, checked before use.

The export is refused, and torch kept, unless the exported towers agree with torch on sample
inputs (cosine >= 0.99999), so the library's vectors do not depend on which backend made them.
The text tower keeps the real-tokens-only fast path (a dynamic sequence axis). int8 weights are
an opt-in whose measured agreement with fp32 is recorded, not required.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from pixsift.search.errors import PixsiftError
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.model.hftokenizer import without_bpe_tables
from pixsift.search.model.ort import (
    PROBE_TEXTS,
    OnnxEmbedder,
    TowersInfo,
    publish_towers,
    tower_agreement,
)
from pixsift.search.model.pixels import PixelPlan, PlannedPreprocess, pixel_plan_for
from pixsift.search.model.query_tower import int8_text_tower
from pixsift.search.model.tokenizer import load_tokenizer, save_torch_free_tokenizer

AGREEMENT_THRESHOLD = 0.99999
#: Texts on which the torch-free tokenizer must give open_clip's token ids exactly.
TOKENIZER_PROBES = (
    *PROBE_TEXTS,
    "A Dog's life, isn't it?! 3.14 & <b>bold</b> &amp;amp; C'EST L'ÉTÉ",
    "日本語のテキスト 中文 한국어 Привет 😀🐶 naïve café ﬁre ½",
    "  tabs\tand\nnewlines   everywhere  ",
    " ".join(["a long text cut at the context length"] * 20),
)


class TowerExportRejectedError(PixsiftError):
    """The exported towers do not reproduce torch's vectors closely enough to be used."""

    code = "tower_export_rejected"


class _ImageEncoder(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)


class _TextEncoder(torch.nn.Module):
    """The full-context text tower, for models without the real-tokens fast path."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens)


def export_towers(embedder: OpenClipEmbedder, directory: Path) -> TowersInfo:
    """Export, check and publish ``embedder``'s fp32 towers into ``directory`` (atomically: a
    half-written export is never seen; int8 towers are made from them, search.model.int8).
    Raises TowerExportRejectedError."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory.parent))
    try:
        try:
            text_input = _export_onnx(embedder, staging)
        except (RuntimeError, ValueError, TypeError, AttributeError) as error:
            # Towers the exporter cannot trace (some Hugging Face text towers): torch serves.
            raise TowerExportRejectedError(
                f"the ONNX export of {embedder.model_id} failed ({type(error).__name__}: "
                f"{' '.join(str(error).split())[:200]}); using torch"
            ) from error
        # Text queries run this copy by default (search.model.query_tower): made here, with
        # the onnx package the export already needs, it costs a query nothing (~1 s here).
        int8_text_tower(staging)
        info = _checked_info(embedder, staging, text_input, _torch_free_parts(embedder, staging))
        publish_towers(staging, directory, info)
        return info
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _export_onnx(
    embedder: OpenClipEmbedder, target: Path
) -> Literal["real_tokens", "full_context"]:
    import torch

    model = embedder.model
    batch = torch.export.Dim("batch", min=1, max=4096)
    pixels = torch.zeros(2, 3, embedder.image_size, embedder.image_size, device=embedder.device)
    tower = embedder.text_tower
    tokens = embedder.tokenizer(list(PROBE_TEXTS[1:])).to(embedder.device)
    text_module: torch.nn.Module
    if tower is not None:
        text_module = tower.module
        tokens = tokens[:, : tower.real_length(tokens.cpu())]
        context = int(tower.module.owner.positional_embedding.shape[0])
        text_shapes: dict[int, Any] = {0: batch, 1: torch.export.Dim("length", min=2, max=context)}
    else:
        text_module, text_shapes = _TextEncoder(model), {0: batch}
    # The exporter reports its progress on stdout; a CLI command's output is the user's.
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        for module, sample, shapes, name, input_name in (
            (_ImageEncoder(model), pixels, {0: batch}, "image.onnx", "pixels"),
            (text_module, tokens, text_shapes, "text.onnx", "tokens"),
        ):
            torch.onnx.export(
                module.eval(),
                (sample,),
                str(target / name),
                input_names=[input_name],
                output_names=["features"],
                dynamic_shapes=(shapes,),
                dynamo=True,
            )
    return "real_tokens" if tower is not None else "full_context"


def _checked(
    embedder: OpenClipEmbedder, directory: Path, settings: dict[str, Any]
) -> dict[str, Any] | None:
    """``settings`` when the saved tokenizer gives open_clip's ids on the probe texts; else the
    settings without the Python BPE's tables, if they had some and tokenizers passes instead."""
    expected = embedder.tokenizer(list(TOKENIZER_PROBES)).numpy()
    if np.array_equal(load_tokenizer(directory, settings)(TOKENIZER_PROBES), expected):
        return settings
    fallback = without_bpe_tables(directory, settings)
    if fallback is None:
        return None
    return (
        fallback
        if np.array_equal(load_tokenizer(directory, fallback)(TOKENIZER_PROBES), expected)
        else None
    )


def _torch_free_parts(
    embedder: OpenClipEmbedder, directory: Path
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(tokenizer settings, pixel plan) that reproduce the model's tokenizer and image transform
    without torch, each None where they would not (then open_clip's are used at load)."""
    saved = save_torch_free_tokenizer(embedder.tokenizer, directory)
    tokenizer = _checked(embedder, directory, saved) if saved is not None else None
    if saved is not None and tokenizer is None:
        (directory / str(saved["file"])).unlink()
    plan = pixel_plan_for(embedder.preprocess)
    return tokenizer, asdict(plan) if plan is not None else None


def _checked_info(
    embedder: OpenClipEmbedder,
    directory: Path,
    text_input: Literal["real_tokens", "full_context"],
    torch_free: tuple[dict[str, Any] | None, dict[str, Any] | None],
) -> TowersInfo:
    tower = embedder.text_tower
    info = TowersInfo(
        model_id=embedder.model_id,
        dimension=embedder.dimension,
        image_size=embedder.image_size,
        preprocess_cfg=dict(embedder.model.visual.preprocess_cfg),
        text_input=text_input,
        pool_type=tower.pool_type if tower is not None else None,
        eos_id=tower.eos_id if tower is not None else None,
        quantize=None,
        tokenizer=torch_free[0],
        pixels=torch_free[1],
        patch_grid=embedder.patch_grid,
        sigmoid_scale=list(embedder.sigmoid_scale) if embedder.sigmoid_scale else None,
    )
    # Checked as a search will run them: through the torch-free tokenizer and preprocessing.
    tokenizer = load_tokenizer(directory, info.tokenizer) if info.tokenizer else None
    plan = PixelPlan.from_json(info.pixels) if info.pixels else None
    exported = OnnxEmbedder(
        directory,
        info,
        PlannedPreprocess(plan) if plan else embedder.preprocess,
        tokenizer or embedder.tokenizer,
        threads=None,
        query_tower="fp32",  # the exported tower itself is what must reproduce torch's vectors
    )
    agreement = tower_agreement(
        exported, embedder.embed_pixel_batch, embedder.embed_texts_full_context
    )
    if min(agreement.values()) < AGREEMENT_THRESHOLD:
        raise TowerExportRejectedError(
            f"the ONNX export of {embedder.model_id} does not reproduce torch's vectors "
            f"(cosine {min(agreement.values()):.6f} < {AGREEMENT_THRESHOLD}); using torch"
        )
    return TowersInfo(**{**asdict(info), "agreement": agreement})
