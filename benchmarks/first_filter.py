"""The first request's cost of each benchmark filter (benchmarks.query_latency's FILTERS): the
selection read as a server's first request with that filter reads it, in wall time and in this
thread's CPU time (SQLite and numpy run in the calling thread; on a shared machine the CPU time
is the work, the wall time adds waiting for a core).

Each run is a fresh process, so nothing is cached: without ``--warm`` it is a one-query process
and every filter answers through the SQL path (search.query.filter_columns keeps columns only
where a process opted in). ``--warm`` opts in and reads every group first, as ``pixsift
serve``'s warm-up does, and reports that read on its own line (``warm_up``). ``--label`` names
the checkout in the output.

    nice -n 5 .venv/bin/python -m benchmarks.first_filter \
        benchmarks/results/work/latency-1000000/pixsift.sqlite3 [--warm] [--label after]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from benchmarks.query_latency import FILTERS


def _timed(work) -> tuple[object, dict[str, float]]:
    wall, cpu = time.perf_counter(), time.thread_time()
    result = work()
    return result, {
        "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
        "cpu_ms": round((time.thread_time() - cpu) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database")
    parser.add_argument("--warm", action="store_true", help="read the filter columns first")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    from pixsift.search.query.filters import filter_selection
    from pixsift.search.query.request import SearchFilters
    from pixsift.search.storage.database import create_database_engine

    engine = create_database_engine("sqlite:///" + os.path.abspath(args.database))
    with engine.connect():
        pass  # a warm server's connection is open already
    out: dict[str, object] = {"label": args.label, "load_start": os.getloadavg()[0]}
    if args.warm:
        from pixsift.search.query.filter_columns import warm_filter_columns

        _read, out["warm_up"] = _timed(lambda: warm_filter_columns(engine))
    for label, share, params in FILTERS:
        (_generation, selection), times = _timed(
            lambda params=params: filter_selection(engine, SearchFilters(**params))
        )
        out[label] = {**times, "count": selection.count, "expected": round(share * 1_000_000)}
    out["load_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
