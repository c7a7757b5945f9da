"""Time per match explanation (occlusion over the patch grid) for random-weights ViT-B-32, as
``pixsift explain`` and ``GET /api/images/<id>/explain`` run it: the picture decoded, the query
embedded, the 49 blanked copies and the base run through the image tower, the cells mapped, and
the PNG overlay drawn. Cold cache for every explanation; a cache hit is timed apart.

    nice -n 5 .venv/bin/python -m benchmarks.explain                  # ONNX Runtime, 2 threads
    nice -n 5 .venv/bin/python -m benchmarks.explain --backend torch
    nice -n 5 .venv/bin/python -m benchmarks.explain --quick
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import (
    MODEL_NAME,
    PREPROCESSING_TAG,
    WORK,
    checkpoint_path,
    generated_jpegs,
    percentiles,
    print_table,
    write_results,
)

OPENCLIPART = Path("/usr/share/openclipart/png")
QUERIES = ["a dog on a beach", "a red car", "a person smiling", "a drawing of a house"]


def pictures(count: int) -> list[Path]:
    """Half openclipart drawings (when installed), half 1024x768 generated JPEGs."""
    drawings = sorted(OPENCLIPART.rglob("*.png")) if OPENCLIPART.is_dir() else []
    rng = np.random.default_rng(0)
    chosen = (
        [drawings[i] for i in rng.choice(len(drawings), count // 2, replace=False)]
        if drawings
        else []
    )
    jpegs = sorted(generated_jpegs(count, WORK / "explain-jpegs").glob("*.jpg"))
    return chosen + jpegs[: count - len(chosen)]


def load(backend: str, threads: int):
    from pixsift.search.model.loading import load_embedder, runtime_from_settings
    from pixsift.search.model.spec import ModelSpec

    os.environ.setdefault("PIXSIFT_CACHE_DIR", str(WORK / "cache"))
    spec = ModelSpec(MODEL_NAME, str(checkpoint_path()), PREPROCESSING_TAG)
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    runtime = replace(runtime_from_settings(), backend=backend, threads=threads)
    return load_embedder(spec, runtime)


def measure(backend: str, threads: int, count: int) -> dict[str, object]:
    from pixsift.search.explain.render import overlay_png
    from pixsift.search.explain.service import Explainer
    from pixsift.search.library import Library
    from pixsift.search.query.request import QueryTerm

    embedder = load(backend, threads)
    directory = WORK / "explain-library"
    shutil.rmtree(directory, ignore_errors=True)
    library = Library.open(directory, embedder=embedder)
    explainer = Explainer(library)
    paths = pictures(count)
    # Warm-up: sessions opened, the text tower loaded, the first batch's buffers allocated.
    explainer.explain(explainer.picture(paths[0]), [QueryTerm(text="warm up")])
    timings: dict[str, list[float]] = {"decode": [], "explain": [], "png": [], "total": []}
    # CPU seconds of the whole process: what the explanation costs whatever else the machine
    # runs (wall time on a shared machine also counts the waits for a core).
    timings["total cpu"] = []
    for number, path in enumerate(paths):
        shutil.rmtree(explainer.cache_directory, ignore_errors=True)  # a cold cache every time
        terms = [QueryTerm(text=QUERIES[number % len(QUERIES)])]
        started, cpu_started = time.perf_counter(), time.process_time()
        picture = explainer.picture(path)
        decoded = time.perf_counter()
        explanation = explainer.explain(picture, terms)
        explained = time.perf_counter()
        overlay_png(picture.pixels, explanation)
        done = time.perf_counter()
        timings["decode"].append((decoded - started) * 1000)
        timings["explain"].append((explained - decoded) * 1000)
        timings["png"].append((done - explained) * 1000)
        timings["total"].append((done - started) * 1000)
        timings["total cpu"].append((time.process_time() - cpu_started) * 1000)
    hits = []
    for _ in range(10):
        started = time.perf_counter()
        explainer.explain(picture, terms)  # the last picture and query: now cached
        hits.append((time.perf_counter() - started) * 1000)
    library.close()
    return {
        "backend": backend,
        "threads": threads,
        "grid": explanation.grid,
        "forward passes": explanation.grid**2 + 1,
        "pictures": len(paths),
        **{f"{name} ms": percentiles(values) for name, values in timings.items()},
        "cache hit ms": percentiles(hits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--threads", type=int, default=2, help="2: the budget's two cores")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="6 pictures")
    args = parser.parse_args()
    result = measure(args.backend, args.threads, 6 if args.quick else args.count)
    rows = [
        {"step": step.removesuffix(" ms"), **result[step]}  # type: ignore[dict-item]
        for step in (
            "decode ms",
            "explain ms",
            "png ms",
            "total ms",
            "total cpu ms",
            "cache hit ms",
        )
    ]
    heading = f"{result['backend']}, {result['threads']} threads, grid {result['grid']}"
    print(f"{heading}, {result['pictures']} pictures (milliseconds)")
    print_table(rows, ["step", "p50", "p95", "mean"])
    name = f"explain_{args.backend}_{args.threads}t" + ("_quick" if args.quick else "")
    print(f"wrote {write_results(name, {'result': result, 'load_average_after': os.getloadavg()})}")


if __name__ == "__main__":
    main()
