"""Where one API text query's time goes, on a library built by ``benchmarks.query_latency``.

Opens the library (``--library``, e.g. benchmarks/results/work/latency-1000000), warms the
server as ``pixsift serve`` does, then sends ``--queries`` distinct text queries in-process
through the Flask test client (no sockets: the figures are the server's own work). For each
request: the wall time of the whole request and the engine's stages (search.query.timing); the
difference is Flask, parameter parsing and the JSON response. ``--profile`` adds the top of a
cProfile of the same queries (by cumulative time, the text tower excluded by caching nothing).

    nice -n 5 .venv/bin/python -m benchmarks.query_stages \
        --library benchmarks/results/work/latency-1000000 --queries 100
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import time
import urllib.parse
from pathlib import Path

import numpy as np

from benchmarks.common import load_served_embedder, percentiles, write_results
from benchmarks.query_latency import query_texts


def measure(app, count: int, seed: int, params: dict) -> dict:
    from pixsift.search.query.timing import collect_stages

    client = app.test_client()
    walls: list[float] = []
    cpus: list[float] = []
    samples: list[dict[str, float]] = []
    cpu_samples: list[dict[str, float]] = []
    for text in query_texts(count, seed):
        url = "/api/search?" + urllib.parse.urlencode({"q": text, "k": 10, **params})
        started, started_cpu = time.perf_counter(), time.thread_time()
        with _collector(collect_stages) as times:
            response = client.get(url)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.thread_time() - started_cpu) * 1000)
        cpu_samples.append(dict(getattr(times, "cpu_ms", None) or {}))
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.get_data(as_text=True)}")
        samples.append(dict(times.ms))
    return {
        "wall": percentiles(walls),
        "cpu": percentiles(cpus),
        "stage_p50_ms": _medians(samples, walls),
        "stage_cpu_p50_ms": _medians(cpu_samples, cpus),
    }


def _collector(collect_stages):
    """Stage times with CPU time where this checkout records it (a checkout from before it
    did records wall time only)."""
    try:
        return collect_stages(cpu=True)
    except TypeError:
        return collect_stages()


def _medians(samples: list[dict[str, float]], totals: list[float]) -> dict[str, float]:
    """Per-stage medians, and the median of what the stages leave out of each request's total
    (Flask, parameter parsing, the response)."""
    names = sorted({name for sample in samples for name in sample})
    medians = {
        name: round(float(np.median([s.get(name, 0.0) for s in samples])), 3) for name in names
    }
    outside = [t - sum(s.values()) for t, s in zip(totals, samples, strict=True)]
    medians["outside_engine"] = round(float(np.median(outside)), 3)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="tower threads (serve: 1)")
    parser.add_argument("--params", default="{}", help="extra query parameters (JSON)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--name", default="query_stages")
    args = parser.parse_args()
    from pixsift.search.library import Library
    from pixsift.web.app import create_app

    embedder, _ = load_served_embedder(threads=args.threads)
    library = Library.open(args.library, embedder=embedder)
    app = create_app({"LIBRARY": library})
    params = json.loads(args.params)
    measure(app, 10, seed=7, params=params)  # warm: sessions, pages, caches
    load = os.getloadavg()[0]
    result = measure(app, args.queries, seed=31337, params=params)
    result |= {"load_1min_start": round(load, 2), "load_1min_end": round(os.getloadavg()[0], 2)}
    print(json.dumps(result, indent=1))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        measure(app, args.queries, seed=4711, params=params)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
    library.close()
    path = write_results(args.name, {"library": str(args.library), "threads": args.threads,
                                     "params": params, **result})  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
