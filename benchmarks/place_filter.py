"""The place filter in a large library: the ids of the pictures taken in one place, read through
the lower-case place indexes (migration 0017) and, for comparison, with those indexes dropped
from this benchmark's own throwaway database (every row read).

Fills a SQLite library with SIZE image rows (no files, no vectors): a third of them carry one of
200 places (city, region, country), so a city holds 1 in 600 pictures and a country 1 in 21.
Measures ``filtered_image_ids`` (the SQL half of every filtered search) REPEATS times per case.

    .venv/bin/python -m benchmarks.place_filter              # 100k rows
    .venv/bin/python -m benchmarks.place_filter --size 1000000
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import datetime

from benchmarks.common import WORK, percentiles, print_table, write_results

PLACES = [(f"City {n}", f"Region {n % 40}", f"Country {n % 7}") for n in range(200)]
INDEXES = ("ix_images_place_city_lower", "ix_images_place_region_lower",
           "ix_images_place_country_lower")  # fmt: skip


def row(n: int, now: datetime) -> dict[str, object]:
    city, region, country = PLACES[n % len(PLACES)] if n % 3 == 0 else (None, None, None)
    return {
        "root_id": 1, "path_bytes": f"/p/{n}.jpg".encode(), "relative_path": f"{n}.jpg",
        "size_bytes": 1, "mtime_ns": 1, "content_hash": f"{n:064x}", "width": 4, "height": 3,
        "format": "JPEG", "indexed_at": now, "place_city": city, "place_region": region,
        "place_country": country,
    }  # fmt: skip


def measure(engine: object, place: str, repeats: int) -> tuple[int, dict[str, float]]:
    from pixsift.search.query.filters import filtered_image_ids
    from pixsift.search.query.request import SearchFilters

    filters = SearchFilters(place=place)
    times, found = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        found = len(filtered_image_ids(engine, filters))  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
    return found, percentiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    from sqlalchemy import insert, text

    from pixsift.search.library import Library
    from pixsift.search.storage.models import Image, Root

    directory = WORK / f"place-filter-{args.size}"
    if directory.exists():
        shutil.rmtree(directory)
    library = Library.open(directory)
    engine, now = library.store.engine, datetime(2024, 1, 1)
    with engine.begin() as connection:
        connection.execute(insert(Root).values(id=1, path="/p", path_bytes=b"/p", added_at=now))
        for start in range(0, args.size, 50_000):
            end = min(args.size, start + 50_000)
            connection.execute(insert(Image), [row(n, now) for n in range(start, end)])
        connection.execute(text("ANALYZE"))
    rows = []
    for case in ("indexed", "no index"):
        if case == "no index":
            with engine.begin() as connection:
                for name in INDEXES:  # this benchmark's own copy only
                    connection.execute(text(f"DROP INDEX {name}"))
        for place in ("City 7", "Country 3"):
            found, timing = measure(engine, place, args.repeats)
            rows.append({"case": case, "place": place, "found": found, **timing})
    library.close()
    print_table(rows, ["case", "place", "found", "p50", "p95", "mean"])
    print(write_results(f"place_filter_{args.size}", {"size": args.size, "rows": rows}))


if __name__ == "__main__":
    main()
