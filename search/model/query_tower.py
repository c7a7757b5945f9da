"""An int8 copy of an exported fp32 text tower, for text queries (PIXSIFT_QUERY_TOWER=int8).

A text query's tower pass reads every layer's weights once for a handful of tokens: it is bound
by memory bandwidth, ~15-20 ms of one core for ViT-B-32's 150 MB of fp32 weights. ONNX Runtime's
dynamic int8 quantisation reads a quarter of the bytes (measured ~3.5x less CPU per query). The
image tower and the stored image vectors stay fp32: only the query vector changes, by a cosine
of ~0.999 to the fp32 one on the benchmark's model (recall against fp32 queries is measured in
docs/benchmarks.md, section 19). The copy is made once, beside the fp32 towers, atomically: two
server workers making it at once each write their own file and the last rename wins.
"""

from __future__ import annotations

import os
from pathlib import Path

from pixsift.search.errors import InvalidInputError

INT8_TEXT_FILE = "text-int8.onnx"
QUERY_TOWERS = ("fp32", "int8")


def query_tower_choice() -> str:
    """PIXSIFT_QUERY_TOWER, checked: "fp32" (the default) or "int8"."""
    from pixsift.search.settings import QUERY_TOWER

    chosen = str(QUERY_TOWER.value()).lower()
    if chosen not in QUERY_TOWERS:
        raise InvalidInputError(
            f"{QUERY_TOWER.environment_variable} must be fp32 or int8, not {chosen!r}"
        )
    return chosen


def int8_text_tower(directory: Path) -> Path:
    """The int8 text tower beside ``directory``'s fp32 ``text.onnx``, made on first use."""
    target = directory / INT8_TEXT_FILE
    if target.is_file():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    staging = directory / f".{INT8_TEXT_FILE}.{os.getpid()}.partial"
    try:
        quantize_dynamic(str(directory / "text.onnx"), str(staging), weight_type=QuantType.QInt8)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target
