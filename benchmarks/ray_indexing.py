"""Indexing throughput on a Ray cluster with 1 and 2 actors, next to local indexing.

Data: seeded 1024x768 JPEGs (benchmarks.common.generated_jpegs). Model: ViT-B-32 with seeded
random weights (the same compute as the published weights), ONNX Runtime towers as ``pixsift
index`` runs them by default, one thread per actor (each actor holds one CPU). The cluster is a
local one started by this script (``ray.init(num_cpus=...)``); on a 2-core machine, 2 actors on
2 cores is the ceiling. "images_per_s" is the indexing run with the actors already started
(their model loads are "actor_start_s"), so it is the rate a long run sustains.

    nice -n 5 .venv/bin/python -m benchmarks.ray_indexing               # 200 images
    nice -n 5 .venv/bin/python -m benchmarks.ray_indexing --images 60   # quick
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time

from benchmarks.common import (
    MODEL_NAME,
    PREPROCESSING_TAG,
    WORK,
    checkpoint_path,
    generated_jpegs,
    print_table,
    write_results,
)


def run(folder, spec, actors: int | None, batch_size: int) -> dict:
    from pixsift.indexer.distributed import RayCluster, RayOptions, ray_loader
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.library import Library
    from pixsift.search.model.loading import load_embedder, runtime_from_settings

    library_directory = WORK / f"ray-index-{actors or 'local'}"
    shutil.rmtree(library_directory, ignore_errors=True)
    options = IndexingOptions(batch_size=batch_size, show_progress=False)
    started = time.perf_counter()
    with Library.open(library_directory) as library:
        if actors is None:  # local: decoding processes plus the model on every core
            embedder = load_embedder(spec)
            loaded = time.perf_counter()
            summary = Indexer(library, embedder, options, model_spec=spec).index([folder])
        else:
            runtime = dataclasses.replace(runtime_from_settings(), threads=1)
            cluster = RayCluster(ray_loader(spec, runtime), RayOptions(actors=actors))
            embedder = cluster.embedder()
            loaded = time.perf_counter()
            summary = Indexer(
                library, embedder, options, model_spec=spec, decode_stage=cluster.stage
            ).index([folder])
            cluster.shutdown()
    return {
        "run": "local (pixsift index)" if actors is None else f"ray, {actors} actor(s)",
        "images": summary.processed,
        "actor_start_s": round(loaded - started, 1),
        "index_s": round(summary.elapsed_seconds, 1),
        "images_per_s": round(summary.images_per_second, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    import ray

    from pixsift.search.model.spec import ModelSpec

    os.environ.setdefault("PIXSIFT_CACHE_DIR", str(WORK / "cache"))
    folder = generated_jpegs(args.images, WORK / f"jpegs-{args.images}")
    spec = ModelSpec(MODEL_NAME, str(checkpoint_path()), PREPROCESSING_TAG)
    rows = [run(folder, spec, None, args.batch_size)]
    print_table(rows, list(rows[0]))
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    try:
        for actors in (1, 2):
            rows.append(run(folder, spec, actors, args.batch_size))
            print_table(rows[-1:], list(rows[-1]))
    finally:
        ray.shutdown()
    print()
    print_table(rows, list(rows[0]))
    payload = {"rows": rows, "batch_size": args.batch_size, "cluster_cpus": args.cpus}
    print(f"wrote {write_results('ray_indexing', payload)}")


if __name__ == "__main__":
    main()
