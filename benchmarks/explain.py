"""Time per match explanation for random-weights ViT-B-32, as ``pixsift explain`` and
``GET /api/images/<id>/explain`` run it: the picture decoded, the query embedded, the masked
copies through the image tower, the cells mapped, and the PNG overlay drawn. Before (every one
of the 49 cells blanked in turn, 50 tower runs) and after (coarse-to-fine insertion,
search/explain/refine.py) side by side in one run, interleaved picture by picture. Cold cache
for every explanation; a cache hit is timed apart.

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


def _counting(method, passes: list[int]):
    """``method``, noting its tower runs per explanation."""

    def counted(embedder, pixels, query, grid):
        heat = method(embedder, pixels, query, grid)
        passes.append(heat.passes)
        return heat

    counted.__name__ = method.__name__  # the cache key names the method
    return counted


def _timed_explanation(explainer, path: Path, terms, timings: dict[str, list[float]]) -> None:
    from pixsift.search.explain.render import overlay_png

    shutil.rmtree(explainer.cache_directory, ignore_errors=True)  # a cold cache every time
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
    # CPU seconds of the whole process: what the explanation costs whatever else the machine
    # runs (wall time on a shared machine also counts the waits for a core).
    timings["total cpu"].append((time.process_time() - cpu_started) * 1000)


def measure(backend: str, threads: int, count: int) -> dict[str, object]:
    """Before (every cell blanked in turn) and after (coarse-to-fine insertion), interleaved
    picture by picture, the order alternating, so both see the same load."""
    from pixsift.search.explain.refine import coarse_to_fine, full_occlusion
    from pixsift.search.explain.service import Explainer
    from pixsift.search.library import Library
    from pixsift.search.query.request import QueryTerm

    embedder = load(backend, threads)
    directory = WORK / "explain-library"
    shutil.rmtree(directory, ignore_errors=True)
    library = Library.open(directory, embedder=embedder)
    passes: dict[str, list[int]] = {"before": [], "after": []}
    explainers = {
        "before": Explainer(library, method=_counting(full_occlusion, passes["before"])),
        "after": Explainer(library, method=_counting(coarse_to_fine, passes["after"])),
    }
    paths = pictures(count)
    # Warm-up: sessions opened, the text tower loaded, the first batch's buffers allocated.
    for explainer in explainers.values():
        explainer.explain(explainer.picture(paths[0]), [QueryTerm(text="warm up")])
    steps = ("decode", "explain", "png", "total", "total cpu")
    timings = {name: {step: [] for step in steps} for name in explainers}
    for number, path in enumerate(paths):
        terms = [QueryTerm(text=QUERIES[number % len(QUERIES)])]
        order = list(explainers) if number % 2 == 0 else list(reversed(explainers))
        for name in order:
            _timed_explanation(explainers[name], path, terms, timings[name])
    hits = []
    picture = explainers["after"].picture(paths[-1])
    explainers["after"].explain(picture, terms)  # both share the cache folder: made again here
    for _ in range(10):
        started = time.perf_counter()
        explainers["after"].explain(picture, terms)  # the last picture and query: now cached
        hits.append((time.perf_counter() - started) * 1000)
    grid = explainers["after"].explain(picture, terms).grid
    library.close()
    return {
        "backend": backend,
        "threads": threads,
        "grid": grid,
        "pictures": len(paths),
        "forward passes": {name: float(np.mean(runs[1:])) for name, runs in passes.items()},
        **{
            name: {f"{step} ms": percentiles(values) for step, values in steps_timed.items()}
            for name, steps_timed in timings.items()
        },
        "cache hit ms": percentiles(hits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--threads", type=int, default=2, help="2: the budget's two cores")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="6 pictures")
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = measure(args.backend, args.threads, 6 if args.quick else args.count)
    rows = []
    for step in ("decode ms", "explain ms", "png ms", "total ms", "total cpu ms"):
        before, after = result["before"][step], result["after"][step]  # type: ignore[index]
        rows.append(
            {
                "step": step.removesuffix(" ms"),
                "before p50": before["p50"],
                "after p50": after["p50"],
                "before p95": before["p95"],
                "after p95": after["p95"],
                "before / after": round(before["p50"] / max(after["p50"], 1e-9), 2),
            }
        )
    hit = result["cache hit ms"]
    rows.append({"step": "cache hit (after)", "after p50": hit["p50"], "after p95": hit["p95"]})  # type: ignore[index]
    passes = result["forward passes"]
    heading = f"{result['backend']}, {result['threads']} threads, grid {result['grid']}"
    print(f"{heading}, {result['pictures']} pictures (milliseconds); tower runs per explanation:")
    before, after = passes["before"], passes["after"]  # type: ignore[index]
    print(f"before (every cell blanked) {before:.0f}, after (coarse to fine) {after:.1f}")
    print_table(
        rows, ["step", "before p50", "after p50", "before p95", "after p95", "before / after"]
    )
    name = f"explain_{args.backend}_{args.threads}t" + ("_quick" if args.quick else "")
    payload = {
        "result": result,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    print(f"wrote {write_results(name, payload)}")


if __name__ == "__main__":
    main()
