"""Where a model's weights come from: a published tag (the open_clip / Hugging Face cache, else
downloaded once) or a local checkpoint file, with the preprocessing that goes with them. Without
a network it fails in seconds with a message that says what to fetch, never falls back to random
weights."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pixsift.search.errors import InvalidInputError, WeightsUnavailableError
from pixsift.search.model.checkpoints import checkpoint_digest, default_cache_directory, reachable
from pixsift.search.model.spec import ModelSpec, is_model_config_path

CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors", ".ckpt")


def open_clip_model_name(model_name: str) -> str:
    """The open_clip registry name for ``model_name``: itself, or for the path of an open_clip
    model config file (``.json``) its stem, once the file is checked and registered."""
    if not is_model_config_path(model_name):
        return model_name
    import open_clip

    path = Path(model_name).expanduser()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise InvalidInputError(f"cannot read model config {path}: {reason}") from error
    keys = ("embed_dim", "vision_cfg", "text_cfg")
    missing = [key for key in keys if not isinstance(config, dict) or key not in config]
    if missing:
        raise InvalidInputError(
            f"{path} is not an open_clip model config (missing {', '.join(missing)})"
        )
    if open_clip.get_model_config(path.stem) != config:
        open_clip.add_model_config(path)
    return path.stem


def check_model_name(model_name: str) -> None:
    from pixsift.search.model.requirements import USE_A_PACK, require_torch

    require_torch(f"the open_clip model {model_name}", USE_A_PACK)
    import open_clip

    model_name = open_clip_model_name(model_name)
    if model_name not in open_clip.list_models():
        raise InvalidInputError(
            f'unknown open_clip model {model_name!r}; `python -c "import open_clip; '
            f'print(open_clip.list_models())"` lists the known ones'
        )


def resolve_weights(spec: ModelSpec) -> tuple[Path, dict[str, Any], str]:
    """(checkpoint file, preprocessing settings, model id) for ``spec``."""
    if _looks_like_path(spec.pretrained):
        checkpoint_path = _local_checkpoint(spec)
        return checkpoint_path, _preprocessing_for_local_file(spec), model_id_for(spec)
    preprocessing = _published_preprocessing(spec.model_name, spec.pretrained)
    return _fetch_published_weights(spec, preprocessing), preprocessing, model_id_for(spec)


def model_id_for(spec: ModelSpec) -> str:
    """The id stored with the vectors ``spec``'s model makes, found without loading the model:
    the tag for published weights, the content hash for a local file, a model pack's own."""
    from pixsift.search.model.packs import find_pack, pack_model_id

    pack = find_pack(spec.model_name)
    if pack is not None:
        return pack_model_id(pack)
    name = Path(spec.model_name).stem if is_model_config_path(spec.model_name) else spec.model_name
    if not _looks_like_path(spec.pretrained):
        return f"{name}:{spec.pretrained}"
    digest = checkpoint_digest(_local_checkpoint(spec), default_cache_directory())
    return f"{name}:sha256-{digest[:16]}"


def _local_checkpoint(spec: ModelSpec) -> Path:
    checkpoint_path = Path(spec.pretrained).expanduser()
    if not checkpoint_path.is_file():
        raise WeightsUnavailableError(
            f"checkpoint file {checkpoint_path} does not exist; pass --pretrained with "
            f"the path of an open_clip {spec.model_name} checkpoint (.bin, .pt or .safetensors)"
        )
    return checkpoint_path


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
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not reachable(source):
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


def _weights_unavailable_message(spec: ModelSpec, source: str) -> str:
    return (
        f"the weights of {spec.model_name} ({spec.pretrained}) are not on this machine and cannot "
        f"be downloaded from {source}. On a machine with internet, download "
        "open_clip_model.safetensors (or open_clip_pytorch_model.bin) from there, copy it here, "
        "and pass it with --pretrained /path/to/file (or set PIXSIFT_PRETRAINED)"
        + _tokenizer_too(spec)
    )


def _tokenizer_too(spec: ModelSpec) -> str:
    """For a model that takes a Hugging Face tokenizer (SigLIP's), the files it needs as well:
    a user fetching by hand gets everything in one go."""
    import open_clip
    from huggingface_hub import constants

    text_cfg = (open_clip.get_model_config(spec.model_name) or {}).get("text_cfg", {})
    name = text_cfg.get("hf_tokenizer_name")
    if not name or text_cfg.get("hf_model_name"):
        return ""
    return (
        f"; its tokenizer too: tokenizer.json and tokenizer_config.json from "
        f"{constants.ENDPOINT}/{name} into "
        "a folder passed with --tokenizer /path/to/folder (or PIXSIFT_TOKENIZER)"
    )
