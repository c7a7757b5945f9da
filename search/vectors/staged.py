"""Building an index larger than memory, in stages (the way autofaiss builds billion-scale ones).

1. Stream the stored vectors once, in chunks, into the exact store: ids in memory (8 bytes
   each) and float16 vectors in a memory-mapped .npy file in the index folder (1 KiB each at
   512 dimensions), which publishing renames into place and readers map read-only.
2. Train the empty index once, on a seeded sample read back from the store.
3. Add the vectors in chunks, split into shards that each fill a copy of the trained empty index
   (here on threads, FAISS releasing the GIL; the same shards could be filled on other machines),
   then merge the shards' inverted lists into one index (``IndexIVF.merge_from``).
4. Tune the search parameters over the memory-mapped store as any build does.

Only the chunk in hand, the training sample and the compressed codes are ever in memory: at
10 million 512-d vectors and IVF-PQ64 that is ~0.7 GB of codes, against 20 GB of float32
vectors.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from pixsift.search.vectors.build import (
    LOSSY_RERANK_FACTOR,
    TRAINING_POINTS_PER_LIST,
    BuildRequest,
    _fit_lists_to_count,
    _is_lossy,
    _list_count,
    _new_faiss_index,
    _resolve_type,
    _tune,
)
from pixsift.search.vectors.index import VectorIndex
from pixsift.search.vectors.sidecar import METRIC_INNER_PRODUCT, IndexSidecar

#: Rows converted to float32 and added to the index at a time (~256 MB at 512 dimensions).
ADD_CHUNK_ROWS = 131_072
#: Shards filled at once: one per core, and at most a few (each holds its shard's codes).
DEFAULT_SHARDS = max(1, min(4, os.cpu_count() or 1))

#: Chunks of stored vectors: (ids ascending, float16 or float32 vectors), ids ascending overall.
VectorChunks = Iterable[tuple[np.ndarray, np.ndarray]]


def needs_staged_build(count: int, dimension: int, memory_budget_bytes: int) -> bool:
    """Whether ``count`` float32 vectors exceed the memory budget (then build in stages)."""
    return count * dimension * 4 > memory_budget_bytes


def build_staged_index(
    chunks: VectorChunks,
    *,
    count: int,
    dimension: int,
    directory: Path,
    request: BuildRequest,
    shards: int = DEFAULT_SHARDS,
) -> VectorIndex:
    """An approximate index of up to ``count`` streamed vectors, built in stages (see the module
    docstring). Fewer rows than ``count`` may arrive (removed meanwhile); more are an error."""
    started = time.perf_counter()
    ids, store = _fill_exact_store(chunks, count, dimension, directory)
    requested, chosen = _resolve_type(request, len(ids), dimension)
    chosen = _fit_lists_to_count(chosen, len(ids))
    filled = time.perf_counter()
    trained_index = _trained(chosen, store, request.seed)
    trained = time.perf_counter()
    faiss_index = _filled(trained_index, ids, store, shards)
    stages = {
        "store": round(filled - started, 3),
        "train": round(trained - filled, 3),
        "add": round(time.perf_counter() - trained, 3),
    }
    sidecar = IndexSidecar(
        model_id=request.model_id,
        dimension=dimension,
        metric=METRIC_INNER_PRODUCT,
        count=len(ids),
        generation=request.generation,
        index_type=chosen,
        index_file=f"index-{request.generation}.faiss",
        requested_type=requested,
        rerank_factor=LOSSY_RERANK_FACTOR if _is_lossy(chosen) else 1,
        trained_count=len(ids),
        ids_file=f"ids-{request.generation}.npy",
        vectors_file=f"vectors-{request.generation}.npy",
        stage_seconds=stages,
    )
    index = VectorIndex(faiss_index, sidecar, ids, store)
    _tune(index, request)
    index.sidecar = replace(index.sidecar, build_seconds=round(time.perf_counter() - started, 3))
    return index


def _fill_exact_store(
    chunks: VectorChunks, count: int, dimension: int, directory: Path
) -> tuple[np.ndarray, np.memmap]:
    """Ids (in memory) and float16 vectors (a memory-mapped .npy file named like a temporary
    file of the publisher, so a crashed build's file is cleaned up by the next publication)."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=".vectors-staged.", suffix=".npy", dir=directory)
    os.close(descriptor)
    store = np.lib.format.open_memmap(name, mode="w+", dtype=np.float16, shape=(count, dimension))
    ids = np.empty(count, dtype=np.int64)
    row = 0
    for chunk_ids, chunk_vectors in chunks:
        end = row + len(chunk_ids)
        if end > count:
            raise ValueError(f"more than the {count} vectors announced arrived")
        ids[row:end] = chunk_ids
        store[row:end] = chunk_vectors
        row = end
    if row < count:  # rows removed while streaming: a shorter store, rewritten
        store = _truncated(store, row, Path(name))
        ids = ids[:row]
    store.flush()
    return ids, store


def _truncated(store: np.memmap, rows: int, path: Path) -> np.memmap:
    shorter = path.with_name(path.name + ".short")
    copy = np.lib.format.open_memmap(
        shorter, mode="w+", dtype=store.dtype, shape=(rows, store.shape[1])
    )
    copy[:] = store[:rows]
    copy.flush()
    del store
    os.replace(shorter, path)
    return np.load(path, mmap_mode="r+")


def _trained(factory: str, store: np.ndarray, seed: int) -> faiss.Index:
    """The empty index trained once on a seeded sample of the store."""
    faiss_index = _new_faiss_index(factory, int(store.shape[1]))
    lists = _list_count(factory)
    sample_size = min(len(store), TRAINING_POINTS_PER_LIST * max(lists, 1) if lists else len(store))
    rows = np.sort(np.random.default_rng(seed).choice(len(store), sample_size, replace=False))
    faiss_index.train(np.asarray(store[rows], dtype=np.float32))
    return faiss_index


def _filled(trained: faiss.Index, ids: np.ndarray, store: np.ndarray, shards: int) -> faiss.Index:
    """``trained`` holding every vector of the store, filled as ``shards`` shards and merged."""
    bounds = np.linspace(0, len(ids), max(1, shards) + 1, dtype=np.int64)
    ranges = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    if not isinstance(trained, faiss.IndexIVF) or len(ranges) <= 1:
        _add_range(trained, ids, store, 0, len(ids))
        return trained
    parts = [faiss.clone_index(trained) for _ in ranges]
    with ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(lambda part, span: _add_range(part, ids, store, *span), parts, ranges))
    merged = parts[0]
    for part in parts[1:]:
        merge_shard(merged, part)
    return merged


def merge_shard(target: faiss.IndexIVF, shard: faiss.IndexIVF) -> None:
    """Move ``shard``'s vectors into ``target`` (both filled from the same trained index; ids
    kept as they are)."""
    target.merge_from(shard, 0)


def _add_range(
    index: faiss.Index, ids: np.ndarray, store: np.ndarray, start: int, stop: int
) -> None:
    for begin in range(start, stop, ADD_CHUNK_ROWS):
        end = min(stop, begin + ADD_CHUNK_ROWS)
        index.add_with_ids(np.asarray(store[begin:end], dtype=np.float32), ids[begin:end])
