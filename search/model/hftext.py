"""open_clip models whose text tower is a Hugging Face transformer (xlm-roberta-base-ViT-B-32,
nllb-clip-base, ...): their tokenizer and the text model's configuration normally come from the
Hugging Face hub. With a local directory (``--tokenizer DIR`` / PIXSIFT_TOKENIZER) holding them
(``tokenizer.json`` or the tokenizer's own files, and ``config.json``), the model loads from local
files alone; without one and without the hub, loading fails in seconds with what to fetch, as
for missing weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pixsift.search.errors import WeightsUnavailableError
from pixsift.search.settings import TOKENIZER

#: What a tokenizer directory must hold: the text model's configuration, and a tokenizer.
CONFIG_FILE = "config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
HUB = "https://huggingface.co"


def hf_text_config(model_name: str) -> dict[str, Any] | None:
    """The text tower settings of ``model_name`` when it is a Hugging Face transformer."""
    import open_clip

    text_cfg = (open_clip.get_model_config(model_name) or {}).get("text_cfg", {})
    return dict(text_cfg) if text_cfg.get("hf_model_name") else None


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
    name = str(text_cfg.get("hf_tokenizer_name") or text_cfg["hf_model_name"])
    if _cached(name):
        return None
    from pixsift.search.model.weights import reachable

    if os.environ.get("HF_HUB_OFFLINE") == "1" or not reachable(HUB):
        raise WeightsUnavailableError(_unavailable_message(model_name, name, None))
    return None


def create_model_kwargs(model_name: str, directory: Path | None) -> dict[str, Any]:
    """Keyword arguments for open_clip's create_model: the text tower built from
    ``directory``'s configuration (its weights come from the checkpoint)."""
    text_cfg = hf_text_config(model_name)
    if directory is None or text_cfg is None:
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
    name = str(text_cfg.get("hf_tokenizer_name") or text_cfg["hf_model_name"])
    if not directory.is_dir():
        raise WeightsUnavailableError(
            _unavailable_message(model_name, name, f"{directory} is not a folder")
        )
    missing = []
    if not (directory / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not any((directory / file).is_file() for file in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    if missing:
        reason = f"{directory} has no {', no '.join(missing)}"
        raise WeightsUnavailableError(_unavailable_message(model_name, name, reason))
    problem = _config_problem(directory / CONFIG_FILE)
    if problem:
        raise WeightsUnavailableError(_unavailable_message(model_name, name, problem))
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


def _cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return all(
        isinstance(try_to_load_from_cache(name, file), str)
        for file in (CONFIG_FILE, "tokenizer_config.json")
    )


def _unavailable_message(model_name: str, name: str, reason: str | None) -> str:
    where = f"{HUB}/{name}"
    problem = (
        f"the tokenizer folder is not usable: {reason}"
        if reason
        else f"the tokenizer and text configuration of {model_name} are not on this machine and "
        f"cannot be downloaded from {where}"
    )
    return (
        f"{problem}. On a machine with internet, download {CONFIG_FILE}, tokenizer.json and "
        f"tokenizer_config.json (and any sentencepiece model) from {where} into a folder, copy "
        "it here, and pass it with --tokenizer /path/to/folder (or set PIXSIFT_TOKENIZER)"
    )
