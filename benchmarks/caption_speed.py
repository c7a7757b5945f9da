"""Describing speed of the real CoCa ViT-B/32 architecture (open_clip ``coca_ViT-B-32``) at
seeded random weights, on this machine's CPU: seconds per picture by batch size, through
pixsift's captioner (search.caption.coca: batched greedy decoding, torch).

Random weights never choose the end token, so every caption runs to the length limit; the
figures are given at 12 tokens (a typical MS-COCO caption: "a dog sitting on a couch next to a
cat." is 11) and at pixsift's limit of 30, the worst case.

Run: ``python -m benchmarks.caption_speed`` (``--pictures 16 --batches 1 8``); results in
benchmarks/results/caption_speed.json and a table.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import open_clip
import torch
from PIL import Image

from benchmarks.common import print_table, write_results
from pixsift.search.caption.coca import CocaCaptioner

MODEL = "coca_ViT-B-32"


def random_captioner(seed: int = 0) -> CocaCaptioner:
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL, pretrained=None)
    torch.nn.init.normal_(model.text_decoder.text_projection, std=512**-0.5)
    return CocaCaptioner(model, preprocess, open_clip.get_tokenizer(MODEL), f"{MODEL}:random")


def pictures(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
            for _ in range(count)]  # fmt: skip


def seconds_per_picture(
    captioner: CocaCaptioner, images: list[Image.Image], batch: int
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) per picture. On a shared machine the CPU
    time is the figure that does not depend on the other jobs (with one torch thread it is
    the wall time the same work takes on an idle core)."""
    captioner.describe(images[:batch])  # warm-up: first-call allocations
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(images), batch):
        captioner.describe(images[start : start + batch])
    count = len(images)
    return (time.perf_counter() - started) / count, (time.process_time() - cpu) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=16)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tokens", type=int, nargs="+", default=[12, 30])
    args = parser.parse_args()
    captioner = random_captioner()
    images = pictures(args.pictures)
    rows = []
    for tokens in args.tokens:
        captioner.max_tokens = tokens
        for batch in args.batches:
            seconds, cpu = seconds_per_picture(captioner, images, batch)
            rows.append({"tokens": tokens, "batch": batch, "threads": torch.get_num_threads(),
                         "s_per_picture": round(seconds, 3), "cpu_s_per_picture": round(cpu, 3),
                         "pictures_per_s": round(1 / seconds, 2)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    write_results("caption_speed", {"model": MODEL, "pictures": args.pictures, "rows": rows})
    print_table(rows, ["tokens", "batch", "threads", "s_per_picture", "cpu_s_per_picture",
                       "pictures_per_s"])  # fmt: skip


if __name__ == "__main__":
    main()
