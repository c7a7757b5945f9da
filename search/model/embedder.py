"""The open_clip embedder: one model, its preprocessing and tokenizer behind one small class.

It knows nothing of the database or the index. Every vector it returns is float32 and
L2-normalised, so inner products are cosine similarities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from pixsift.search.model.hftext import create_model_kwargs, local_text_files, open_clip_tokenizer
from pixsift.search.model.protocol import Embedder, ImagePreprocess
from pixsift.search.model.spec import ModelSpec
from pixsift.search.model.text import CausalTextTower, causal_text_tower
from pixsift.search.model.tokens import TextEmbeddingCache
from pixsift.search.model.weights import check_model_name, open_clip_model_name, resolve_weights
from pixsift.search.records import EmbeddingMatrix, l2_normalise

#: The fast text path must reproduce the full-context embedding this closely (cosine distance),
#: checked once when a model is loaded; otherwise the full path is used.
FAST_TEXT_TOLERANCE = 1e-4

__all__ = [
    "Embedder", "ImagePreprocess", "ModelSpec", "OpenClipEmbedder", "choose_device", "l2_normalise",
]  # fmt: skip


def choose_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class OpenClipEmbedder:
    """An open_clip model ready to embed images and texts."""

    def __init__(
        self,
        model: Any,
        preprocess: ImagePreprocess,
        tokenizer: Callable[[Sequence[str]], torch.Tensor],
        model_id: str,
        device: torch.device,
    ) -> None:
        self.model = model.eval().to(device)
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.device = device
        self._text_cache = TextEmbeddingCache()
        self._text_tower = causal_text_tower(self.model)
        if self._text_tower is not None and not self._fast_path_agrees():
            self._text_tower = None
        self.dimension = int(self.embed_texts([""]).shape[1])

    @classmethod
    def load(cls, spec: ModelSpec, device: torch.device | None = None) -> OpenClipEmbedder:
        """Load ``spec``'s model; raises WeightsUnavailableError, never falls back to random."""
        import open_clip

        check_model_name(spec.model_name)
        name = open_clip_model_name(spec.model_name)  # a config file's path: its stem
        checkpoint_path, preprocessing, model_id = resolve_weights(spec)
        # A Hugging Face text tower's tokenizer and configuration: a local folder or the hub.
        text_files = local_text_files(name)
        device = device or choose_device()
        model, _, preprocess = open_clip.create_model_and_transforms(
            name,
            pretrained=str(checkpoint_path),
            device=device,
            force_quick_gelu=bool(preprocessing.get("quick_gelu", False)),
            image_mean=preprocessing.get("mean"),
            image_std=preprocessing.get("std"),
            image_interpolation=preprocessing.get("interpolation"),
            image_resize_mode=preprocessing.get("resize_mode"),
            **create_model_kwargs(name, text_files),
        )
        tokenizer = open_clip_tokenizer(name, text_files)
        return cls(model, preprocess, tokenizer, model_id, device)

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @property
    def patch_grid(self) -> int | None:
        """Patches per side of a ViT image tower (None for other towers, e.g. a ResNet)."""
        visual = self.model.visual
        grid = getattr(visual, "grid_size", None)
        if grid is None:  # a timm tower (SigLIP's): its patch embedding knows the grid
            patch_embed = getattr(getattr(visual, "trunk", None), "patch_embed", None)
            grid = getattr(patch_embed, "grid_size", None)
        if isinstance(grid, (tuple, list)) and len(grid) == 2 and grid[0] == grid[1]:
            return int(grid[0])
        return None

    @property
    def sigmoid_scale(self) -> tuple[float, float] | None:
        """(scale, bias) of a sigmoid-loss (SigLIP) model, whose probability that a text matches
        a picture is sigmoid(scale * cosine + bias); None for a softmax CLIP (no bias)."""
        bias = getattr(self.model, "logit_bias", None)
        if bias is None:
            return None
        return float(self.model.logit_scale.detach().exp()), float(bias.detach())

    def embed_images(self, images: Sequence[Image.Image]) -> EmbeddingMatrix:
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        pixel_batch = torch.stack([self.preprocess(image) for image in images])
        return self.embed_pixel_batch(pixel_batch.numpy())

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix:
        """Embed images already through ``preprocess`` (N x 3 x H x W float32)."""
        with torch.inference_mode():
            tensor = torch.from_numpy(np.ascontiguousarray(pixel_batch)).to(self.device)
            features = self.model.encode_image(tensor)
        return l2_normalise(features.float().cpu().numpy())

    @property
    def uses_fast_text_path(self) -> bool:
        return self._text_tower is not None

    @property
    def text_tower(self) -> CausalTextTower | None:
        """The real-tokens-only text path, where it reproduces the full context."""
        return self._text_tower

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix:
        """One L2-normalised row per text. Recent texts come from a small LRU cache."""
        return self._text_cache.embed(texts, self._encode_texts, getattr(self, "dimension", 0))

    def embed_texts_full_context(self, texts: Sequence[str]) -> EmbeddingMatrix:
        """The reference path: open_clip's own ``encode_text`` over the whole padded context."""
        with torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            features = self.model.encode_text(tokens)
        return l2_normalise(features.float().cpu().numpy())

    def _encode_texts(self, texts: list[str]) -> EmbeddingMatrix:
        if self._text_tower is None:
            return self.embed_texts_full_context(texts)
        with torch.inference_mode():
            tokens = self.tokenizer(texts).to(self.device)
            features = self._text_tower.encode(tokens)
        return l2_normalise(features.float().cpu().numpy())

    def _fast_path_agrees(self) -> bool:
        """Check the truncated path against the full context once, on texts of several lengths."""
        probes = ["", "a photo", "a red bicycle leaning on a wall next to a green door"]
        try:
            with torch.inference_mode():
                tokens = self.tokenizer(probes).to(self.device)
                fast = l2_normalise(self._text_tower.encode(tokens).float().cpu().numpy())
        except (RuntimeError, TypeError, ValueError, AttributeError, IndexError):
            # A tower that does not fit the fast path's assumptions: use the full context.
            return False
        full = self.embed_texts_full_context(probes)
        return bool(np.max(np.abs(fast - full)) <= FAST_TEXT_TOLERANCE)
