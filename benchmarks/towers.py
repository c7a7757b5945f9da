"""Torch vs ONNX Runtime towers (fp32 and int8) for random-weights ViT-B-32, measured interleaved
so machine load hits all of them alike: one text query (p50/p95), image embedding (images/s at
batch 32), and how closely each reproduces torch's fp32 vectors (smallest cosine).

    .venv/bin/python -m benchmarks.towers                 # 1 thread (a server worker) and 2
    .venv/bin/python -m benchmarks.towers --quick
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.common import WORK, load_embedder, percentiles, print_table, write_results
from benchmarks.query_latency import query_texts


def towers(spec, threads: int) -> dict[str, object]:
    import torch

    from pixsift.search.model.loading import load_embedder as load_towers
    from pixsift.search.model.spec import Runtime

    torch.set_num_threads(threads)
    torch_embedder, _ = load_embedder()
    return {
        "torch": torch_embedder,
        "onnx fp32": load_towers(spec, Runtime(backend="onnx", threads=threads)),
        "onnx int8": load_towers(spec, Runtime(backend="onnx", quantize="int8", threads=threads)),
    }


def measure(embedders: dict[str, object], queries: int, batches: int) -> list[dict]:
    texts = query_texts(queries, 4242)
    pixels = np.random.default_rng(0).standard_normal((32, 3, 224, 224)).astype(np.float32)
    text_ms: dict[str, list[float]] = {name: [] for name in embedders}
    image_s: dict[str, list[float]] = {name: [] for name in embedders}
    reference_texts = embedders["torch"].embed_texts_full_context(texts[:20])
    reference_images = embedders["torch"].embed_pixel_batch(pixels[:8])
    for text in texts:
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder._encode_texts([text])  # the model, not the query cache
            text_ms[name].append((time.perf_counter() - started) * 1000)
    for _ in range(batches):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed_pixel_batch(pixels)
            image_s[name].append(time.perf_counter() - started)
    rows = []
    for name, embedder in embedders.items():
        text_agreement = np.sum(embedder.embed_texts(texts[:20]) * reference_texts, axis=1).min()
        image_agreement = np.sum(embedder.embed_pixel_batch(pixels[:8]) * reference_images, 1).min()
        rows.append(
            {
                "towers": name,
                **{f"text {key}": value for key, value in percentiles(text_ms[name]).items()},
                "images/s": round(len(pixels) / float(np.median(image_s[name])), 1),
                "text cos min": round(float(text_agreement), 6),
                "image cos min": round(float(image_agreement), 6),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    # Exported towers are kept with the benchmark's other generated files.
    os.environ.setdefault("PIXSIFT_CACHE_DIR", str(WORK / "cache"))
    _, spec = load_embedder()
    results = {}
    for threads in (1, min(2, os.cpu_count() or 1)):
        rows = measure(towers(spec, threads), 15 if args.quick else 60, 2 if args.quick else 5)
        print(f"\n{threads} thread(s)")
        print_table(
            rows, ["towers", "text p50", "text p95", "images/s", "text cos min", "image cos min"]
        )
        results[f"{threads}_threads"] = rows
    print(f"wrote {write_results('towers' + ('_quick' if args.quick else ''), results)}")


if __name__ == "__main__":
    main()
