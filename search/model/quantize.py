"""int8 weights for an exported tower: ONNX Runtime's dynamic quantization, in one place for the
int8 towers (search.model.int8) and the query tower's int8 copy (search.model.query_tower)."""

from __future__ import annotations

import logging
from pathlib import Path


class _DropPreprocessingAdvice(logging.Filter):
    """onnxruntime.quantization advises, on the root logger, to pre-process a model before
    quantizing it: a line per tower on a user's first `pixsift index`, about nothing they can
    act on (the retrieval of the towers quantized as they are is measured: docs/benchmarks.md,
    sections 35 and 38)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_weights(source: Path, target: Path) -> None:
    """Write ``source``'s ONNX graph to ``target`` with its weights as int8 (activations are
    quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root, advice = logging.getLogger(), _DropPreprocessingAdvice()
    root.addFilter(advice)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(advice)
