"""open_clip models whose text tower is a Hugging Face transformer (xlm-roberta-base-ViT-B-32,
nllb-clip-base, ...) or that take a Hugging Face tokenizer (SigLIP, SigLIP2): their tokenizer and
the text model's configuration normally come from the Hugging Face hub. With a local directory
(``--tokenizer DIR`` / PIXSIFT_TOKENIZER) holding them (``tokenizer.json`` or the tokenizer's own
files, and for a Hugging Face tower ``config.json``), the model loads from local files alone;
without one and without the hub, loading fails in seconds with what to fetch, as for missing
weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pixsift.search.errors import TorchRequiredError, WeightsUnavailableError
from pixsift.search.settings import TOKENIZER

#: What a tokenizer directory must hold: the text model's configuration, and a tokenizer.
CONFIG_FILE = "config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
HUB = "https://huggingface.co"


def hf_text_config(model_name: str) -> dict[str, Any] | None:
    """The text tower settings of ``model_name`` when it is a Hugging Face transformer or
    takes a Hugging Face tokenizer (SigLIP's: open_clip's own tower, a Gemma or T5 tokenizer)."""
    import open_clip

    text_cfg = (open_clip.get_model_config(model_name) or {}).get("text_cfg", {})
    if text_cfg.get("hf_model_name") or text_cfg.get("hf_tokenizer_name"):
        return dict(text_cfg)
    return None


def _tokenizer_only(text_cfg: dict[str, Any]) -> bool:
    """Whether only the tokenizer comes from Hugging Face (the tower is open_clip's, built from
    the model config): then no ``config.json`` is needed."""
    return not text_cfg.get("hf_model_name")


def local_text_files(model_name: str) -> Path | None:
    """The directory the model's tokenizer and text configuration are read from, checked; None
    when the model needs none or they come from the Hugging Face cache. Raises
    WeightsUnavailableError when they are neither given, cached nor downloadable."""
    text_cfg = hf_text_config(model_name)
    if text_cfg is None:
        return None
    configured = TOKENIZER.value()
    if configured:
        return _checked_directory(model_name, text_cfg, Path(str(configured)).expanduser())
    name = _hub_name(text_cfg)
    if _cached(name, _tokenizer_only(text_cfg)):
        return None
    from pixsift.search.model.weights import reachable

    if os.environ.get("HF_HUB_OFFLINE") == "1" or not reachable(HUB):
        raise WeightsUnavailableError(_unavailable_message(model_name, text_cfg, None))
    _require_transformers(model_name)
    return None


def _hub_name(text_cfg: dict[str, Any]) -> str:
    return str(text_cfg.get("hf_tokenizer_name") or text_cfg["hf_model_name"])


def _require_transformers(model_name: str) -> None:
    """open_clip reads a Hugging Face tokenizer with transformers: one line saying what to
    install, rather than open_clip's ImportError from deep inside."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        raise TorchRequiredError(
            f"{model_name}'s Hugging Face tokenizer needs transformers (not installed): "
            "pip install transformers (or 'pixsift[multilingual]')"
        )


def create_model_kwargs(model_name: str, directory: Path | None) -> dict[str, Any]:
    """Keyword arguments for open_clip's create_model: the text tower built from
    ``directory``'s configuration (its weights come from the checkpoint)."""
    text_cfg = hf_text_config(model_name)
    if directory is None or text_cfg is None or _tokenizer_only(text_cfg):
        return {}
    local = str(directory)
    return {
        "text_cfg": {
            **text_cfg,
            "hf_model_name": local,
            "hf_tokenizer_name": local,
            "hf_model_pretrained": False,
        }
    }


def open_clip_tokenizer(model_name: str, directory: Path | None) -> Any:
    """open_clip's tokenizer for ``model_name``, read from ``directory`` when given."""
    import open_clip

    text_cfg = hf_text_config(model_name)
    if text_cfg is not None:
        _require_transformers(model_name)
    if directory is None or text_cfg is None:
        return open_clip.get_tokenizer(model_name)
    from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, HFTokenizer

    # The settings open_clip's get_tokenizer takes from the model's config.
    return HFTokenizer(
        str(directory),
        context_length=text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH),
        tokenizer_mode=text_cfg.get("tokenizer_mode"),
        **text_cfg.get("tokenizer_kwargs", {}),
    )


def _checked_directory(model_name: str, text_cfg: dict[str, Any], directory: Path) -> Path:
    tokenizer_only = _tokenizer_only(text_cfg)
    if not directory.is_dir():
        raise WeightsUnavailableError(
            _unavailable_message(model_name, text_cfg, f"{directory} is not a folder")
        )
    missing = []
    if not tokenizer_only and not (directory / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not any((directory / file).is_file() for file in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    if missing:
        reason = f"{directory} has no {', no '.join(missing)}"
        raise WeightsUnavailableError(_unavailable_message(model_name, text_cfg, reason))
    problem = None if tokenizer_only else _config_problem(directory / CONFIG_FILE)
    if problem:
        raise WeightsUnavailableError(_unavailable_message(model_name, text_cfg, problem))
    return directory.resolve()


def _config_problem(path: Path) -> str | None:
    """Why ``path`` is not a text model's config.json (transformers needs its model_type to
    build the tower, and otherwise ends in a ValueError deep inside open_clip)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"{path} cannot be read as JSON ({error})"
    if not isinstance(config, dict) or not config.get("model_type"):
        return f"{path} has no model_type (it is not the text model's own {CONFIG_FILE})"
    return None


def _cached(name: str, tokenizer_only: bool) -> bool:
    from huggingface_hub import try_to_load_from_cache

    files = ("tokenizer_config.json",) if tokenizer_only else (CONFIG_FILE, "tokenizer_config.json")
    return all(isinstance(try_to_load_from_cache(name, file), str) for file in files)


def _unavailable_message(model_name: str, text_cfg: dict[str, Any], reason: str | None) -> str:
    where = f"{HUB}/{_hub_name(text_cfg)}"
    tokenizer_only = _tokenizer_only(text_cfg)
    what = "tokenizer" if tokenizer_only else "tokenizer and text configuration"
    problem = (
        f"the tokenizer folder is not usable: {reason}"
        if reason
        else f"the {what} of {model_name} are not on this machine and cannot be downloaded from "
        f"{where}"
    )
    files = "" if tokenizer_only else f"{CONFIG_FILE}, "
    return (
        f"{problem}. On a machine with internet, download {files}tokenizer.json and "
        f"tokenizer_config.json (and any sentencepiece model) from {where} into a folder, copy "
        "it here, and pass it with --tokenizer /path/to/folder (or set PIXSIFT_TOKENIZER)"
    )
