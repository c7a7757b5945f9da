"""What a one-query process pays before its text tower runs, the way towers were saved before
and the way they are saved now, each in a fresh process, interleaved run by run:

- the CLIP tokenizer: ``tokenizers``' serialisation loaded with ``Tokenizer.from_str`` (exports
  before 2026-12-06) against search.model.tokenizer's BPE tables built from the merge list;
- the int8 text tower: ONNX Runtime's quantizer output, weights inside the graph file (before),
  against the same weights in a file of their own, which ONNX Runtime maps (now); each opened as
  a CLI search opens it (search.model.ort's quick-start settings), then run once.

Both old forms are made here from the model's exported fp32 towers (any towers folder with
``text.onnx`` and ``clip-bpe-merges.txt``):

    nice .venv/bin/python -m benchmarks.query_start --towers DIR --runs 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import print_table, write_results

#: Each measure runs in a fresh interpreter (imports done before the clock starts).
_MEASURES = {
    "tokenizer: tokenizers from_str (before)": """
from tokenizers import Tokenizer
text = open(PATHS["json"]).read(); start = clock()
Tokenizer.from_str(text)""",
    "tokenizer: merge list (now)": """
from pixsift.search.model.tokenizer import ClipTokenizer
start = clock()
ClipTokenizer.load(Path(PATHS["towers"]), {"file": "clip-bpe-merges.txt", "context_length": 77})""",
    "int8 text tower: weights in the graph (before)": """
import onnxruntime, numpy
import pixsift.search.model.ort
start = clock()
session = open_session(PATHS["inline"])""",
    "int8 text tower: weights mapped (now)": """
import onnxruntime, numpy
import pixsift.search.model.ort
start = clock()
session = open_session(PATHS["mapped"])""",
}

_PRELUDE = """
import json, sys, time
from pathlib import Path
clock = time.perf_counter
PATHS = json.loads(sys.argv[1])

def open_session(path):
    import onnxruntime
    from pixsift.search.model.session_options import QUICK_START_SESSION_CONFIG
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    for key, value in QUICK_START_SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    import numpy as np
    session.run(None, {"tokens": np.array([[49406, 320, 736, 49407]], dtype=np.int64)})
    return session
"""


def old_forms(towers: Path, work: Path) -> dict[str, str]:
    """The tokenizers serialisation and the inline int8 tower, made from ``towers``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from pixsift.search.model.quantize import quantize_weights
    from pixsift.search.model.tokenizer import (
        END_OF_TEXT,
        START_OF_TEXT,
        bytes_to_unicode,
        read_merges,
    )

    merges = read_merges(towers / "clip-bpe-merges.txt")
    symbols = list(bytes_to_unicode().values())
    vocabulary = symbols + [symbol + "</w>" for symbol in symbols]
    vocabulary += [merge.replace(" ", "") for merge in merges] + [START_OF_TEXT, END_OF_TEXT]
    model = models.BPE(
        vocab={token: number for number, token in enumerate(vocabulary)},
        merges=[tuple(merge.split(" ")) for merge in merges],
        end_of_word_suffix="</w>",
        fuse_unk=False,
    )
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    (work / "tokenizer.json").write_text(tokenizer.to_str())
    inline = str(work / "inline.onnx")
    quantize_dynamic(str(towers / "text.onnx"), inline, weight_type=QuantType.QInt8)
    quantize_weights(towers / "text.onnx", work / "mapped.onnx")
    return {
        "json": str(work / "tokenizer.json"),
        "towers": str(towers),
        "inline": str(work / "inline.onnx"),
        "mapped": str(work / "mapped.onnx"),
    }


def measure_once(body: str, paths: dict[str, str]) -> float:
    script = _PRELUDE + body + "\nprint(clock() - start)"
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towers", type=Path, required=True, help="an exported towers folder")
    parser.add_argument("--runs", type=int, default=9)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        paths = old_forms(arguments.towers, Path(work))
        times: dict[str, list[float]] = {name: [] for name in _MEASURES}
        for _ in range(arguments.runs):
            for name, body in _MEASURES.items():
                times[name].append(round(1000 * measure_once(body, paths), 1))
    rows = [
        {"measure": name, "median_ms": round(statistics.median(runs), 1), "runs_ms": runs}
        for name, runs in times.items()
    ]
    print_table(rows, ["measure", "median_ms", "runs_ms"])
    path = write_results("query_start", {"towers": str(arguments.towers), "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
