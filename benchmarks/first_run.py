"""A user's first ``pixsift index`` against a later one, 200 generated JPEGs, random-weights
ViT-B-32 (same compute as the real model).

The ONNX towers are exported once beforehand (``pixsift index --no-tags`` of one picture into a
throwaway library, same cache folder), so the export is not in either figure. "first" is a new
library with an empty tag-label cache (the state of a user's first run); "later" is another new
library over the same 200 pictures once the label cache holds this model's labels (every run
after the first). Both are whole commands, start-up included. Where the command leaves tagging
to a background child, its time until the tags are written is reported as well.

    nice python -m benchmarks.first_run [--code DIR] [--name first_run]

``--code`` runs another checkout's pixsift (e.g. an export of main) with this script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import MODEL_NAME, PREPROCESSING_TAG, WORK, checkpoint_path, write_results

PICTURES = 200


def write_jpegs(folder: Path, count: int, seed: int = 0) -> None:
    """Seeded pictures with smooth gradients and blocks (a JPEG of noise decodes unlike a photo)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:480, 0:640]
    for number in range(count):
        base = rng.uniform(0, 255, size=3)
        slope = rng.uniform(-0.3, 0.3, size=(2, 3))
        pixels = base + xs[..., None] * slope[0] + ys[..., None] * slope[1]
        for _ in range(6):
            top, left = rng.integers(0, 400), rng.integers(0, 560)
            pixels[top : top + 80, left : left + 80] = rng.uniform(0, 255, size=3)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        image.save(folder / f"picture-{number:04d}.jpg", quality=90)


def pixsift(code: Path, environment: dict, *arguments: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from pixsift.cli.main import run; run()", *arguments],
        cwd=code, env=environment, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - started, done.stdout.strip()


def wait_for_background(library: Path, output: str, started: float) -> float | None:
    """Seconds from ``started`` until the background tagging child named in ``output`` exits."""
    if "pid " not in output:
        return None
    pid = int(output.split("pid ")[1].split(",")[0])
    while (
        Path(f"/proc/{pid}").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    ):
        time.sleep(0.2)  # bounded by the child, which ends when its tags are written
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--name", default="first_run")
    arguments = parser.parse_args()
    code = arguments.code.resolve()
    work = WORK / arguments.name
    shutil.rmtree(work, ignore_errors=True)
    write_jpegs(work / "pictures", PICTURES)
    write_jpegs(work / "one", 1, seed=99)
    environment = dict(
        os.environ, PIXSIFT_CACHE_DIR=str(work / "cache"), PYTHONPATH=str(code),
        PIXSIFT_MODEL=MODEL_NAME, PIXSIFT_PRETRAINED=str(checkpoint_path()),
        PIXSIFT_PREPROCESSING_TAG=PREPROCESSING_TAG,
    )  # fmt: skip
    export, _ = pixsift(
        code,
        environment,
        "index",
        "--library",
        str(work / "export"),
        "--no-tags",
        str(work / "one"),
    )
    rows = {"export_seconds": round(export, 1)}
    for name in ("first", "later"):
        library = work / name
        started = time.perf_counter()
        seconds, output = pixsift(
            code, environment, "index", "--library", str(library), str(work / "pictures")
        )
        tagged = wait_for_background(library, output, started)
        rows[name] = {
            "seconds": round(seconds, 1),
            "until_tagged_seconds": tagged and round(tagged, 1),
            "output": output,
        }
        print(name, rows[name])
    later = rows["later"]["seconds"]
    rows["first_over_later"] = round(rows["first"]["seconds"] / later, 2)
    print("first / later:", rows["first_over_later"])
    path = write_results(arguments.name, {"pictures": PICTURES, "code": str(code), **rows})
    print(path)


if __name__ == "__main__":
    main()
