"""Choosing and loading the towers for a model: torch, or ONNX Runtime towers from the cache
(exported from torch on first use). The one place that decides, for the CLI, the web app, the
indexer and the Python API alike."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from search.errors import InvalidInputError
from search.model.embedder import Embedder
from search.model.ort import OnnxEmbedder, TowersInfo, read_towers_info, towers_directory
from search.model.spec import ModelSpec, Runtime
from search.model.weights import check_model_name, default_cache_directory, model_id_for

LOG = logging.getLogger(__name__)


def load_embedder(spec: ModelSpec, runtime: Runtime | None = None) -> Embedder:
    """The towers for ``spec`` as ``runtime`` asks. Raises WeightsUnavailableError (never
    random weights) and, with backend "onnx", TowerExportRejectedError."""
    runtime = runtime or Runtime.from_settings()
    onnx_missing = importlib.util.find_spec("onnxruntime") is None
    if runtime.backend == "onnx" and onnx_missing:
        raise InvalidInputError(
            "the onnx backend needs ONNX Runtime: pip install 'pixsift[onnx]' "
            "(or use --backend torch)"
        )
    if runtime.backend == "torch" or (
        runtime.backend == "auto" and (onnx_missing or _gpu_available())
    ):
        from search.model.embedder import OpenClipEmbedder

        return OpenClipEmbedder.load(spec)
    check_model_name(spec.model_name)
    model_id = model_id_for(spec)
    directory = towers_directory(default_cache_directory(), model_id, runtime.quantize)
    info = read_towers_info(directory, model_id)
    if info is None:
        exported = _export(spec, runtime, directory)
        if not isinstance(exported, TowersInfo):
            return exported  # torch, where "auto" met an export it could not trust
        info = exported
    return _onnx_embedder(spec, directory, info, runtime)


def _export(spec: ModelSpec, runtime: Runtime, directory: Path) -> TowersInfo | Embedder:
    import torch

    from search.model.embedder import OpenClipEmbedder
    from search.model.export import TowerExportRejectedError, export_towers

    torch_embedder = OpenClipEmbedder.load(spec, device=torch.device("cpu"))
    LOG.info("exporting %s to ONNX into %s (once)", torch_embedder.model_id, directory)
    try:
        return export_towers(torch_embedder, directory, runtime.quantize)
    except TowerExportRejectedError as error:
        if runtime.backend == "onnx":
            raise
        LOG.warning("%s", error.message)
        return torch_embedder


def _onnx_embedder(
    spec: ModelSpec, directory: Path, info: TowersInfo, runtime: Runtime
) -> OnnxEmbedder:
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    preprocess = image_transform_v2(PreprocessCfg(**info.preprocess_cfg), is_train=False)
    tokenizer = open_clip.get_tokenizer(spec.model_name)
    return OnnxEmbedder(directory, info, preprocess, tokenizer, threads=runtime.threads)


def _gpu_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())
