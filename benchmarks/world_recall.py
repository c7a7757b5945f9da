"""pixsift vs open_clip's reference pipeline: text->image R@1 and R@5 on held-out world scenes,
per file format (JPEG qualities and sizes, EXIF-rotated JPEG, transparent PNG, WebP, HEIC) and
per backend (torch, ONNX Runtime), with the committed world model (tests/data/world/).

    nice -n -10 .venv/bin/python -m benchmarks.world_recall                  # 1,000 scenes
    nice -n -10 .venv/bin/python -m benchmarks.world_recall --scenes 200 --formats webp heic

Writes benchmarks/results/world_recall.json and prints the table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table, write_results
from benchmarks.world.files import FORMATS, write_scenes
from benchmarks.world.quality import (
    CHECKPOINT,
    CONFIG,
    EVAL_SEED,
    load_world_embedder,
    pixsift_recall,
    reference_recall,
    world_spec,
)
from benchmarks.world.scenes import scenes

BACKENDS = ("torch", "onnx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--formats", nargs="+", choices=list(FORMATS), default=list(FORMATS))
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--work", type=Path, default=None, help="keep the files here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="world-recall-"))
    scene_list = scenes(EVAL_SEED, args.scenes)
    spec = world_spec()
    embedders = {backend: load_world_embedder(backend, spec) for backend in args.backends}
    rows = []
    for name in args.formats:
        folder = work / "files" / name
        started = time.perf_counter()
        write_scenes(scene_list, folder, FORMATS[name])
        written_s = time.perf_counter() - started
        reference = reference_recall(folder)
        row = {"format": name, "size": "x".join(map(str, FORMATS[name].size)),
               "queries": reference.queries,
               "ref_r1": round(reference.r1, 3), "ref_r5": round(reference.r5, 3)}  # fmt: skip
        for backend, embedder in embedders.items():
            library = work / "libraries" / f"{name}-{backend}"
            started = time.perf_counter()
            got = pixsift_recall(folder, library, embedder, spec)
            row[f"{backend}_r1"], row[f"{backend}_r5"] = round(got.r1, 3), round(got.r5, 3)
            row[f"{backend}_dr1"] = round(got.r1 - reference.r1, 3)
            row[f"{backend}_index_search_s"] = round(time.perf_counter() - started, 1)
        row["write_s"] = round(written_s, 1)
        print(row, flush=True)
        rows.append(row)
    columns = ["format", "size", "queries", "ref_r1", "ref_r5"]
    for backend in args.backends:
        columns += [f"{backend}_r1", f"{backend}_r5", f"{backend}_dr1"]
    print_table(rows, columns)
    path = write_results("world_recall", {
        "scenes": args.scenes, "seed": EVAL_SEED, "config": CONFIG.name,
        "checkpoint": CHECKPOINT.name, "rows": rows,
    })  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
