"""Indexing side by side with rclip 3.3.0: the same folder (the peer script's 300 seeded 1024x768
JPEGs), the same architecture (random-weights ViT-B-32-256), whole commands, runs interleaved.
Each run starts from an empty library (rclip: its database removed); pixsift's towers are
exported once beforehand (benchmarks.startup's preparation), as a user's second library would
find them. Also pixsift with ViT-B-32 (the default architecture) for the peak-memory target.
Memory is the process tree's peak (RSS summed, and PSS, which counts shared pages once).

    PEER_DIR=/tmp/peer bash /work/shared/peer-rclip.sh      # once: rclip, its towers, the corpus
    .venv/bin/python -m benchmarks.vs_rclip --runs 3 [--peer-dir /tmp/peer]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from benchmarks.common import WORK, print_table, run_measured, write_results
from benchmarks.startup import (
    QUERY,
    corpus,
    peer_directory,
    pixsift_environment,
    pixsift_index,
    prepared_pixsift_library,
    rclip_command,
    summarise,
)

#: pixsift's rows (name: settings beside the defaults), each a fresh library of the folder.
#: "defaults": int8 towers for a new library on a CPU, the 256 and 512 px renditions; "before":
#: what the defaults were until section 38 (fp32, four renditions); "no thumbnails": rclip's
#: work, at either precision (fp32: rclip's vectors too).
VARIANTS: dict[str, dict[str, str]] = {
    "pixsift index ViT-B-32-256 (defaults)": {},
    "pixsift index ViT-B-32-256 fp32, four renditions (before)": {
        "PIXSIFT_QUANTIZE": "fp32",
        "PIXSIFT_THUMBNAILS": "256,512,768,1600",
    },
    "pixsift index ViT-B-32-256 fp32, no thumbnails": {
        "PIXSIFT_QUANTIZE": "fp32",
        "PIXSIFT_THUMBNAILS": "off",
    },
    "pixsift index ViT-B-32-256 int8, no thumbnails": {"PIXSIFT_THUMBNAILS": "off"},
}
RCLIP_ROW = "rclip index ViT-B-32-256"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--peer-dir", default=None)
    arguments = parser.parse_args()
    peer = peer_directory(arguments.peer_dir)
    folder = corpus(peer, arguments.images)
    environment = pixsift_environment()
    _export_towers_once(folder, environment)
    library = WORK / "vs-rclip-library"
    rclip = rclip_command(peer, "-f", "-t", "5", QUERY)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    if rclip:
        results[RCLIP_ROW] = []
    results["pixsift index ViT-B-32 (defaults)"] = []
    for _ in range(arguments.runs):  # interleaved: each round runs every row once
        for name, settings in VARIANTS.items():
            shutil.rmtree(library, ignore_errors=True)
            command = pixsift_index(folder, library)
            results[name].append(run_measured(command, env={**environment, **settings}))
        if rclip:
            for stale in (peer / "rclip-data").glob("db.sqlite3*"):
                stale.unlink()
            results[RCLIP_ROW].append(run_measured(rclip[0], cwd=folder, env=rclip[1]))
        shutil.rmtree(library, ignore_errors=True)
        command = pixsift_index(folder, library, "ViT-B-32")
        results["pixsift index ViT-B-32 (defaults)"].append(run_measured(command, env=environment))
    _report(results, arguments.images, folder)


def _export_towers_once(folder: Path, environment: dict[str, str]) -> None:
    """Every tower the rows run exported beforehand (fp32 and int8, both architectures), as a
    user's second library finds them: a first run on an empty folder loads the model."""
    prepared_pixsift_library(folder)
    empty = WORK / "empty-folder"
    empty.mkdir(parents=True, exist_ok=True)
    scratch = WORK / "export-library"
    for model_name in ("ViT-B-32-256", "ViT-B-32"):
        for precision in ("fp32", "int8"):
            shutil.rmtree(scratch, ignore_errors=True)
            settings = {**environment, "PIXSIFT_QUANTIZE": precision}
            run_measured(pixsift_index(empty, scratch, model_name), env=settings)


def _report(results: dict[str, list[dict[str, float]]], images: int, folder: Path) -> None:
    rows = []
    for name, runs in results.items():
        row = summarise(name, runs)
        row["images_per_s"] = round(images / float(row["median_s"]), 2)
        rows.append(row)
    speeds = {row["measure"]: float(row["images_per_s"]) for row in rows}
    if RCLIP_ROW in speeds:
        for name in VARIANTS:
            ratio = speeds[name] / speeds[RCLIP_ROW]
            print(f"{name} / rclip, images/s, whole command: {ratio:.2f}x")
    columns = ["measure", "median_s", "median_cpu_s", "runs_s", "images_per_s", "peak_rss_mib"]
    print_table(rows, columns)
    path = write_results("vs_rclip", {"folder": str(folder), "images": images, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
