"""Thumbnails made by ``pixsift index`` (issue 20, item 5): what they cost the indexing run, and
what they save the first visit of a results page.

    .venv/bin/python -m benchmarks.thumbnails --pictures 200 --photos 40

Indexing: the same folder (``--pictures`` seeded 1024x768 JPEGs, benchmarks.common, and
``--photos`` seeded 4032x3024 JPEGs, a phone camera's size) indexed into a fresh library three
times in one run, in turn: with no thumbnails (``--thumbnails off``, as before), with the cards'
sizes only (256, 512, 768) and with every size (the default: those and the 1600 px preview).
ViT-B-32 with seeded random weights (the real model's compute), ``--workers`` decoders.

A 50-card results page (``/?q=...&k=50``), served in this process (werkzeug, threaded) to
headless Chromium, browser cache off: *cold* is the library indexed without thumbnails (each
made on request, as before this change); *prepared* is the library indexed with them. Measured:
the first screen's thumbnails all loaded (from the navigation's start) at 1440x900 and at
390x844 (3x), then every card's thumbnail (the page scrolled to each card). Figures go to
benchmarks/results/thumbnails.json (not committed).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

from benchmarks.common import generated_jpegs, load_embedder, machine, print_table, write_results
from benchmarks.screenshots import FIRST_SCREEN, browser, serve, wait_for

CARDS = 50
MODES = {"off": (), "cards": (256, 512, 768), "all (default)": (256, 512, 768, 1600)}
SIZES = {"desktop": (1440, 900, 1, False), "phone": (390, 844, 3, True)}
#: Every card's picture loaded, the page scrolled card by card so that lazy images load.
ALL_CARDS = """
const cards = Array.from(document.querySelectorAll('#results li.card img'));
const pending = cards.find(img => !(img.complete && img.naturalWidth > 0));
if (pending) { pending.scrollIntoView({block: 'center'}); return null; }
return [cards.length, performance.now()];
"""


def large_photos(count: int, folder: Path) -> Path:
    """``count`` seeded 4032x3024 JPEGs (a 1024x768 picture enlarged, plus grain), kept."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    small = generated_jpegs(count, folder.parent / "photo-sources")
    for number, source in enumerate(sorted(small.glob("*.jpg"))[:count]):
        path = folder / f"photo_{number:04d}.jpg"
        if path.exists():
            continue
        rng = np.random.default_rng(5000 + number)
        with Image.open(source) as picture:
            large = np.asarray(picture.resize((4032, 3024), Image.Resampling.BICUBIC), np.int16)
        grain = rng.normal(0, 4, (3024, 4032, 1)).astype(np.int16)
        Image.fromarray(np.clip(large + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
    return folder


def index_once(pictures: Path, library_dir: Path, sizes: tuple[int, ...], workers: int):
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.library import Library

    embedder, _spec = load_embedder()
    library = Library.open(library_dir, embedder=embedder)
    options = IndexingOptions(
        batch_size=32, workers=workers, show_progress=False, tag=False, thumbnail_sizes=sizes
    )
    started = time.perf_counter()
    summary = Indexer(library, embedder, options).index([pictures])
    seconds = time.perf_counter() - started
    cache = library.directory / "thumbnails"
    files = list(cache.glob("*/*")) if cache.is_dir() else []
    row = {
        "seconds": round(seconds, 1),
        "images_per_s": round(summary.added / seconds, 2),
        "thumbnail_files": len(files),
        "thumbnail_mib": round(sum(f.stat().st_size for f in files) / 2**20, 1),
    }
    return library, row


def page_times(library, query: str) -> list[dict]:
    """First screen and every card, at both sizes, browser cache off."""
    server, url = serve(library)
    # The text tower loads on the first search: not what is measured here.
    with urlopen(f"{url}/api/search?q=warming+up&k=1") as response:
        response.read()
    rows = []
    try:
        with browser() as driver:
            from page_browser import use_size

            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
            for size in SIZES:
                use_size(driver, size)
                driver.get(f"{url}/?q={query}&k={CARDS}")
                shown, first_ms = wait_for(driver, FIRST_SCREEN, timeout=300)
                cards, all_ms = wait_for(driver, ALL_CARDS, timeout=600)
                rows.append({"size": size, "first_screen": shown,
                             "first_screen_ms": round(first_ms), "cards": cards,
                             "all_cards_ms": round(all_ms)})  # fmt: skip
    finally:
        server.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pictures", type=int, default=200)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="each mode indexed this many times")
    parser.add_argument("--work", type=Path, help="keep the generated pictures here")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per thumbnail otherwise
    work = args.work or Path(tempfile.mkdtemp(prefix="pixsift-thumbs-"))
    pictures = work / "pictures"
    generated_jpegs(args.pictures, pictures / "generated")
    if args.photos:
        large_photos(args.photos, pictures / "photos")
    libraries = work / "libraries"
    shutil.rmtree(libraries, ignore_errors=True)
    indexing, kept = [], {}
    # In turn, round after round: a machine that gets busier mid-run skews every mode alike.
    for round_number in range(1, args.rounds + 1):
        for mode, sizes in MODES.items():
            if mode in kept:
                kept.pop(mode).close()
            folder = libraries / f"{mode.split()[0]}-{round_number}"
            library, row = index_once(pictures, folder, sizes, args.workers)
            indexing.append({"round": round_number, "thumbnails": mode, **row})
            print(indexing[-1], flush=True)  # progress: a run takes minutes on a busy machine
            kept[mode] = library
    print_table(indexing, ["round", "thumbnails", "seconds", "images_per_s", "thumbnail_files",
                           "thumbnail_mib"])  # fmt: skip
    page = []
    for name, mode in (("cold (made on request)", "off"), ("prepared", "all (default)")):
        for row in page_times(kept[mode], "a+photo"):
            page.append({"library": name, **row})
    for library in kept.values():
        library.close()
    print_table(page, ["library", "size", "first_screen", "first_screen_ms", "cards",
                       "all_cards_ms"])  # fmt: skip
    path = write_results(
        "thumbnails",
        {"machine_at_end": machine(), "pictures": args.pictures, "photos": args.photos,
         "workers": args.workers, "indexing": indexing, "page_50_cards": page},
    )  # fmt: skip
    print(f"figures in {path}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
