"""Albums and smart albums in a large library: how long opening one takes on a warm server.

Fills a library with SIZE synthetic image rows (bulk import, random unit vectors; no files, no
model), then measures, through the Flask app in-process (``test_client``, so no network), the
API call that opens an album page (``GET /api/albums/<id>?k=100``):

* a plain album of ALBUM_SIZE items (added in one request of 1,000 ids at a time);
* a smart album of filters only whose saved search keeps ALBUM_SIZE pictures (a path glob on
  the bulk rows' names: ``bulk-*[0-9]0.jpg`` keeps ids ending in 0, 10 %, so at 100k it holds
  10,000 members);
* the same album as a search filter (``GET /api/search?...&album=<id>``) is not measured: it
  needs the model's text tower.

The first request of each is reported apart (``first_ms``: it reads the members from the
database); ``p50``/``p95`` are over the repeats that follow (warm).

    .venv/bin/python -m benchmarks.albums                  # 100k rows, albums of 10,000
    .venv/bin/python -m benchmarks.albums --size 1000000 --glob 'bulk-*[0-9]00.jpg'
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np

from benchmarks.common import WORK, percentiles, print_table, write_results

BATCH = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--album-size", type=int, default=10_000)
    parser.add_argument("--glob", default="bulk-*0.jpg", help="the smart album's path filter")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--name", default="albums")
    args = parser.parse_args()

    from pixsift.search.accounts import LOCAL_PRINCIPAL
    from pixsift.search.albums import Albums
    from pixsift.search.library import Library
    from pixsift.search.query.request import SavedSearch, SearchFilters
    from pixsift.search.storage.bulk import insert_vectors
    from pixsift.web import create_app

    directory = WORK / f"albums-{args.size}"
    if directory.exists():
        shutil.rmtree(directory)
    library = Library.open(directory)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for start in range(0, args.size, 200_000):
        count = min(200_000, args.size - start)
        vectors = rng.standard_normal((count, 64)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        insert_vectors(library.store, vectors, model_id="bench")
    fill_s = time.perf_counter() - started

    albums = Albums(library.store, LOCAL_PRINCIPAL)
    plain = albums.create("ten thousand")
    ids = rng.choice(np.arange(1, args.size + 1), size=args.album_size, replace=False).tolist()
    started = time.perf_counter()
    for start in range(0, len(ids), BATCH):
        albums.add(plain.id, ids[start : start + BATCH])
    add_s = time.perf_counter() - started
    smart = albums.create("by name", SavedSearch(filters=SearchFilters(path=args.glob)))

    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    rows = []
    for label, album in (("album", plain), ("smart album (filters)", smart)):
        url = f"/api/albums/{album.id}?k=100"
        started = time.perf_counter()
        first = client.get(url)
        first_ms = (time.perf_counter() - started) * 1000
        assert first.status_code == 200, first.text
        total = first.get_json()["total"]
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append((time.perf_counter() - started) * 1000)
        rows.append({"what": label, "members": total, "first_ms": round(first_ms, 1),
                     **percentiles(times)})  # fmt: skip
    print(f"{args.size:,} rows (filled in {fill_s:.0f} s); {args.album_size:,} ids added in "
          f"{add_s:.1f} s ({args.album_size / add_s:,.0f}/s)")  # fmt: skip
    print_table(rows, ["what", "members", "first_ms", "p50", "p95", "mean"])
    write_results(args.name, {"size": args.size, "fill_s": round(fill_s, 1),
                              "add_s": round(add_s, 2), "rows": rows})  # fmt: skip
    library.close()


if __name__ == "__main__":
    main()
