"""Choosing and loading the towers for a model: torch, or ONNX Runtime towers from the cache
(exported from torch on first use). The one place that decides, for the CLI, the web app, the
indexer and the Python API alike.

With "auto" (the default) on a machine without a CUDA GPU and the towers cached, nothing here
imports torch or open_clip: a CLI search then starts in a fraction of a second.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from pixsift.search import settings
from pixsift.search.errors import InvalidInputError, PixsiftError
from pixsift.search.model.ort import OnnxEmbedder, TowersInfo, read_towers_info, towers_directory
from pixsift.search.model.packs import find_pack, load_pack
from pixsift.search.model.pixels import PixelPlan, PlannedPreprocess
from pixsift.search.model.protocol import Embedder
from pixsift.search.model.requirements import USE_A_PACK, require_torch
from pixsift.search.model.spec import (
    BACKENDS,
    PRECISION_CHOICES,
    QUANTIZATIONS,
    ModelSpec,
    Runtime,
)
from pixsift.search.model.weights import (
    check_model_name,
    default_cache_directory,
    model_id_for,
    open_clip_model_name,
)
from pixsift.search.threads import limit_blas_threads

LOG = logging.getLogger(__name__)
#: Threads one process may give its model (None: every core); see :func:`set_thread_budget`.
_thread_budget: int | None = None
#: Open sessions for a short-lived process (see :func:`start_quickly`).
_quick_start = False


def set_thread_budget(threads: int) -> None:
    """Cap the threads this process's model uses, for torch and ONNX Runtime alike, and numpy's
    BLAS with them (a server shares the cores between its workers; search.threads)."""
    global _thread_budget
    _thread_budget = max(1, threads)
    if "torch" in sys.modules:  # otherwise set when torch is loaded (see _torch_embedder)
        sys.modules["torch"].set_num_threads(_thread_budget)
    limit_blas_threads(_thread_budget)


def start_quickly() -> None:
    """This process runs its model a few times and exits (a CLI search): ONNX Runtime sessions
    open without weight pre-packing and without spinning threads
    (session_options.QUICK_START_SESSION_CONFIG), which costs a long-lived server or an indexing
    run more than it saves; its few small matrix products run on one BLAS thread
    (search.threads)."""
    global _quick_start
    _quick_start = True
    limit_blas_threads(1)


def load_embedder(spec: ModelSpec, runtime: Runtime | None = None) -> Embedder:
    """The towers for ``spec`` as ``runtime`` asks. Raises WeightsUnavailableError (never
    random weights) and, with backend "onnx", TowerExportRejectedError."""
    runtime = runtime or runtime_from_settings()
    pack = find_pack(spec.model_name)
    if pack is not None:  # a model pack: its towers as they are, whatever the backend
        return load_pack(pack, runtime.threads or _thread_budget, quick_start=_quick_start)
    onnx_missing = importlib.util.find_spec("onnxruntime") is None
    if runtime.backend == "onnx" and onnx_missing:
        raise InvalidInputError(
            "the onnx backend needs ONNX Runtime: pip install 'pixsift[onnx]' "
            "(or use --backend torch)"
        )
    if runtime.backend == "torch" or (
        runtime.backend == "auto" and (onnx_missing or _gpu_available())
    ):
        return _torch_embedder(spec)
    if runtime.quantize == "int8":
        return _int8_embedder(spec, runtime)
    model_id = model_id_for(spec)
    directory = towers_directory(default_cache_directory(), model_id, None)
    info = read_towers_info(directory, model_id)
    if info is None:
        require_torch(f"exporting {spec.model_name}'s towers to ONNX (first use)", USE_A_PACK)
        check_model_name(spec.model_name)  # cached towers were checked when exported
        exported = (
            _export_in_child(spec, runtime, directory, model_id)
            if _export_in_child_process()
            else _export(spec, runtime, directory)
        )
        if not isinstance(exported, TowersInfo):
            return exported  # torch, where "auto" met an export it could not trust
        info = exported
    return _onnx_embedder(spec, directory, info, runtime)


def _int8_embedder(spec: ModelSpec, runtime: Runtime) -> Embedder:
    """The int8 towers, made from the fp32 ones (exported first where missing; search.model.int8)
    and cached beside them. Below ``runtime.int8_floor`` (the "auto" default's guard) the fp32
    towers serve instead, as does torch where the fp32 export itself was not trusted."""
    fp32_runtime = replace(runtime, quantize=None, int8_floor=None)
    model_id = model_id_for(spec)
    directory = towers_directory(default_cache_directory(), model_id, "int8")
    info = read_towers_info(directory, model_id)
    fp32: Embedder | None = None
    if info is None:  # made once; later loads read only the int8 towers (a CLI search's time)
        from pixsift.search.model.int8 import derive_int8_towers

        fp32 = load_embedder(spec, fp32_runtime)
        if not isinstance(fp32, OnnxEmbedder):
            return fp32
        try:
            info = derive_int8_towers(fp32, directory)
        except OSError as error:  # a read-only cache folder: "auto" embeds with fp32 towers
            if runtime.int8_floor is None:
                raise InvalidInputError(
                    f"cannot write the int8 towers into {directory.parent}: {error}"
                ) from error
            LOG.info("embedding with the fp32 towers: the int8 ones cannot be written (%s)", error)
            return fp32
    agreement = info.agreement.get("image", 0.0)
    if runtime.int8_floor is not None and agreement < runtime.int8_floor:
        LOG.info(
            "%s's int8 image tower agrees with fp32 to a cosine of %.5f (below %s): "
            "embedding with the fp32 towers",
            spec.model_name, agreement, runtime.int8_floor,
        )  # fmt: skip
        return fp32 or load_embedder(spec, fp32_runtime)
    return _onnx_embedder(spec, directory, info, runtime)


def _torch_embedder(spec: ModelSpec, device: Any = None) -> Embedder:
    require_torch(f"running {spec.model_name} without exported towers", USE_A_PACK)
    import torch

    from pixsift.search.model.embedder import OpenClipEmbedder

    if _thread_budget is not None:
        torch.set_num_threads(_thread_budget)
    return OpenClipEmbedder.load(spec, device=device)


def _export(spec: ModelSpec, runtime: Runtime, directory: Path) -> TowersInfo | Embedder:
    require_torch(f"exporting {spec.model_name}'s towers to ONNX (first use)", USE_A_PACK)
    import torch

    from pixsift.search.model.embedder import OpenClipEmbedder
    from pixsift.search.model.export import TowerExportRejectedError, export_towers

    torch_embedder = _torch_embedder(spec, device=torch.device("cpu"))
    assert isinstance(torch_embedder, OpenClipEmbedder)
    LOG.info("exporting %s to ONNX into %s (once)", torch_embedder.model_id, directory)
    try:
        return export_towers(torch_embedder, directory)
    except TowerExportRejectedError as error:
        if runtime.backend == "onnx":
            raise
        LOG.warning("%s", error.message)
        return torch_embedder


def _export_in_child_process() -> bool:
    """Whether the first-run export goes to a child process: yes unless torch is already
    loaded here (a torch-backed caller pays no extra import, and keeps in-process hooks)."""
    return "torch" not in sys.modules


def _export_in_child(
    spec: ModelSpec, runtime: Runtime, directory: Path, model_id: str
) -> TowersInfo | Embedder:
    """:func:`_export`, run by a child process (search.model.export_child): torch's import and
    the export's memory peak stay out of this process."""
    from pixsift.search.model.export_child import ExportRefused, export_in_child

    require_torch(f"exporting {spec.model_name}'s towers to ONNX (first use)", USE_A_PACK)
    try:
        export_in_child(spec, directory, runtime.threads or _thread_budget)
    except ExportRefused as refused:
        error = refused.as_error()
        if runtime.backend == "onnx" or error.code != "tower_export_rejected":
            raise error from None
        LOG.warning("%s", error.message)
        return _torch_embedder(spec)
    info = read_towers_info(directory, model_id)
    if info is None:
        raise PixsiftError(f"the ONNX export left no usable towers in {directory}")
    return info


def _onnx_embedder(
    spec: ModelSpec, directory: Path, info: TowersInfo, runtime: Runtime
) -> OnnxEmbedder:
    preprocess: Any
    tokenizer: Any
    if info.pixels is not None:
        preprocess = PlannedPreprocess(PixelPlan.from_json(info.pixels))
    else:  # a transform the plan does not reproduce: open_clip's own (imports torch)
        require_torch(f"{spec.model_name}'s image preprocessing")
        from open_clip.transform import PreprocessCfg, image_transform_v2

        preprocess = image_transform_v2(PreprocessCfg(**info.preprocess_cfg), is_train=False)
    if info.tokenizer is not None:
        from pixsift.search.model.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(directory, info.tokenizer)
    else:  # open_clip's (imports torch; a Hugging Face one is read from its folder)
        require_torch(f"{spec.model_name}'s tokenizer")
        from pixsift.search.model.hftext import local_text_files, open_clip_tokenizer

        name = open_clip_model_name(spec.model_name)  # a config file's path: its stem
        tokenizer = open_clip_tokenizer(name, local_text_files(name))
    threads = runtime.threads or _thread_budget
    return OnnxEmbedder(
        directory, info, preprocess, tokenizer, threads=threads, quick_start=_quick_start
    )


def _gpu_available() -> bool:
    """Whether torch would find a CUDA GPU. Asks torch (seconds of import) only where an NVIDIA
    driver is present at all."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    if not (glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*")):
        return False
    if importlib.util.find_spec("torch") is None:  # the core install runs on ONNX Runtime
        return False
    import torch

    return bool(torch.cuda.is_available())


def asked_precision() -> str:
    """PIXSIFT_QUANTIZE (--quantize), checked: "auto" (the default), "fp32" or "int8"."""
    asked = (settings.QUANTIZE.value() or "auto").lower()
    if asked not in PRECISION_CHOICES:
        raise InvalidInputError(f"quantize must be auto, fp32 or int8, not {asked!r}")
    return asked


def runtime_from_settings() -> Runtime:
    """The runtime the environment asks for (PIXSIFT_BACKEND, PIXSIFT_QUANTIZE), checked; a
    library's processes use Library.runtime, which also knows the library's precision."""
    backend = settings.BACKEND.value()
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    # "auto" (a library's own precision, search.library_model) is fp32 for a process that
    # opens no library, as "fp32" is.
    quantize = asked_precision()
    chosen = quantize if quantize in QUANTIZATIONS else None
    return Runtime(backend=backend, quantize=chosen, threads=_thread_budget)  # type: ignore[arg-type]
