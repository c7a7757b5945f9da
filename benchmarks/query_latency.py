"""Query latency end to end at several library sizes, one client and four concurrent clients.

For each size: fill a library with structured vectors through the bulk import API (image rows
and float16 embeddings in the database), build the index with the automatic choice (timed),
reopen it as a server would (timed), serve the Flask app (``web.app.create_app``) on 127.0.0.1
as each ``pixsift serve`` worker does (warmed up, then waitress with the worker's settings) and
send text queries from client processes, each client on one kept-alive connection
(``/api/search?q=...``). Every query text is distinct, so neither query cache helps. When the web
app is missing, queries go through ``Library.search`` instead.

    .venv/bin/python -m benchmarks.query_latency                   # 10k, 100k, 1M
    .venv/bin/python -m benchmarks.query_latency --quick           # 10k, ~1 minute
    .venv/bin/python -m benchmarks.query_latency --sizes 1000000 --clients 0 --reuse
    PIXSIFT_INDEX_MEMORY_BUDGET=1G nice -n 5 .venv/bin/python -m benchmarks.query_latency \
        --sizes 2000000 --clients 0 --no-filters --queries 200 --name query_latency_2m_staged

The index's memory budget (PIXSIFT_INDEX_MEMORY_BUDGET, default 4G) decides the index: a
library whose float32 vectors exceed it is built in stages into compressed PQ codes with
re-ranking from the memory-mapped float16 store (search.vectors.staged); ``held_out`` recall
is for vectors drawn from the same generator but never imported.

Filtered rows (one client, the same distinct query texts as the unfiltered row): filters that
keep 100 %, 70 %, 30 %, 1 % and 0.01 % of the library (see FILTERS: bulk-imported rows all have
width 1, and their names end in their id, so path globs on the id's last digits select exact
shares, spread evenly over the vectors). ``first_ms`` is each filter's first request, which
reads the selection from the database (later requests find it cached until the library
changes). ``--reuse`` keeps a library built by an earlier run (the same vectors), so the same
library can be measured by another checkout of the code, side by side.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

from benchmarks.common import (
    WORK,
    load_served_embedder,
    percentiles,
    print_table,
    rss_mib,
    write_results,
)

#: (label, share of the library, API parameters): shares are exact when the size is a multiple
#: of 10,000 (ids run from 1 to size; a name is bulk-<id>.jpg).
FILTERS = (
    ("100% min_width=1", 1.0, {"min_width": 1}),
    ("70% path", 0.7, {"path": "bulk-*[0-6].jpg"}),
    ("30% path", 0.3, {"path": "bulk-*[0-2].jpg"}),
    ("1% path", 0.01, {"path": "bulk-*00.jpg"}),
    ("0.01% path", 0.0001, {"path": "bulk-*0000.jpg"}),
)

#: Vectors drawn after the library's from the same generator, never imported: recall queries.
HELD_OUT = 200
#: Single-client configurations take turns in this many rounds.
ROUNDS = 4

WORDS = tuple("red blue dog cat beach city night tree car bicycle house river snow sun".split())  # noqa: SIM905


def query_texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        f"a photo of a {' '.join(rng.choice(WORDS, 3))} number {seed}-{i}" for i in range(count)
    ]


def fill_library(
    directory: Path, size: int, embedder, reuse: bool = False, rebuild: bool = False
) -> tuple[object, dict]:
    from benchmarks.vectors import structured_vectors
    from pixsift.search.library import Library

    facts: dict[str, float] = {}
    if reuse and (directory / "facts.json").exists():
        facts = json.loads((directory / "facts.json").read_text())
        if rebuild:  # a new index of the same vectors, in this fresh process (its own RSS)
            with Library.open(directory, embedder=embedder) as library:
                facts |= build_facts(library)
            facts["held_out_recall_at_10"] = None
        started = time.perf_counter()
        library = Library.open(directory, embedder=embedder)
        library.vector_index()
        facts["open_s"] = round(time.perf_counter() - started, 2)
        if facts.get("held_out_recall_at_10") is None:
            facts["held_out_recall_at_10"] = held_out_recall(library, directory)
            (directory / "facts.json").write_text(json.dumps(facts))
        return library, facts
    if directory.exists():
        shutil.rmtree(directory)
    library = Library.open(directory, embedder=embedder)
    started = time.perf_counter()
    # HELD_OUT more vectors from the same stream are not imported: recall queries.
    produced, held_out = 0, []
    stream = structured_vectors(size + HELD_OUT, embedder.dimension, seed=size, chunk=200_000)
    for vectors in stream:
        kept = vectors[: max(0, size - produced)]
        # A copy: a view would keep the whole 200k-row chunk alive (20 GB at 10M).
        held_out.append(vectors[len(kept) :].copy())
        produced += len(vectors)
        if len(kept):
            library.import_vectors(kept, model_id=embedder.model_id, publish=False)
    np.save(directory / "held_out.npy", np.concatenate(held_out))
    facts["insert_s"] = round(time.perf_counter() - started, 1)
    facts |= build_facts(library)
    library.close()
    # Reopen as a fresh server would: open the database, load the (memory-mapped) index.
    started = time.perf_counter()
    library = Library.open(directory, embedder=embedder)
    library.vector_index()
    facts["open_s"] = round(time.perf_counter() - started, 2)
    facts["held_out_recall_at_10"] = held_out_recall(library, directory)
    (directory / "facts.json").write_text(json.dumps(facts))
    return library, facts


def build_facts(library) -> dict:
    """Build the index with the automatic choice (under PIXSIFT_INDEX_MEMORY_BUDGET), timed."""
    started = time.perf_counter()
    # Generated vectors are not the random-weights model's image embeddings, so its texts say
    # nothing about where queries fall among them: tune on synthetic text-like queries.
    index = library.rebuild_index(index_type="auto", model_prompts=False)
    return {
        "build_s": round(time.perf_counter() - started, 1),
        "index_type": index.sidecar.index_type,
        "search_params": index.sidecar.search_params,
        "rerank_factor": index.sidecar.rerank_factor,
        "tuned_recall": index.sidecar.tuned_recall,
        "build_stages_s": index.sidecar.stage_seconds,
        "build_peak_rss_mib": round(peak_rss_mib()),
    }


def held_out_recall(library, directory: Path) -> float:
    """recall@10 of the published index (its tuned parameters, re-ranking included) for vectors
    of the same distribution that were never imported, against exact search."""
    from pixsift.search.vectors.tune import measure_recall

    index = library.vector_index().published
    if index.exact_vectors is None:
        return 1.0  # a flat index (small libraries) is the exact search itself
    queries = np.load(directory / "held_out.npy")
    return round(measure_recall(index, query_vectors=queries), 4)


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve(library) -> tuple[object, str]:
    """The app on 127.0.0.1 as each `pixsift serve` worker runs it: warmed up, then waitress with
    the worker's settings (cli.serve.waitress_adjustments), in a thread of this process."""
    from waitress.server import create_server

    from pixsift.cli.serve import waitress_adjustments
    from pixsift.search.model.loading import set_thread_budget
    from pixsift.web import settings as web_settings
    from pixsift.web.app import create_app
    from pixsift.web.state import freeze_warmed_objects, web_state

    # As cli.serve's post_fork does for each of the default workers: its share of the cores
    # for the model and numpy's BLAS.
    set_thread_budget((os.cpu_count() or 1) // int(web_settings.WORKERS.value()))
    app = create_app({"LIBRARY": library})
    # As each `pixsift serve` worker does before it takes requests (cli/serve.py): load the
    # towers and index, keep the filter columns, run a search through the whole path. Without
    # it, each filter's first request (first_ms) measured a cold process, not the server.
    with app.app_context():
        web_state().warm_up()
    freeze_warmed_objects()  # as cli.serve does after the warm-up
    adjustments = waitress_adjustments(int(web_settings.IDLE_TIMEOUT.value()))
    server = create_server(app, host="127.0.0.1", port=0, **adjustments)
    server.app = app  # stage_breakdown sends its queries through the app in-process
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.effective_port}"


def run_clients(
    base_url: str, clients: int, per_client: int, seed: int, params: dict | None = None
) -> dict:
    """Client processes (not threads of the server process), each a bounded urllib loop."""
    command = [
        sys.executable, "-m", "benchmarks.query_latency", "--client", base_url,
        "--clients", str(clients), "--per-client", str(per_client), "--seed", str(seed),
        "--params", json.dumps(params or {}),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
    return json.loads(output.stdout)


def client_main(base_url: str, clients: int, per_client: int, seed: int, params: dict) -> None:
    latencies: list[float] = []
    errors: list[str] = []
    #: Answered pages without results: not failures. The relevance cutoff ends the list where
    #: matches end, and a narrow filter over these generated vectors often holds none (the
    #: 0.01 % row: its 100 images' best is ~2.5 standard deviations above the query's mean,
    #: under the cutoff's 3; docs/benchmarks.md section 28).
    empty = 0
    lock = threading.Lock()

    def loop(client: int) -> None:
        # One kept-alive connection per client, as a browser or an API client holds one.
        address = urllib.parse.urlsplit(base_url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        for text in query_texts(per_client, seed * 100 + client):
            query = {"q": text, "k": 10, **params}
            url = "/api/search?" + urllib.parse.urlencode(query)
            started = time.perf_counter()
            try:
                connection.request("GET", url)
                response = connection.getresponse()
                body = json.loads(response.read())
                ok = response.status == 200 and isinstance(body.get("results"), list)
            except Exception as error:
                ok, body = False, str(error)
                connection.close()  # reconnects on the next request
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                nonlocal empty
                latencies.append(elapsed)
                if not ok:
                    errors.append(str(body)[:200])
                elif not body["results"]:
                    empty += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(json.dumps({"latencies_ms": latencies, "errors": errors, "empty": empty, "wall_s": wall}))


def library_loop(library, count: int, seed: int) -> dict:
    latencies = []
    started = time.perf_counter()
    for text in query_texts(count, seed):
        t = time.perf_counter()
        library.search(text, k=10)
        latencies.append((time.perf_counter() - t) * 1000)
    return {"latencies_ms": latencies, "errors": [], "wall_s": time.perf_counter() - started}


def measure_api(library, queries: int, clients: int, per_client: int, filters: bool) -> list:
    """(label, run, first request ms) per configuration. The single-client configurations
    (unfiltered and each filter) run interleaved in rounds, so load that comes and goes on a
    shared machine spreads over all of them alike."""
    server, base_url = serve(library)
    run_clients(base_url, 1, 5, seed=7)  # warm up
    configurations = [("1 client", {})]
    if filters:
        configurations += [(label, params) for label, _share, params in FILTERS]
    first_ms: dict[str, float | None] = {"1 client": None}
    for position, (label, params) in enumerate(configurations[1:]):
        # The first request with a filter reads its selection from the database.
        first = run_clients(base_url, 1, 1, seed=50 + position, params=params)
        first_ms[label] = first["latencies_ms"][0]
    runs = {label: {"latencies_ms": [], "errors": [], "wall_s": 0.0} for label, _ in configurations}
    rounds = ROUNDS if queries >= 4 * ROUNDS else 1
    for round_number in range(rounds):
        for position, (label, params) in enumerate(configurations):
            # Texts never repeat (the text tower's cache would answer them): a seed per run.
            seed = 1000 + round_number * 16 + position
            run = run_clients(base_url, 1, queries // rounds, seed=seed, params=params)
            for key in ("latencies_ms", "errors"):
                runs[label][key] += run[key]
            runs[label]["empty"] = runs[label].get("empty", 0) + run.get("empty", 0)
            runs[label]["wall_s"] += run["wall_s"]
    measured = [(label, runs[label], first_ms[label]) for label, _ in configurations]
    if clients > 0:
        measured.append((f"{clients} clients", run_clients(base_url, clients, per_client, 2), None))
    STAGE_BREAKDOWN.clear()
    STAGE_BREAKDOWN.update(stage_breakdown(server.app, min(queries, 100)))
    server.close()
    return measured


#: The last size's per-stage medians (ms), filled by measure_api.
STAGE_BREAKDOWN: dict[str, float] = {}


def stage_breakdown(app, count: int) -> dict[str, float]:
    """Per-stage medians (ms) of ``count`` distinct API text queries sent in-process through the
    app (search.query.timing: parse, filters, tower, keyword, plan, vector search, re-rank,
    record reads, serialisation), and the median of their sum. Empty for a checkout without
    stage timing."""
    try:
        from pixsift.search.query.timing import collect_stages
    except ImportError:
        return {}
    client = app.test_client()
    samples: list[dict[str, float]] = []
    for text in query_texts(count, seed=4242):
        with collect_stages() as times:
            response = client.get("/api/search?" + urllib.parse.urlencode({"q": text, "k": 10}))
        if response.status_code == 200:
            samples.append({**times.ms, "total": sum(times.ms.values())})
    names = sorted({name for sample in samples for name in sample})
    return {
        name: round(float(np.median([sample.get(name, 0.0) for sample in samples])), 3)
        for name in names
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="10k only, fewer queries")
    parser.add_argument("--queries", type=int, default=200, help="single-client queries")
    parser.add_argument("--client")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (0: none)")
    parser.add_argument("--per-client", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", default="{}", help="client: extra query parameters (JSON)")
    parser.add_argument("--reuse", action="store_true", help="reuse a library built earlier")
    parser.add_argument(
        "--rebuild", action="store_true", help="with --reuse: build its index again first"
    )
    parser.add_argument("--no-filters", action="store_true", help="skip the filtered rows")
    parser.add_argument("--name", default="query_latency", help="results file name")
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.clients, args.per_client, args.seed, json.loads(args.params))
        return
    sizes = [10_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    queries = 40 if args.quick else args.queries
    per_client = 10 if args.quick else args.per_client
    try:
        import pixsift.web.app  # noqa: F401

        via = "api"
    except ImportError:
        via = "library"
    embedder, _ = load_served_embedder()
    rows, results = [], []
    for size in sizes:
        library, facts = fill_library(
            WORK / f"latency-{size}", size, embedder, args.reuse, args.rebuild
        )
        direct = direct_costs(library, embedder, size)
        if via == "api":
            measured = measure_api(library, queries, args.clients, per_client, not args.no_filters)
        else:
            measured = [("1 client", library_loop(library, queries, seed=1), None)]
        for label, run, first in measured:
            stats = percentiles(run["latencies_ms"]) if run["latencies_ms"] else {}
            row = {
                "size": size,
                "via": via,
                "clients": label,
                **stats,
                "first_ms": None if first is None else round(first, 1),
                "qps": round(len(run["latencies_ms"]) / max(run["wall_s"], 1e-9), 1),
                "errors": len(run["errors"]),
                "empty": run.get("empty", 0),
                "index": facts["index_type"],
                "params": facts["search_params"],
                "build_s": facts["build_s"],
                "open_s": facts["open_s"],
                "insert_s": facts["insert_s"],
                "rss_mib": round(rss_mib()),
                **direct,
            }
            rows.append(row)
            results.append({**row, "tuned_recall": facts["tuned_recall"],
                            "held_out_recall_at_10": facts.get("held_out_recall_at_10"),
                            "build_stages_s": facts.get("build_stages_s"),
                            "build_peak_rss_mib": facts.get("build_peak_rss_mib"),
                            "rerank_factor": facts.get("rerank_factor"),
                            "index_memory_budget": os.environ.get("PIXSIFT_INDEX_MEMORY_BUDGET"),
                            "first_errors": run["errors"][:3],
                            # In the order sent: round by round, each round a fresh client.
                            "latencies_ms": [round(v, 2) for v in run["latencies_ms"]],
                            })  # fmt: skip
        library.close()
        print_table(rows[-len(measured) :], list(rows[-1].keys()))
        if STAGE_BREAKDOWN:
            results.append({"size": size, "stage_p50_ms": dict(STAGE_BREAKDOWN)})
            print("stage medians (ms):", json.dumps(STAGE_BREAKDOWN))
    print()
    print_table(rows, list(rows[0].keys()))
    name = args.name + ("_quick" if args.quick else "")
    path = write_results(name, {"rows": results, "filters": [f[:2] for f in FILTERS]})
    print(f"wrote {path}")


def direct_costs(library, embedder, size: int) -> dict[str, float]:
    """The direct cost of one query's text embedding and of its index search (no API)."""
    index = library.vector_index()
    text_ms, search_ms = [], []
    for text in query_texts(30, 999 + size):  # distinct per size: no cache hits
        started = time.perf_counter()
        vector = embedder.embed_texts([text])
        text_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        index.search(vector, 10)
        search_ms.append((time.perf_counter() - started) * 1000)
    return {
        "text_p50_ms": percentiles(text_ms)["p50"],
        "search_p50_ms": percentiles(search_ms)["p50"],
    }


if __name__ == "__main__":
    main()
