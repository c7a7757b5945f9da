"""Browsing a large library: the timeline and folders through the API, on a warm server.

Fills a library with SIZE synthetic image rows (no files, no vectors: browsing reads neither) in
folders ``YEAR/MM/event-E/`` (YEARS years, 12 months, EVENTS events a month), half with a date
taken and half with only a file time, then measures through the Flask app in-process
(``test_client``: no network) the first page of the timeline, pages deep into it (following
``next``), a month jump, folders at each depth, and the timeline again with HIDDEN pictures
hidden. Each figure is p50/p95 over REPEATS requests after one warm-up.

    .venv/bin/python -m benchmarks.browse                   # 200,000 rows, SQLite
    .venv/bin/python -m benchmarks.browse --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import datetime, timedelta

from benchmarks.common import WORK, percentiles, print_table, write_results

BATCH = 20_000


def fill(library: object, size: int, years: int, events: int) -> None:
    from sqlalchemy import insert

    from pixsift.search.storage.models import Image, Root

    store = library.store  # type: ignore[attr-defined]
    now = datetime(2026, 1, 1)
    with store.session() as session:
        root_id = session.execute(
            insert(Root).values(path="/bench/Photos", path_bytes=b"/bench/Photos", added_at=now)
        ).inserted_primary_key[0]
    per_folder = max(1, size // (years * 12 * events))
    for start in range(0, size, BATCH):
        rows = []
        for number in range(start, min(size, start + BATCH)):
            folder = number // per_folder
            year = 2000 + (folder // (12 * events)) % years
            month = (folder // events) % 12 + 1
            moment = datetime(year, month, 1) + timedelta(minutes=number % 40_000)
            path = f"{year}/{month:02d}/event-{folder % events}/img-{number}.jpg"
            rows.append({
                "root_id": root_id, "path_bytes": f"/bench/Photos/{path}".encode(),
                "relative_path": path, "size_bytes": 1_000_000, "content_hash": f"{number:064x}",
                "width": 4000, "height": 3000, "format": "JPEG", "indexed_at": now,
                "taken_at": moment if number % 2 else None,
                "mtime_ns": int((moment - datetime(1970, 1, 1)).total_seconds() * 1e9),
            })  # fmt: skip
        with store.session() as session:
            session.execute(insert(Image), rows)


def timed(client: object, url: str, repeats: int) -> dict[str, float]:
    answer = client.get(url)  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.get_json()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        assert client.get(url).status_code == 200  # type: ignore[attr-defined]
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def deep_url(client: object, url: str, pages: int) -> str:
    for _ in range(pages):
        url = client.get(url).get_json()["next"]  # type: ignore[attr-defined]
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--name", default="browse")
    args = parser.parse_args()

    from pixsift.search.accounts import LOCAL_PRINCIPAL
    from pixsift.search.decisions import Decisions
    from pixsift.search.library import Library
    from pixsift.web import create_app

    directory = WORK / f"browse-{args.size}"
    if directory.exists():
        shutil.rmtree(directory)
    library = Library.open(directory, database_url=args.database_url)
    started = time.perf_counter()
    fill(library, args.size, args.years, args.events)
    fill_s = time.perf_counter() - started
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    first = "/api/timeline?k=100"
    urls = {
        "timeline, first page (k=100)": first,
        "timeline, page 50 (k=100)": deep_url(client, first, 50),
        "timeline, month jump (start=2010-06)": "/api/timeline?start=2010-06&k=100",
        "timeline, folder filter (event-3)": "/api/timeline?folder=event-3&k=100",
        "folders, top": "/api/folders",
        "folders, root (20 subfolders)": "/api/folders?root=1&k=100",
        "folders, a year (12)": "/api/folders?root=1&path=2010&k=100",
        "folders, an event (pictures)": "/api/folders?root=1&path=2010/06/event-3&k=100",
    }
    rows = [{"what": label, **timed(client, url, args.repeats)} for label, url in urls.items()]
    decisions = Decisions(library.store, LOCAL_PRINCIPAL)
    for image_id in range(1, args.size, max(1, args.size // args.hidden)):
        decisions.hide(image_id)
    rows.append({"what": f"timeline, first page, {args.hidden:,} hidden",
                 **timed(client, first, args.repeats)})  # fmt: skip
    print(f"{args.size:,} rows (filled in {fill_s:.0f} s)")
    print_table(rows, ["what", "p50", "p95", "mean"])
    write_results(args.name, {"size": args.size, "fill_s": round(fill_s, 1), "rows": rows})
    library.close()


if __name__ == "__main__":
    main()
