"""int8 weights for an exported tower: ONNX Runtime's dynamic quantization, in one place for the
int8 towers (search.model.int8) and the query tower's int8 copy (search.model.query_tower), and
written in the layout ONNX Runtime opens fastest.

The layout matters to a one-query process. A tower whose weights sit inside its .onnx file is
parsed and copied weight by weight when a session opens (ViT-B-32's 64 MB int8 text tower:
~0.1 s); weights in a separate file are mapped into memory and used in place (~0.02 s). The graph
is saved already rewritten up to ONNX Runtime's "extended" level, the highest one whose rewrites
hold on any CPU (ONNX Runtime's documented offline optimisation), so opening redoes little.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

#: The weights of ``NAME.onnx`` are in ``NAME.onnx`` + this, beside it (ONNX's external data).
WEIGHTS_SUFFIX = ".data"
#: Smaller tensors (shapes, scales, zero points) stay in the graph file.
_MAPPED_MIN_BYTES = 1024


class _DropPreprocessingAdvice(logging.Filter):
    """onnxruntime.quantization advises, on the root logger, to pre-process a model before
    quantizing it: a line per tower on a user's first `pixsift index`, about nothing they can
    act on (the retrieval of the towers quantized as they are is measured: docs/benchmarks.md,
    sections 35 and 38)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_weights(source: Path, target: Path) -> None:
    """Write ``source``'s ONNX graph to ``target`` with its weights as int8 (activations are
    quantized at run time), the weights in ``target``'s name + ``.data`` beside it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root, advice = logging.getLogger(), _DropPreprocessingAdvice()
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=target.parent) as work:
        inline = Path(work) / target.name
        root.addFilter(advice)
        try:
            quantize_dynamic(str(source), str(inline), weight_type=QuantType.QInt8)
        finally:
            root.removeFilter(advice)
        save_mapped(inline, target)


def save_mapped(source: Path, target: Path) -> None:
    """Save ``source`` as ``target`` with its weights in a file ONNX Runtime maps, the graph
    rewritten up to the "extended" level (or less where PIXSIFT_ORT_GRAPH_OPTIMIZATION asks for
    less: CI's plain-kernel run keeps the graph as it is)."""
    import onnxruntime

    from pixsift.search.model.session_options import graph_optimization_level

    extended = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = min(graph_optimization_level(), extended, key=int)
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", target.name + WEIGHTS_SUFFIX
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", str(_MAPPED_MIN_BYTES)
    )
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
