"""Query latency end to end at several library sizes, one client and four concurrent clients.

For each size: fill a library with structured vectors through the bulk import API (image rows
and float16 embeddings in the database), build the index with the automatic choice (timed),
reopen it as a server would (timed), serve the Flask app (``web.app.create_app``) on 127.0.0.1
with a threaded werkzeug server and send text queries from client processes with urllib
(``/api/search?q=...``). Every query text is distinct, so neither query cache helps. When the web
app is missing, queries go through ``Library.search`` instead.

    .venv/bin/python -m benchmarks.query_latency                   # 10k, 100k, 1M
    .venv/bin/python -m benchmarks.query_latency --quick           # 10k, ~1 minute
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks.common import (
    WORK,
    load_embedder,
    percentiles,
    print_table,
    rss_mib,
    write_results,
)

WORDS = tuple("red blue dog cat beach city night tree car bicycle house river snow sun".split())  # noqa: SIM905


def query_texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        f"a photo of a {' '.join(rng.choice(WORDS, 3))} number {seed}-{i}" for i in range(count)
    ]


def fill_library(directory: Path, size: int, embedder) -> tuple[object, dict]:
    from benchmarks.vectors import structured_vectors
    from search.library import Library

    facts: dict[str, float] = {}
    if directory.exists():
        shutil.rmtree(directory)
    library = Library.open(directory, embedder=embedder)
    started = time.perf_counter()
    for vectors in structured_vectors(size, embedder.dimension, seed=size, chunk=200_000):
        library.import_vectors(vectors, model_id=embedder.model_id, publish=False)
    facts["insert_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    index = library.rebuild_index(index_type="auto")
    facts["build_s"] = round(time.perf_counter() - started, 1)
    facts["index_type"] = index.sidecar.index_type
    facts["search_params"] = index.sidecar.search_params
    facts["tuned_recall"] = index.sidecar.tuned_recall
    library.close()
    # Reopen as a fresh server would: open the database, load the (memory-mapped) index.
    started = time.perf_counter()
    library = Library.open(directory, embedder=embedder)
    library.vector_index()
    facts["open_s"] = round(time.perf_counter() - started, 2)
    return library, facts


def serve(library) -> tuple[object, str]:
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    import torch

    from web.app import create_app

    # As `pixsift serve` runs by default (2 worker processes on 2 cores): one torch thread per
    # request. With two, a query's ~150 parallel regions each wait for the second thread to wake
    # up, and the text tower takes 25-110 ms instead of a steady ~28 ms on these machines.
    torch.set_num_threads(1)
    app = create_app({"LIBRARY": library})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def run_clients(base_url: str, clients: int, per_client: int, seed: int) -> dict:
    """Client processes (not threads of the server process), each a bounded urllib loop."""
    command = [
        sys.executable, "-m", "benchmarks.query_latency", "--client", base_url,
        "--clients", str(clients), "--per-client", str(per_client), "--seed", str(seed),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
    return json.loads(output.stdout)


def client_main(base_url: str, clients: int, per_client: int, seed: int) -> None:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def loop(client: int) -> None:
        for text in query_texts(per_client, seed * 100 + client):
            url = f"{base_url}/api/search?" + urllib.parse.urlencode({"q": text, "k": 10})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    body = json.loads(response.read())
                    ok = response.status == 200 and len(body.get("results", [])) > 0
            except Exception as error:
                ok, body = False, str(error)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(str(body)[:200])

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(json.dumps({"latencies_ms": latencies, "errors": errors, "wall_s": wall}))


def library_loop(library, count: int, seed: int) -> dict:
    latencies = []
    started = time.perf_counter()
    for text in query_texts(count, seed):
        t = time.perf_counter()
        library.search(text, k=10)
        latencies.append((time.perf_counter() - t) * 1000)
    return {"latencies_ms": latencies, "errors": [], "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="10k only, fewer queries")
    parser.add_argument("--queries", type=int, default=200, help="single-client queries")
    parser.add_argument("--client")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-client", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.clients, args.per_client, args.seed)
        return
    sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    queries = 40 if args.quick else args.queries
    per_client = 10 if args.quick else args.per_client
    try:
        import web.app  # noqa: F401

        via = "api"
    except ImportError:
        via = "library"
    embedder, _ = load_embedder()
    # Direct cost of one query's text embedding (fast path) and its index search.
    rows, results = [], []
    for size in sizes:
        library, facts = fill_library(WORK / f"latency-{size}", size, embedder)
        index = library.vector_index()
        text_ms, search_ms = [], []
        for text in query_texts(30, 999 + size):  # distinct per size: no cache hits
            t = time.perf_counter()
            vector = embedder.embed_texts([text])
            text_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.search(vector, 10)
            search_ms.append((time.perf_counter() - t) * 1000)
        if via == "api":
            server, base_url = serve(library)
            run_clients(base_url, 1, 5, seed=7)  # warm up
            single = run_clients(base_url, 1, queries, seed=1)
            concurrent = run_clients(base_url, 4, per_client, seed=2)
            server.shutdown()
        else:
            single = library_loop(library, queries, seed=1)
            concurrent = {"latencies_ms": [], "errors": ["not measured"], "wall_s": 1}
        for label, run in (("1 client", single), ("4 clients", concurrent)):
            stats = percentiles(run["latencies_ms"]) if run["latencies_ms"] else {}
            row = {
                "size": size,
                "via": via,
                "clients": label,
                **stats,
                "qps": round(len(run["latencies_ms"]) / run["wall_s"], 1),
                "errors": len(run["errors"]),
                "index": facts["index_type"],
                "params": facts["search_params"],
                "build_s": facts["build_s"],
                "open_s": facts["open_s"],
                "insert_s": facts["insert_s"],
                "rss_mib": round(rss_mib()),
                "text_p50_ms": percentiles(text_ms)["p50"],
                "search_p50_ms": percentiles(search_ms)["p50"],
            }
            rows.append(row)
            results.append({**row, "tuned_recall": facts["tuned_recall"],
                            "first_errors": run["errors"][:3]})  # fmt: skip
        library.close()
        print_table(rows[-2:], list(rows[-1].keys()))
    print()
    print_table(rows, list(rows[0].keys()))
    path = write_results("query_latency" + ("_quick" if args.quick else ""), {"rows": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
