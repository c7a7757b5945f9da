"""Albums and smart albums in a large library: how long opening one takes on a warm server.

Fills a library with SIZE synthetic image rows (bulk import, random unit vectors; no files),
then measures, through the Flask app in-process (``test_client``, so no network), the
API call that opens an album page (``GET /api/albums/<id>?k=100``):

* a plain album of ALBUM_SIZE items (added in one request of 1,000 ids at a time);
* a smart album of filters only whose saved search keeps ALBUM_SIZE pictures (a path glob on
  the bulk rows' names: ``bulk-*[0-9]0.jpg`` keeps ids ending in 0, 10 %, so at 100k it holds
  10,000 members);
* smart albums WITH TEXT (``--texts``, each a saved hybrid search of one text term): ranked by
  the query engine (at most 1,000 members above the cutoff). The text tower is the small world
  model's (tests/data/world, 64-d like the rows' vectors: its compute is small, the vector
  search over SIZE rows is the real one). Each text is made twice: by the admin (``local``) and
  by a viewer (``user:vera``, a maker who may not see places, so the opening also reads the
  maker's role and runs the search without place reading: issue 21); and each again with
  ``weaker`` on (no cutoff: the full 1,000 members, the largest a text album holds).
  ``first_ms`` of a text album is its own first opening (the search runs), after one warm-up
  search has loaded the vectors (a warm server); ``first_p50`` is the median of the texts'
  first openings;
* the same album as a search filter (``GET /api/search?...&album=<id>``) is not measured.

The first request of each is reported apart (``first_ms``: it reads the members from the
database); ``p50``/``p95`` are over the repeats that follow (warm).

    .venv/bin/python -m benchmarks.albums                  # 100k rows, albums of 10,000
    .venv/bin/python -m benchmarks.albums --size 1000000 --glob 'bulk-*[0-9]00.jpg'
    .venv/bin/python -m benchmarks.albums --size 1000000 --glob 'bulk-*00.jpg' --reuse  # again
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.common import WORK, percentiles, print_table, write_results

BATCH = 1000
DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "world"
TEXTS = ("a beach in Lisbon", "a red car on a street", "two dogs in the snow", "a birthday cake",
         "mountains at sunset")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--album-size", type=int, default=10_000)
    parser.add_argument("--glob", default="bulk-*0.jpg", help="the smart album's path filter")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--name", default="albums")
    parser.add_argument("--texts", nargs="*", default=list(TEXTS), help="smart albums with text")
    parser.add_argument("--reuse", action="store_true", help="keep a library filled before")
    parser.add_argument("--publish", action="store_true", help="publish the ANN index first")
    args = parser.parse_args()

    from pixsift.search.accounts import LOCAL_PRINCIPAL
    from pixsift.search.albums import Albums
    from pixsift.search.query.request import SavedSearch, SearchFilters
    from pixsift.web import create_app

    library, fill_s = _filled(args.size, args.reuse)
    publish_s = 0.0
    if args.publish:  # as `pixsift index` leaves it: searches read the published index
        started = time.perf_counter()
        library.publish_index()
        publish_s = time.perf_counter() - started
        print(f"published the index in {publish_s:.0f} s")
    rng = np.random.default_rng(1)

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
    rows += _text_albums(library, client, args.texts, args.repeats)
    print(f"{args.size:,} rows (filled in {fill_s:.0f} s); {args.album_size:,} ids added in "
          f"{add_s:.1f} s ({args.album_size / add_s:,.0f}/s)")  # fmt: skip
    print_table(rows, ["what", "members", "first_ms", "first_p50", "p50", "p95", "mean"])
    write_results(args.name, {"size": args.size, "fill_s": round(fill_s, 1),
                              "add_s": round(add_s, 2), "publish_s": round(publish_s, 1),
                              "rows": rows})  # fmt: skip
    library.close()


def _filled(size: int, reuse: bool):
    """A library of ``size`` bulk rows with random unit 64-d vectors under the world model's id
    (its text tower embeds the smart albums' text)."""
    import torch

    from pixsift.search.library import Library
    from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
    from pixsift.search.storage.bulk import insert_vectors

    world = DATA / "pixsift-world-vit"
    spec = ModelSpec(str(world.with_suffix(".json")), str(world.with_suffix(".safetensors")))
    embedder = OpenClipEmbedder.load(spec, device=torch.device("cpu"))
    directory = WORK / f"albums-{size}"
    if reuse and directory.exists():
        return Library.open(directory, embedder=embedder), 0.0
    if directory.exists():
        shutil.rmtree(directory)
    library = Library.open(directory, embedder=embedder)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for start in range(0, size, 200_000):
        count = min(200_000, size - start)
        vectors = rng.standard_normal((count, embedder.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        insert_vectors(library.store, vectors, model_id=embedder.model_id)
    return library, time.perf_counter() - started


def _text_albums(library, client, texts: list[str], repeats: int) -> list[dict]:
    """Smart albums of one text term each, made by the admin and by a viewer: the first opening
    of each (the ranked search runs) and the warm openings of the first one (cached members)."""
    from pixsift.search.accounts import LOCAL_PRINCIPAL, Principal
    from pixsift.search.albums import Albums
    from pixsift.search.query.request import SavedSearch

    if not texts:
        return []
    # A warm server: the vectors are loaded and the towers have run once before any album.
    warm = client.get("/api/search?q=warm+up&k=10")
    assert warm.status_code == 200, warm.text
    viewer = Principal(kind="user", name="vera", role="viewer")
    rows = []
    for weaker in (False, True):
        for label, maker in (("admin's", LOCAL_PRINCIPAL), ("viewer's", viewer)):
            saved = [SavedSearch.parse({"terms": [{"text": text}], "weaker": weaker})
                     for text in texts]  # fmt: skip
            albums = Albums(library.store, maker)
            made = [albums.create(f"{label} {s.terms[0].text}", s) for s in saved]
            what = f"smart album (text{', weaker' if weaker else ''}, {label})"
            rows.append({"what": what, **_open_times(client, [a.id for a in made], repeats)})
    return rows


def _open_times(client, album_ids: list[int], repeats: int) -> dict:
    firsts, totals = [], []
    for album_id in album_ids:
        started = time.perf_counter()
        answer = client.get(f"/api/albums/{album_id}?k=100")
        firsts.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
        totals.append(answer.get_json()["total"])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        assert client.get(f"/api/albums/{album_ids[0]}?k=100").status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    members = f"{min(totals)}-{max(totals)}" if min(totals) != max(totals) else totals[0]
    return {"members": members, "first_ms": round(firsts[0], 1),
            "first_p50": round(float(np.median(firsts)), 1), **percentiles(times)}  # fmt: skip


if __name__ == "__main__":
    main()
