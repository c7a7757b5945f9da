"""The text tower text queries run: an int8 copy of the exported fp32 tower by default on CPUs.

A text query's tower pass reads every layer's weights once for a handful of tokens: it is bound
by memory bandwidth, ~15-20 ms of one core for ViT-B-32's 150 MB of fp32 weights. ONNX Runtime's
dynamic int8 quantisation reads a quarter of the bytes (measured ~3.5x less CPU per query). The
image tower and the stored image vectors stay fp32: only the query vector changes. On the small
world's trained model (1,000 held-out captions through the product) the int8 query tower's R@1
is 0.619 against fp32's 0.618, cosine to the fp32 vector >= 0.9995, the same top picture for
98.8 % of captions (docs/benchmarks.md, section 35): no measurable cost, so it is the default.

PIXSIFT_QUERY_TOWER: "auto" (the default) runs the int8 copy, made beside the fp32 towers when
they are exported, or on first use for towers exported before (that needs the ``onnx`` package,
which the export itself needs); where it cannot be made, fp32, said once in the log. "int8"
insists (a clear error when the copy cannot be made); "fp32" keeps the exported tower. The copy
is written atomically: two server workers making it at once each write their own file and the
last rename wins.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from pathlib import Path

from pixsift.search.errors import InvalidInputError

INT8_TEXT_FILE = "text-int8.onnx"
FP32_TEXT_FILE = "text.onnx"
QUERY_TOWERS = ("auto", "fp32", "int8")

log = logging.getLogger(__name__)


def query_tower_choice() -> str:
    """PIXSIFT_QUERY_TOWER, checked: "auto" (the default), "fp32" or "int8"."""
    from pixsift.search.settings import QUERY_TOWER

    chosen = str(QUERY_TOWER.value()).lower()
    if chosen not in QUERY_TOWERS:
        raise InvalidInputError(
            f"{QUERY_TOWER.environment_variable} must be auto, fp32 or int8, not {chosen!r}"
        )
    return chosen


def query_text_tower(directory: Path, choice: str) -> Path:
    """The text tower file text queries run for ``choice`` (see :func:`query_tower_choice`)."""
    if choice == "fp32":
        return directory / FP32_TEXT_FILE
    if (directory / INT8_TEXT_FILE).is_file():
        return directory / INT8_TEXT_FILE
    if importlib.util.find_spec("onnx") is None:
        if choice == "int8":
            raise InvalidInputError(
                "PIXSIFT_QUERY_TOWER=int8 needs the int8 text tower, made with the onnx package: "
                "pip install onnx (or set PIXSIFT_QUERY_TOWER=fp32)"
            )
        log.info("text queries run the fp32 tower: its int8 copy needs the onnx package")
        return directory / FP32_TEXT_FILE
    try:
        return int8_text_tower(directory)
    except OSError as error:  # a read-only cache folder: "auto" queries run the fp32 tower
        if choice == "int8":
            raise InvalidInputError(
                f"cannot write the int8 text tower beside {directory / FP32_TEXT_FILE}: {error}"
            ) from error
        log.info("text queries run the fp32 tower: its int8 copy cannot be written (%s)", error)
        return directory / FP32_TEXT_FILE


def int8_text_tower(directory: Path) -> Path:
    """The int8 text tower beside ``directory``'s fp32 ``text.onnx``, made on first use."""
    target = directory / INT8_TEXT_FILE
    if target.is_file():
        return target
    from pixsift.search.model.quantize import WEIGHTS_SUFFIX, quantize_weights

    with tempfile.TemporaryDirectory(prefix=f".{INT8_TEXT_FILE}-", dir=directory) as staging:
        made = Path(staging) / INT8_TEXT_FILE
        quantize_weights(directory / FP32_TEXT_FILE, made)
        # Weights first: a reader that finds the graph finds its weights. Two processes making
        # the copy at once write the same bytes; the last rename wins.
        weights = made.with_name(made.name + WEIGHTS_SUFFIX)
        if weights.is_file():
            os.replace(weights, target.with_name(weights.name))
        os.replace(made, target)
    return target
