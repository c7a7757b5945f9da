"""The first request's cost of each benchmark filter (benchmarks.query_latency's FILTERS): the
selection read from the database, as a server's first request with that filter reads it, in
wall time and in this thread's CPU time (SQLite runs in the calling thread; on a shared machine
the CPU time is the work, the wall time adds waiting for a core).

    nice -n 5 .venv/bin/python -m benchmarks.first_filter \
        benchmarks/results/work/latency-1000000/pixsift.sqlite3
"""

from __future__ import annotations

import json
import os
import sys
import time

from benchmarks.query_latency import FILTERS


def main() -> None:
    from pixsift.search.query.filters import filter_selection
    from pixsift.search.query.request import SearchFilters
    from pixsift.search.storage.database import create_database_engine

    engine = create_database_engine("sqlite:///" + os.path.abspath(sys.argv[1]))
    with engine.connect():
        pass  # a warm server's connection is open already
    out: dict[str, object] = {"load_start": os.getloadavg()[0]}
    for label, _share, params in FILTERS:
        wall, cpu = time.perf_counter(), time.thread_time()
        _generation, selection = filter_selection(engine, SearchFilters(**params))
        out[label] = {
            "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
            "cpu_ms": round((time.thread_time() - cpu) * 1000, 1),
            "count": selection.count,
        }
    out["load_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
