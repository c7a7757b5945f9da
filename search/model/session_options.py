"""ONNX Runtime session settings shared by the towers' sessions (search.model.ort) and by the
writing of int8 towers (search.model.quantize), in a module of their own so that neither imports
the other."""

from __future__ import annotations

from typing import Any

#: Session settings for a process that runs a tower once or twice and exits (a CLI search).
#: Pre-packing re-lays every weight matrix for faster products: for ViT-B-32-256's text tower
#: ~0.14 s of CPU at session start against ~0.02 s saved per query. Spinning keeps idle pool
#: threads busy-waiting for the next operator: pure waste when one query runs, and on a loaded
#: machine it takes cores from other processes (a one-query wall time 5-10x longer at load 17).
#: Neither changes what the tower computes (same vectors to 1e-6, tests/test_onnx_towers.py).
QUICK_START_SESSION_CONFIG = {
    "session.disable_prepacking": "1",
    "session.intra_op.allow_spinning": "0",
}

#: PIXSIFT_ORT_GRAPH_OPTIMIZATION's values -> onnxruntime.GraphOptimizationLevel member names.
GRAPH_OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def graph_optimization_level() -> Any:
    """The graph optimisation level sessions open with (ONNX Runtime's default, all, unless
    PIXSIFT_ORT_GRAPH_OPTIMIZATION says otherwise: CI checks results hold without rewrites)."""
    import onnxruntime

    from pixsift.search.errors import InvalidInputError
    from pixsift.search.settings import ORT_GRAPH_OPTIMIZATION

    chosen = str(ORT_GRAPH_OPTIMIZATION.value()).lower()
    if chosen not in GRAPH_OPTIMIZATION_LEVELS:
        raise InvalidInputError(
            f"{ORT_GRAPH_OPTIMIZATION.environment_variable} must be one of "
            f"{', '.join(GRAPH_OPTIMIZATION_LEVELS)}, not {chosen!r}"
        )
    return getattr(onnxruntime.GraphOptimizationLevel, GRAPH_OPTIMIZATION_LEVELS[chosen])
