"""One text query through ViT-B-32's text tower: full 77-token context vs real tokens only vs
the query cache, measured interleaved (so machine load hits all three alike).

    .venv/bin/python -m benchmarks.text_query            # 60 queries
    .venv/bin/python -m benchmarks.text_query --quick    # 15 queries
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import load_embedder, percentiles, print_table, write_results
from benchmarks.query_latency import query_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    embedder, _ = load_embedder()
    assert embedder.uses_fast_text_path
    timings: dict[str, list[float]] = {"full context": [], "real tokens": [], "cached": []}
    worst = 0.0
    for text in query_texts(15 if args.quick else args.queries, 12345):
        started = time.perf_counter()
        full = embedder.embed_texts_full_context([text])
        timings["full context"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        fast = embedder.embed_texts([text])
        timings["real tokens"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        embedder.embed_texts([text])
        timings["cached"].append((time.perf_counter() - started) * 1000)
        worst = max(worst, float(np.abs(full - fast).max()))
    rows = [{"path": name, **percentiles(values)} for name, values in timings.items()]
    print_table(rows, ["path", "p50", "p95", "p99", "mean"])
    print(f"largest |fast - full| over the queries: {worst:.2e}")
    payload = {"rows": rows, "max_abs_difference": worst}
    print(f"wrote {write_results('text_query' + ('_quick' if args.quick else ''), payload)}")


if __name__ == "__main__":
    main()
