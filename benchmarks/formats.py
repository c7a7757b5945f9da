"""Formats: time to read a camera RAW file from its embedded preview versus demosaicing it, and
what pixsift makes of a folder with one file of every format (indexed as which format, or
skipped and why).

    nice -n 5 .venv/bin/python -m benchmarks.formats [--megapixels 24] [--repeat 5]

The RAW files are DNGs written by tifffile (sensor data 12-bit RGGB, an 8-bit RGB preview in
IFD0, as Adobe's converter lays them out): one with a 1620x1080 preview (used), one with a
320x213 preview (too small: demosaiced at half size). Each time is a whole
``read_image_for_embedding`` at the model's input size (224): reading, hashing, decoding, EXIF.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table, write_results
from benchmarks.format_samples import write_dng_preview, write_format_folder
from pixsift.indexer.planning import plan_indexing
from pixsift.search.media.formats import NOT_IMAGE_EXTENSIONS, SUPPORTED_EXTENSIONS
from pixsift.search.media.imagefile import ImageRejectedError, read_image_for_embedding


def raw_timings(folder: Path, megapixels: float, repeat: int) -> list[dict]:
    width = int((megapixels * 1e6 * 1.5) ** 0.5) // 2 * 2
    size = (width, width * 2 // 3 // 2 * 2)
    rows = []
    for label, preview in (("embedded preview", (1620, 1080)), ("demosaic", (320, 213))):
        path = write_dng_preview(folder / f"{label[:4]}.dng", preview_size=preview, size=size)
        times, pixels = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            loaded = read_image_for_embedding(path, min_side=224)
            times.append(time.perf_counter() - started)
            pixels = loaded.pixels.size
        rows.append(
            {
                "path": label,
                "sensor": f"{size[0]}x{size[1]}",
                "file_mib": round(path.stat().st_size / 2**20, 1),
                "decoded": f"{pixels[0]}x{pixels[1]}",
                "median_ms": round(statistics.median(times) * 1000, 1),
                "min_ms": round(min(times) * 1000, 1),
            }
        )
    return rows


def format_table(folder: Path) -> list[dict]:
    from pixsift.search.library import Library

    samples = write_format_folder(folder / "every-format")
    with tempfile.TemporaryDirectory() as library_directory:
        library = Library.open(Path(library_directory))
        try:
            plan = plan_indexing(
                library.store,
                [folder / "every-format"],
                SUPPORTED_EXTENSIONS,
                skip_extensions=NOT_IMAGE_EXTENSIONS,
            )
        finally:
            library.close()
    candidates = {Path(os.fsdecode(item.scanned.path_bytes)).name for item in plan.work}
    rows = []
    for sample in samples:
        row = {"file": sample.name, "expected": sample.indexed_as or "skipped"}
        if sample.name not in candidates:
            row["result"], row["reason"] = "not indexed", "not an image (not recorded)"
        else:
            try:
                loaded = read_image_for_embedding(folder / "every-format" / sample.name)
                row["result"], row["reason"] = f"indexed as {loaded.metadata.format}", ""
            except ImageRejectedError as error:
                row["result"], row["reason"] = "skipped", error.reason
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        raw = raw_timings(folder, arguments.megapixels, arguments.repeat)
        print_table(raw, ["path", "sensor", "file_mib", "decoded", "median_ms", "min_ms"])
        print()
        table = format_table(folder)
        print_table(table, ["file", "expected", "result", "reason"])
    path = write_results(
        "formats", {"load_average": os.getloadavg(), "raw": raw, "every_format": table}
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
