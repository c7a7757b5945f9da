"""Recall@10 against exact search, query latency, build time and size for each index type.

Two data sets, reported separately: the structured generator
(``benchmarks.vectors.structured_vectors``, clusters with a realistic spread of neighbour
similarities) at 1M, and the embeddings that the random-weights ViT-B-32 gave real images (a
library indexed by ``benchmarks.indexing``, e.g. openclipart). Two kinds of held-out query, at
the parameters the build tuned: images (vectors not in the index) and text-like queries
(``search.vectors.text_like.synthetic_text_queries`` about those held-out images, with another
seed than the tuning queries: a best image match near cosine 0.3, like a CLIP text's). The build
time is split into its stages (train, add, tune) as the sidecar records them.

    .venv/bin/python -m benchmarks.recall --types auto            # structured, 1M: the target
    .venv/bin/python -m benchmarks.recall                         # structured, 1M, four types
    .venv/bin/python -m benchmarks.recall --quick                 # structured, 100k
    .venv/bin/python -m benchmarks.recall --real benchmarks/results/work/index-openclipart
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import percentiles, print_table, write_results
from benchmarks.vectors import structured_vectors
from pixsift.search.vectors.build import build_index
from pixsift.search.vectors.persist import publish_vector_index
from pixsift.search.vectors.text_like import synthetic_text_queries
from pixsift.search.vectors.tune import measure_recall

QUERIES = 200
#: Not the tuning queries' seed (those use the build's seed + 1 on stored topics).
HELD_OUT_SEED = 2024


def text_like_queries(vectors: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    """Text-like queries about the held-out images, centred on a sample of the stored mean."""
    sample = vectors[np.random.default_rng(HELD_OUT_SEED).choice(len(vectors), 20_000)]
    return synthetic_text_queries(sample, QUERIES, seed=HELD_OUT_SEED, topics=held_out)


def evaluate(name: str, ids, vectors, queries, types: list[str]) -> list[dict]:
    texts = text_like_queries(vectors, queries)
    best_text = float(np.median((texts @ vectors[:100_000].T).max(axis=1)))
    print(f"held-out text-like queries: median best match (first 100k) {best_text:.3f}")
    rows = []
    for index_type in types:
        started, cpu_started = time.perf_counter(), time.process_time()
        index = build_index(ids, vectors, model_id="m", generation=1, index_type=index_type)
        build_s = time.perf_counter() - started
        # CPU seconds (all threads): on a busy machine the wall time says more about the others.
        build_cpu_s = time.process_time() - cpu_started
        exact = index.is_exact
        recall = 1.0 if exact else measure_recall(index, query_vectors=queries)
        text_recall = 1.0 if exact else measure_recall(index, query_vectors=texts)
        latencies = []
        for query in queries:
            t = time.perf_counter()
            index.search(query.reshape(1, -1), 10)
            latencies.append((time.perf_counter() - t) * 1000)
        with tempfile.TemporaryDirectory() as directory:
            publish_vector_index(Path(directory), index)
            size_mib = sum(p.stat().st_size for p in Path(directory).iterdir()) / 2**20
        rows.append(
            {
                "data": name,
                "n": len(ids),
                "requested": index_type,
                "index": index.sidecar.index_type,
                "params": index.sidecar.search_params,
                "rerank": index.sidecar.rerank_factor,
                "recall@10": round(recall, 4),
                "text_recall@10": round(text_recall, 4),
                "tuned": index.sidecar.recall_by_kind,
                "build_s": round(build_s, 1),
                "build_cpu_s": round(build_cpu_s, 1),
                "stages_s": {k: round(v, 1) for k, v in index.sidecar.stage_seconds.items()},
                "p50_ms": percentiles(latencies)["p50"],
                "p99_ms": percentiles(latencies)["p99"],
                "disk_mib": round(size_mib),
            }
        )
        print_table(rows[-1:], list(rows[-1].keys()))
        del index
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k structured vectors")
    parser.add_argument(
        "--types", default="Flat;auto;IVF1024,Flat;IVF1024,PQ64", help="; separated"
    )
    parser.add_argument("--hnsw", action="store_true", help="also HNSW32 (~15 min at 1M)")
    parser.add_argument("--real", type=Path, help="a library directory to take embeddings from")
    args = parser.parse_args()
    types = args.types.split(";") + (["HNSW32"] if args.hnsw else [])
    rows = []
    if args.real:
        from pixsift.search.library import Library

        with Library.open(args.real) as library:
            ids, vectors = library.store.all_embeddings(library.store.model_id() or "")
        rng = np.random.default_rng(0)
        held_out = np.zeros(len(ids), dtype=bool)
        held_out[rng.choice(len(ids), min(QUERIES, len(ids) // 10), replace=False)] = True
        lists = max(8, 2 ** round(np.log2(np.sqrt(len(ids)))))
        real_types = ["Flat", f"IVF{lists},Flat", f"IVF{lists},SQ8", f"IVF{lists},PQ64", "HNSW32"]
        rows += evaluate(
            "real images (random-weights ViT-B-32)",
            ids[~held_out],
            vectors[~held_out],
            vectors[held_out],
            real_types,
        )
    else:
        size = 100_000 if args.quick else args.size
        data = np.concatenate(list(structured_vectors(size + QUERIES, 512, seed=42)))
        queries, vectors = data[:QUERIES], data[QUERIES:]
        ids = np.arange(1, size + 1, dtype=np.int64)
        rows += evaluate("structured", ids, vectors, queries, types)
    print()
    print_table(rows, list(rows[0].keys()))
    suffix = "real" if args.real else ("quick" if args.quick else "structured")
    print(f"wrote {write_results(f'recall_{suffix}', {'rows': rows})}")


if __name__ == "__main__":
    main()
