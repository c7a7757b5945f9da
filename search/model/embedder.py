"""The open_clip embedder: one model, its preprocessing and tokenizer behind one small class.

It knows nothing of the database or the index. Every vector it returns is float32 and
L2-normalised, so inner products are cosine similarities.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image

from search.errors import InvalidInputError, WeightsUnavailableError
from search.records import EmbeddingMatrix

# ViT-B-32 trained on LAION-2B: the best text-to-image retrieval of open_clip's published results
# at ViT-B-32 compute (see README, "Choosing the default model").
DEFAULT_MODEL_NAME = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors", ".ckpt")
#: How many recent query texts keep their embedding (a query box re-sends the same words often).
TEXT_CACHE_SIZE = 1024
#: The fast text path must reproduce the full-context embedding this closely (cosine distance),
#: checked once when a model is loaded; otherwise the full path is used.
FAST_TEXT_TOLERANCE = 1e-4
NETWORK_PROBE_TIMEOUT_SECONDS = 3.0

ImagePreprocess = Callable[[Image.Image], torch.Tensor]


@dataclass(frozen=True)
class ModelSpec:
    """Which model to run: an open_clip architecture and its weights (a tag or a local file)."""

    model_name: str = DEFAULT_MODEL_NAME
    pretrained: str = DEFAULT_PRETRAINED
    #: For a local checkpoint: the published tag whose preprocessing (mean, std, interpolation)
    #: the file was trained with. Unset, the model's published tags are consulted.
    preprocessing_tag: str | None = None


def requested_model_spec(
    model: str | None, pretrained: str | None, tag: str | None
) -> ModelSpec | None:
    """A requested ModelSpec, or None to use the library's own."""
    if not (model or pretrained or tag):
        return None
    defaults = ModelSpec()
    return ModelSpec(
        model_name=model or defaults.model_name,
        pretrained=pretrained or defaults.pretrained,
        preprocessing_tag=tag,
    )


class Embedder(Protocol):
    """What the indexer and the query engine need from a model (tests pass fakes)."""

    model_id: str
    dimension: int
    preprocess: ImagePreprocess

    def embed_images(self, images: Sequence[Image.Image]) -> EmbeddingMatrix: ...

    def embed_pixel_batch(self, pixel_batch: np.ndarray) -> EmbeddingMatrix: ...

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix: ...


def choose_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def l2_normalise(vectors: np.ndarray) -> EmbeddingMatrix:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


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
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._text_cache_lock = threading.Lock()
        self._text_tower = _causal_text_tower(self.model)
        if self._text_tower is not None and not self._fast_path_agrees():
            self._text_tower = None
        self.dimension = int(self.embed_texts([""]).shape[1])

    @classmethod
    def load(cls, spec: ModelSpec, device: torch.device | None = None) -> OpenClipEmbedder:
        """Load ``spec``'s model; raises WeightsUnavailableError, never falls back to random."""
        import open_clip

        _check_model_name(spec.model_name)
        checkpoint_path, preprocessing, model_id = _resolve_weights(spec)
        device = device or choose_device()
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.model_name,
            pretrained=str(checkpoint_path),
            device=device,
            force_quick_gelu=bool(preprocessing.get("quick_gelu", False)),
            image_mean=preprocessing.get("mean"),
            image_std=preprocessing.get("std"),
            image_interpolation=preprocessing.get("interpolation"),
            image_resize_mode=preprocessing.get("resize_mode"),
        )
        tokenizer = open_clip.get_tokenizer(spec.model_name)
        return cls(model, preprocess, tokenizer, model_id, device)

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

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

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix:
        """One L2-normalised row per text. Recent texts come from a small LRU cache (copies)."""
        texts = list(texts)
        rows: list[np.ndarray | None] = [self._cached_text(text) for text in texts]
        missing = [index for index, row in enumerate(rows) if row is None]
        if missing:
            computed = self._encode_texts([texts[index] for index in missing])
            for index, vector in zip(missing, computed, strict=True):
                rows[index] = vector
                self._remember_text(texts[index], vector)
        if not rows:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

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

    def _cached_text(self, text: str) -> np.ndarray | None:
        with self._text_cache_lock:
            vector = self._text_cache.get(text)
            if vector is None:
                return None
            self._text_cache.move_to_end(text)
            return vector.copy()

    def _remember_text(self, text: str, vector: np.ndarray) -> None:
        with self._text_cache_lock:
            self._text_cache[text] = vector.copy()
            self._text_cache.move_to_end(text)
            while len(self._text_cache) > TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)


class _CausalTextTower:
    """CLIP's causal text transformer run over the real tokens only.

    With a causal mask, position i attends to positions <= i, so the features at the
    end-of-text token are the same whether the padding after it is computed or not. Running
    ``n`` = (last end-of-text position + 1) tokens instead of the full context gives the same
    embedding for a fraction of the cost (attention and MLP scale with the sequence length).
    """

    def __init__(self, owner: Any, pool_type: str, eos_id: int | None) -> None:
        self.owner = owner
        self.pool_type = pool_type
        self.eos_id = eos_id

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        owner = self.owner
        if self.pool_type == "argmax":
            ends = tokens.argmax(dim=-1)
        else:
            ends = (tokens == self.eos_id).int().argmax(dim=-1)
        length = int(ends.max().item()) + 1
        tokens = tokens[:, :length]
        cast_dtype = owner.transformer.get_cast_dtype()
        x = owner.token_embedding(tokens).to(cast_dtype)
        x = x + owner.positional_embedding[:length].to(cast_dtype)
        x = owner.transformer(x, attn_mask=owner.attn_mask[:length, :length])
        x = owner.ln_final(x)
        x = text_global_pool(x, tokens, self.pool_type, eos_token_id=self.eos_id)
        projection = owner.text_projection
        if projection is not None:
            x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
        return x


def _causal_text_tower(model: Any) -> _CausalTextTower | None:
    """The fast path for ``model``'s text tower, or None where it would not be exact: a
    bidirectional tower (``no_causal_mask``), a class token or padding mask, pooling that does
    not read the end-of-text token, or a tower that is not open_clip's own (e.g. Hugging Face)."""
    from open_clip.transformer import TextTransformer

    text = getattr(model, "text", None)
    if text is not None:
        if not isinstance(text, TextTransformer):
            return None
        if text.cls_emb is not None or text.use_pad_mask:
            return None
        owner, pool_type, eos_id = text, text.pool_type, getattr(text, "eos_id", None)
    else:
        owner = model
        pool_type = getattr(model, "text_pool_type", None)
        eos_id = getattr(model, "text_eos_id", None)
    required = ("token_embedding", "positional_embedding", "transformer", "ln_final")
    if not all(hasattr(owner, name) for name in required):
        return None
    if getattr(owner, "attn_mask", None) is None:
        return None
    if pool_type not in ("argmax", "eos") or (pool_type == "eos" and eos_id is None):
        return None
    return _CausalTextTower(owner, pool_type, eos_id)


def _check_model_name(model_name: str) -> None:
    import open_clip

    if model_name not in open_clip.list_models():
        raise InvalidInputError(
            f'unknown open_clip model {model_name!r}; `python -c "import open_clip; '
            f'print(open_clip.list_models())"` lists the known ones'
        )


def _resolve_weights(spec: ModelSpec) -> tuple[Path, dict[str, Any], str]:
    """(checkpoint file, preprocessing settings, model id) for ``spec``."""
    if _looks_like_path(spec.pretrained):
        checkpoint_path = Path(spec.pretrained).expanduser()
        if not checkpoint_path.is_file():
            raise WeightsUnavailableError(
                f"checkpoint file {checkpoint_path} does not exist; pass --pretrained with "
                f"the path of an open_clip {spec.model_name} checkpoint (.bin, .pt or .safetensors)"
            )
        preprocessing = _preprocessing_for_local_file(spec)
        model_id = f"{spec.model_name}:sha256-{_file_digest(checkpoint_path)[:16]}"
        return checkpoint_path, preprocessing, model_id
    preprocessing = _published_preprocessing(spec.model_name, spec.pretrained)
    return _fetch_published_weights(spec, preprocessing), preprocessing, _tag_model_id(spec)


def _tag_model_id(spec: ModelSpec) -> str:
    return f"{spec.model_name}:{spec.pretrained}"


def _looks_like_path(pretrained: str) -> bool:
    return (
        os.sep in pretrained
        or pretrained.startswith((".", "~"))
        or pretrained.lower().endswith(CHECKPOINT_SUFFIXES)
    )


def _published_preprocessing(model_name: str, tag: str) -> dict[str, Any]:
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(model_name)
    if tag not in tags:
        known = ", ".join(tags) or "none"
        raise InvalidInputError(
            f"{model_name} has no published weights tagged {tag!r} (published: {known}); "
            "or pass the path of a local checkpoint file"
        )
    return dict(open_clip.get_pretrained_cfg(model_name, tag))


def _preprocessing_for_local_file(spec: ModelSpec) -> dict[str, Any]:
    import open_clip

    if spec.preprocessing_tag:
        return _published_preprocessing(spec.model_name, spec.preprocessing_tag)
    # Preprocessing only: QuickGELU is part of the architecture (open_clip names it -quickgelu).
    keys = ("mean", "std", "interpolation", "resize_mode")
    settings = {
        tuple((key, cfg.get(key)) for key in keys)
        for tag in open_clip.list_pretrained_tags_by_model(spec.model_name)
        if (cfg := open_clip.get_pretrained_cfg(spec.model_name, tag))
    }
    if len(settings) > 1:
        raise InvalidInputError(
            f"{spec.model_name}'s published weights use different preprocessing; pass "
            "--preprocessing-tag with the tag your checkpoint file was trained as"
        )
    # A model without published weights keeps the preprocessing of its own config.
    return {key: value for key, value in next(iter(settings), ()) if value is not None}


def _fetch_published_weights(spec: ModelSpec, cfg: dict[str, Any]) -> Path:
    """The local path of a published checkpoint: from the cache, else downloaded once."""
    from open_clip.pretrained import download_pretrained

    cached = _cached_weights(cfg)
    if cached is not None:
        return cached
    source = _weights_source(cfg)
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not _reachable(source):
        raise WeightsUnavailableError(_weights_unavailable_message(spec, source))
    try:
        return Path(download_pretrained(cfg))
    except (OSError, RuntimeError) as error:
        raise WeightsUnavailableError(
            f"{_weights_unavailable_message(spec, source)} (download failed: {error})"
        ) from error


def _cached_weights(cfg: dict[str, Any]) -> Path | None:
    hub_repository = cfg.get("hf_hub", "")
    if not hub_repository:
        return None
    from huggingface_hub import try_to_load_from_cache

    # The same split open_clip applies: "org/repo/" or "org/repo/filename".
    repository_id, filename = os.path.split(hub_repository)
    candidates = [filename] if filename else []
    candidates += ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    for candidate in candidates:
        found = try_to_load_from_cache(repository_id, candidate)
        if isinstance(found, str):
            return Path(found)
    return None


def _weights_source(cfg: dict[str, Any]) -> str:
    if cfg.get("hf_hub"):
        from huggingface_hub import constants

        return f"{constants.ENDPOINT}/{cfg['hf_hub'].rstrip('/')}"
    return str(cfg.get("url", ""))


def _reachable(source: str) -> bool:
    """Whether the weights' host answers at all: without a network, fail in seconds rather
    than after a minute of download retries."""
    host = urlparse(source).hostname
    if not host:
        return False
    try:
        with socket.create_connection((host, 443), timeout=NETWORK_PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def _weights_unavailable_message(spec: ModelSpec, source: str) -> str:
    return (
        f"the weights of {spec.model_name} ({spec.pretrained}) are not on this machine and cannot "
        f"be downloaded from {source}. On a machine with internet, download "
        "open_clip_model.safetensors (or open_clip_pytorch_model.bin) from there, copy it here, "
        "and pass it with --pretrained /path/to/file (or set PIXSIFT_PRETRAINED)"
    )


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as checkpoint:
        for block in iter(lambda: checkpoint.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
