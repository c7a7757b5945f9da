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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--peer-dir", default=None)
    arguments = parser.parse_args()
    peer = peer_directory(arguments.peer_dir)
    folder = corpus(peer, arguments.images)
    prepared_pixsift_library(folder)  # exports the ViT-B-32-256 towers once
    environment = pixsift_environment()
    empty = WORK / "empty-folder"
    empty.mkdir(parents=True, exist_ok=True)
    scratch = WORK / "export-library"
    shutil.rmtree(scratch, ignore_errors=True)
    # A first run on an empty folder loads the model: exports the ViT-B-32 towers once.
    run_measured(pixsift_index(empty, scratch, "ViT-B-32"), env=environment)
    # int8 towers (--quantize int8, opt-in): exported once the same way.
    int8 = {**environment, "PIXSIFT_QUANTIZE": "int8"}
    shutil.rmtree(scratch, ignore_errors=True)
    run_measured(pixsift_index(empty, scratch, "ViT-B-32-256"), env=int8)
    library = WORK / "vs-rclip-library"
    rclip = rclip_command(peer, "-f", "-t", "5", QUERY)
    results: dict[str, list[dict[str, float]]] = {"pixsift index ViT-B-32-256": []}
    if rclip:
        results["rclip index ViT-B-32-256"] = []
    results["pixsift index ViT-B-32"] = []
    results["pixsift index ViT-B-32-256 int8"] = []
    for _ in range(arguments.runs):
        for model_name in ("ViT-B-32-256", "ViT-B-32"):
            shutil.rmtree(library, ignore_errors=True)
            command = pixsift_index(folder, library, model_name)
            run = run_measured(command, env=environment)
            results[f"pixsift index {model_name}"].append(run)
            if rclip and model_name == "ViT-B-32-256":
                for stale in (peer / "rclip-data").glob("db.sqlite3*"):
                    stale.unlink()
                results["rclip index ViT-B-32-256"].append(
                    run_measured(rclip[0], cwd=folder, env=rclip[1])
                )
        shutil.rmtree(library, ignore_errors=True)
        command = pixsift_index(folder, library, "ViT-B-32-256")
        results["pixsift index ViT-B-32-256 int8"].append(run_measured(command, env=int8))
    rows = []
    for name, runs in results.items():
        row = summarise(name, runs)
        row["images_per_s"] = round(arguments.images / float(row["median_s"]), 2)
        rows.append(row)
    speeds = {row["measure"]: row["images_per_s"] for row in rows}
    if rclip:
        ratio = speeds["pixsift index ViT-B-32-256"] / speeds["rclip index ViT-B-32-256"]
        print(f"pixsift / rclip, images/s, whole command: {ratio:.2f}x")
        ratio = speeds["pixsift index ViT-B-32-256 int8"] / speeds["rclip index ViT-B-32-256"]
        print(f"pixsift int8 / rclip, images/s, whole command: {ratio:.2f}x")
    columns = ["measure", "median_s", "median_cpu_s", "runs_s", "images_per_s", "peak_rss_mib"]
    print_table(rows, columns)
    path = write_results(
        "vs_rclip", {"folder": str(folder), "images": arguments.images, "rows": rows}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
