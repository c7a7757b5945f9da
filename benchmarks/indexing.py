"""Indexing speed: ``pixsift index`` (the Indexer it runs) next to the model alone.

Data: Debian's openclipart-png (real PNG clip art; installed by this script's setup step with
``apt-get install -y openclipart-png`` when missing) and a folder of generated 12-megapixel
JPEGs. The model is ViT-B-32 with seeded random weights saved as a checkpoint file: the same
compute as the published weights. "Model alone" embeds pre-decoded, preprocessed batches of the
same batch size; "decode" is read + decode + preprocess of the same files on one core.

    .venv/bin/python -m benchmarks.indexing                    # all of openclipart + 100 photos
    .venv/bin/python -m benchmarks.indexing --quick            # 300 clip-art files + 20 photos
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import WORK, load_served_embedder, print_table, rss_mib, write_results

OPENCLIPART = Path("/usr/share/openclipart/png")


def ensure_openclipart() -> Path:
    if not OPENCLIPART.exists():
        subprocess.run(["apt-get", "install", "-y", "openclipart-png"], check=True)
    return OPENCLIPART


def subset(source: Path, count: int | None, name: str) -> Path:
    """A folder of symlinks to the first ``count`` PNGs (sorted) of ``source``."""
    files = sorted(source.rglob("*.png"))
    if count is None:
        return source
    target = WORK / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for number, path in enumerate(files[:count]):
        (target / f"{number:05d}.png").symlink_to(path)
    return target


def generated_photos(count: int) -> Path:
    target = WORK / f"photos-12mp-{count}"
    if target.exists() and len(list(target.glob("*.jpg"))) == count:
        return target
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        small = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC)
        noise = rng.integers(0, 24, (3000, 4000, 3), dtype=np.uint8)
        picture = Image.fromarray(np.asarray(picture) ^ noise)
        picture.save(target / f"photo-{number:03d}.jpg", quality=90)
    return target


def model_alone(embedder, batch_size: int, batches: int) -> float:
    rng = np.random.default_rng(0)
    size = embedder.image_size
    pixel_batches = [
        rng.standard_normal((batch_size, 3, size, size)).astype(np.float32) for _ in range(batches)
    ]
    embedder.embed_pixel_batch(pixel_batches[0][:2])  # warm up
    started = time.perf_counter()
    for batch in pixel_batches:
        embedder.embed_pixel_batch(batch)
    return batch_size * batches / (time.perf_counter() - started)


def decode_rate(folder: Path, embedder, sample: int) -> float:
    import torch

    from pixsift.indexer import decoding

    # The worker initialiser sets one torch thread: restore the model's threads afterwards.
    threads = torch.get_num_threads()
    plan = decoding.pixel_plan_for(embedder.preprocess)  # what DecoderPool hands its workers
    decoding._initialise_worker(plan, None if plan else embedder.preprocess, embedder.image_size)
    try:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg"))
        started = time.perf_counter()
        for path in files[:sample]:
            decoding.decode_file(bytes(path))
        return len(files[:sample]) / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)


def index_folder(folder: Path, embedder, spec, batch_size: int) -> dict:
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.library import Library

    library_directory = WORK / f"index-{folder.name}"
    if library_directory.exists():
        shutil.rmtree(library_directory)
    with Library.open(library_directory, embedder=embedder) as library:
        options = IndexingOptions(batch_size=batch_size, show_progress=False)
        summary = Indexer(library, embedder, options, model_spec=spec).index([folder])
    return {
        "images": summary.processed,
        "failed": summary.failed,
        "elapsed_s": round(summary.elapsed_seconds, 1),
        "images_per_s": round(summary.images_per_second, 2),
        "library": str(library_directory),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clipart", type=int, default=None, help="how many clip-art files")
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    clipart_count = 300 if args.quick and args.clipart is None else args.clipart
    photo_count = 20 if args.quick else args.photos
    clipart = subset(ensure_openclipart(), clipart_count, "openclipart")
    photos = generated_photos(photo_count)
    # The towers `pixsift index` runs by default (ONNX Runtime on a CPU), on every core.
    embedder, spec = load_served_embedder(threads=None)
    model_rate = model_alone(embedder, args.batch_size, 4 if args.quick else 8)
    rows = [{"data": "model alone (pre-decoded)", "images_per_s": round(model_rate, 2)}]
    print_table(rows, ["data", "images_per_s"])
    for name, folder in (("openclipart-png", clipart), ("12 MP JPEG", photos)):
        decode = decode_rate(folder, embedder, 40)
        result = index_folder(folder, embedder, spec, args.batch_size)
        rows.append(
            {
                "data": name,
                **result,
                "decode_per_s_one_core": round(decode, 1),
                "vs_model": f"{result['images_per_s'] / model_rate:.0%}",
                "rss_mib": round(rss_mib()),
            }
        )
        print_table(rows[-1:], list(rows[-1].keys()))
    model_after = model_alone(embedder, args.batch_size, 4 if args.quick else 8)
    rows.append({"data": "model alone, again after", "images_per_s": round(model_after, 2)})
    print()
    columns = ["data", "images", "failed", "elapsed_s", "images_per_s"]
    print_table(rows, [*columns, "decode_per_s_one_core", "vs_model", "rss_mib"])
    name = "indexing_quick" if args.quick else "indexing"
    print(f"wrote {write_results(name, {'rows': rows, 'batch_size': args.batch_size})}")


if __name__ == "__main__":
    main()
