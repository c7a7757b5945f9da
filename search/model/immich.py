"""Model packs in the layout Immich publishes for its CLIP models, run without torch.

Immich's exporter (immich-app/immich, machine-learning/export) writes, per model::

    config.json                    open_clip's model config (embed_dim, vision_cfg, text_cfg)
    visual/model.onnx              input "image" (1 x 3 x S x S float32), output "embedding"
    visual/preprocess_cfg.json     open_clip's preprocess config (size, mean, std, interpolation)
    textual/model.onnx             input "text" (1 x context int32), output "embedding"
    textual/tokenizer.json         the Hugging Face fast tokenizer (plus tokenizer_config.json,
                                   whose pad_token pads the text to the context length)

Its towers are exported with a batch of one, so this runs one row at a time where the model's
input has a fixed batch; the vectors are L2-normalised again (Immich's already are).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixsift.search.errors import InvalidInputError
from pixsift.search.model.hftokenizer import clean_text
from pixsift.search.model.ort import session_threads
from pixsift.search.model.pixels import PixelPlan, PlannedPreprocess
from pixsift.search.model.tokens import TextEmbeddingCache
from pixsift.search.records import EmbeddingMatrix, l2_normalise

IMMICH_FILES = (
    "config.json",
    "visual/model.onnx",
    "visual/preprocess_cfg.json",
    "textual/model.onnx",
    "textual/tokenizer.json",
)
_RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def is_immich_pack(directory: Path) -> bool:
    return all((directory / name).is_file() for name in ("visual/model.onnx", "textual/model.onnx"))


def immich_pixel_plan(directory: Path) -> PixelPlan:
    """The preprocessing of ``visual/preprocess_cfg.json`` as a PixelPlan (shortest side resized,
    centre crop), refused where it asks for something else."""
    raw = _read_json(directory / "visual" / "preprocess_cfg.json")
    size = raw.get("size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    resampling = _RESAMPLING.get(str(raw.get("interpolation", "bicubic")))
    if resampling is None or raw.get("resize_mode", "shortest") != "shortest":
        raise InvalidInputError(
            f"{directory}: preprocessing {raw.get('interpolation')!r}/{raw.get('resize_mode')!r} "
            "is not supported (bicubic or bilinear, resize_mode shortest)"
        )
    mean, std = raw.get("mean", ()), raw.get("std", ())
    if len(mean) != 3 or len(std) != 3:
        raise InvalidInputError(f"{directory}: preprocess_cfg.json needs three means and stds")
    return PixelPlan(
        size=int(size),
        resampling=int(resampling),
        mean=tuple(float(value) for value in mean),  # type: ignore[arg-type]
        std=tuple(float(value) for value in std),  # type: ignore[arg-type]
    )


class ImmichTokenizer:
    """Immich's text tokenisation: the pack's ``tokenizer.json`` padded with its pad token to the
    model's context length and cut there (the tokenizer's post-processor keeps the end token)."""

    def __init__(self, textual: Path, context_length: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(textual / "tokenizer.json"))
        pad_token = self._pad_token(textual)
        pad_id = self._tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise InvalidInputError(f"{textual}: pad token {pad_token!r} not in tokenizer.json")
        self._tokenizer.enable_padding(length=context_length, pad_id=pad_id, pad_token=pad_token)
        self._tokenizer.enable_truncation(max_length=context_length)
        self.context_length = context_length

    @staticmethod
    def _pad_token(textual: Path) -> str:
        config_path = textual / "tokenizer_config.json"
        token: Any = _read_json(config_path).get("pad_token") if config_path.is_file() else None
        if isinstance(token, dict):
            token = token.get("content")
        return str(token or "<|endoftext|>")

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        encodings = self._tokenizer.encode_batch([clean_text(text) for text in texts])
        return np.array([e.ids for e in encodings], dtype=np.int64).reshape(
            len(texts), self.context_length
        )


class ImmichEmbedder:
    """The Embedder protocol over an Immich-layout pack's two ONNX towers (each session opened on
    first use)."""

    def __init__(self, directory: Path, model_id: str, *, threads: int | None = None) -> None:
        config = _read_json(directory / "config.json")
        try:
            self.dimension = int(config["embed_dim"])
            vision, text = dict(config["vision_cfg"]), dict(config.get("text_cfg", {}))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(
                f"{directory}/config.json is not an open_clip config"
            ) from error
        self.directory = directory
        self.model_id = model_id
        plan = immich_pixel_plan(directory)
        self.preprocess = PlannedPreprocess(plan)
        self.image_size = plan.size
        patch = vision.get("patch_size")
        self.patch_grid = plan.size // int(patch) if isinstance(patch, int) and patch else None
        self.tokenizer = ImmichTokenizer(directory / "textual", int(text.get("context_length", 77)))
        self.threads = session_threads(threads)
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._text_cache = TextEmbeddingCache()

    def embed_images(self, images: Sequence[Image.Image]) -> EmbeddingMatrix:
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.embed_pixel_batch(np.stack([self.preprocess(image) for image in images]))

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix:
        return self._run("visual", np.ascontiguousarray(pixel_batch, dtype=np.float32))

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix:
        return self._text_cache.embed(
            texts, lambda missing: self._run("textual", self.tokenizer(missing)), self.dimension
        )

    def _run(self, tower: str, batch: np.ndarray) -> EmbeddingMatrix:
        session = self._session(tower)
        model_input = session.get_inputs()[0]
        if "int32" in model_input.type:
            batch = batch.astype(np.int32)
        # Immich exports a batch of one: a fixed first dimension is run row by row.
        step = model_input.shape[0] if isinstance(model_input.shape[0], int) else len(batch)
        rows = [
            session.run(None, {model_input.name: batch[start : start + step]})[0]
            for start in range(0, len(batch), max(1, step))
        ]
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return l2_normalise(np.concatenate(rows).astype(np.float32))

    def _session(self, tower: str) -> Any:
        with self._lock:
            session = self._sessions.get(tower)
            if session is None:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                session = onnxruntime.InferenceSession(
                    str(self.directory / tower / "model.onnx"),
                    options,
                    providers=["CPUExecutionProvider"],
                )
                self._sessions[tower] = session
            return session


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"cannot read {path}: {error}") from error
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{path} is not a JSON object")
    return raw
