"""Explanations through the API with the server's defaults (2 workers on 2 cores: one ONNX
thread per worker), side by side in one process, interleaved:

- cold: occlusion batches one after another (one core, as before) against side by side on the
  cores the worker's towers leave idle (search.explain.occlusion.parallel_lanes);
- cached: ``GET /api/images/<id>/explain`` answered from the terms (no file read, no query
  embedding) against the path that reads and hashes the picture and embeds the query first.

    nice .venv/bin/python -m benchmarks.explain_api --count 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from urllib.parse import quote

from benchmarks.common import WORK, generated_jpegs, percentiles, print_table, write_results
from benchmarks.explain import QUERIES, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3, help="cold explanations per variant")
    parser.add_argument("--hits", type=int, default=20, help="cached requests per variant")
    arguments = parser.parse_args()

    import pixsift.search.explain.occlusion as occlusion
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.explain.service import Explainer
    from pixsift.search.library import Library
    from pixsift.search.query.request import QueryTerm
    from pixsift.web import create_app

    embedder = load("onnx", 1)  # what each of `pixsift serve`'s two default workers runs
    directory = WORK / "explain-api-library"
    shutil.rmtree(directory, ignore_errors=True)
    library = Library.open(directory, embedder=embedder)
    folder = generated_jpegs(arguments.count * 2, WORK / f"explain-api-{arguments.count * 2}")
    Indexer(library, embedder, IndexingOptions(workers=1, show_progress=False)).index([folder])
    ids = sorted(hit.id for hit in library.search("anything", k=arguments.count * 2))
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    explainer = Explainer(library)
    lanes = occlusion.parallel_lanes
    cold: dict[str, list[float]] = {"cold, one lane": [], "cold, idle cores": []}
    for number, image_id in enumerate(ids):
        variant = list(cold)[number % 2]
        occlusion.parallel_lanes = (lambda _e: 1) if variant == "cold, one lane" else lanes
        url = f"/api/images/{image_id}/explain?q={quote(QUERIES[number % len(QUERIES)])}"
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        cold[variant].append((time.perf_counter() - started) * 1000)
    occlusion.parallel_lanes = lanes
    image_id, text = ids[-1], QUERIES[(len(ids) - 1) % len(QUERIES)]
    cached: dict[str, list[float]] = {"cached, by terms (API)": [], "cached, file + query": []}
    for _ in range(arguments.hits):
        started = time.perf_counter()
        assert client.get(f"/api/images/{image_id}/explain?q={quote(text)}").status_code == 200
        cached["cached, by terms (API)"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        # The path before: read and hash the file, embed the query, then look the cache up.
        embedder._text_cache = type(embedder._text_cache)()  # a first request: no text cache
        explainer.explain(explainer.picture(image_id), [QueryTerm(text=text)])
        cached["cached, file + query"].append((time.perf_counter() - started) * 1000)
    library.close()
    rows = [
        {"variant": name, **percentiles(values), "n": len(values)}
        for name, values in {**cold, **cached}.items()
    ]
    print_table(rows, list(rows[0].keys()))
    load_average = round(os.getloadavg()[0], 2)
    print(f"load average (1 min) at the end: {load_average}")
    path = write_results("explain_api", {"rows": rows, "load_average": load_average})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
