"""Which model to run: an open_clip architecture and its weights (a published tag or a local
file). Plain data, importable without torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pixsift.search.settings import (
    DEFAULT_MODEL_NAME,
    DEFAULT_PRETRAINED,
    FALLBACK_PRETRAINED,
    PRETRAINED_OF_MODEL,
)

Backend = Literal["auto", "torch", "onnx"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")
Quantization = Literal["int8"]
QUANTIZATIONS: tuple[str, ...] = ("int8",)
#: What --quantize / PIXSIFT_QUANTIZE accept: a precision, or "auto" (a library's own, int8 for a
#: new library on a CPU; search.library_model).
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", *QUANTIZATIONS)


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
    """A requested ModelSpec, or None to use the library's own. A part not asked for stays
    empty (""): the library fills it from the model that built it (``--pretrained FILE`` alone
    in a ViT-B-32 library means ViT-B-32 weights, not the default's), a new library from the
    defaults (``Library.model_spec``)."""
    if not (model or pretrained or tag):
        return None
    if model and is_model_config_path(model):
        # Stored in the library as given here: absolute, so later commands find it from anywhere.
        model = str(Path(model).expanduser().resolve())
    return ModelSpec(
        model_name=model or "",
        pretrained=pretrained or (default_pretrained(model) if model else ""),
        preprocessing_tag=tag,
    )


def default_pretrained(model_name: str) -> str:
    """The weights ``model_name`` gets when none are named (its published tag where known)."""
    return PRETRAINED_OF_MODEL.get(model_name, FALLBACK_PRETRAINED)


def is_model_config_path(model_name: str) -> bool:
    """Whether ``model_name`` names an open_clip model config file (its name is the file stem)
    rather than a model in open_clip's registry."""
    return model_name.lower().endswith(".json")


@dataclass(frozen=True)
class Runtime:
    """How to run a model, as opposed to which model (:class:`ModelSpec`): the vectors are the
    same whichever runtime makes them (ONNX exports are checked against torch)."""

    #: "torch"; "onnx": ONNX Runtime towers exported from torch once and cached; "auto": ONNX
    #: Runtime on a CPU, torch where a GPU is available.
    backend: Backend = "auto"
    #: "int8": ONNX towers with int8 weights (faster, slightly different vectors); None: fp32.
    quantize: Quantization | None = None
    #: Threads for ONNX Runtime sessions (None: every core).
    threads: int | None = None
    #: With "int8": int8 towers whose image vectors agree with torch's fp32 ones below this
    #: cosine (the exporter's probes) are passed over for the fp32 towers. The guard of the
    #: "auto" default (search.library_model); an explicit ask has none.
    int8_floor: float | None = None


def published_spec_of(model_id: str | None) -> tuple[str | None, str | None]:
    """(model, tag) of the id of published weights' vectors ("ViT-B-32:laion2b_s34b_b79k");
    (None, None) for none, or a local file's or a pack's (a content hash names no weights)."""
    if not model_id or ":" not in model_id:
        return None, None
    name, tag = model_id.rsplit(":", 1)
    if not name or not tag or tag.startswith("sha256-"):
        return None, None
    return name, tag
