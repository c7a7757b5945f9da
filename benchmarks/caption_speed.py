"""Describing speed of the real CoCa ViT-B/32 architecture (open_clip ``coca_ViT-B-32``) at
seeded random weights, on this machine's CPU: seconds per picture by batch size, torch thread
count and decoding (search.caption.decode: greedy with the key/value cache, pixsift's default,
or without it, the full forward at every token as open_clip computes it; or the cached step run
by ONNX Runtime, search.caption.decode_onnx, exported first and checked against torch's ids).

Random weights never choose the end token, so every caption runs to the length limit: the
figures are given at 20 tokens (a long MS-COCO caption; "a dog sitting on a couch next to a
cat." is 11). Each figure covers preprocessing, the image tower and the decoding of the token
ids (turning ids into words is a tokenizer lookup).

Run: ``python -m benchmarks.caption_speed`` (``--pictures 16 --batches 1 8 --threads 1 2
--tokens 20 --decodings cached uncached onnx``); results in
benchmarks/results/caption_speed.json and a table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import numpy as np
import open_clip
import torch
from PIL import Image

from benchmarks.common import WORK, print_table, write_results
from pixsift.search.caption.coca import CocaCaptioner
from pixsift.search.caption.decode import greedy_cached, greedy_uncached
from pixsift.search.caption.decode_onnx import export_decoder_step, greedy_onnx, onnx_session

MODEL = "coca_ViT-B-32"
DECODINGS = {"cached": greedy_cached, "uncached": greedy_uncached, "onnx": None}


def random_captioner(seed: int = 0) -> CocaCaptioner:
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL, pretrained=None)
    torch.nn.init.normal_(model.text_decoder.text_projection, std=512**-0.5)
    return CocaCaptioner(model, preprocess, open_clip.get_tokenizer(MODEL), f"{MODEL}:random")


def pictures(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
            for _ in range(count)]  # fmt: skip


def describe_ids(
    captioner: CocaCaptioner, images: list[Image.Image], decoding: str
) -> list[list[int]]:
    """What ``captioner.describe`` does up to the token ids, with the chosen decoding."""
    pixels = torch.stack([captioner.preprocess(image.convert("RGB")) for image in images])
    if decoding == "onnx":
        session = _onnx_sessions[torch.get_num_threads()]
        return greedy_onnx(
            session, captioner.model, pixels, captioner.special, captioner.max_tokens
        )
    decode = DECODINGS[decoding]
    return decode(captioner.model, pixels, captioner.special, captioner.max_tokens)


#: ONNX Runtime sessions of the exported decoder step, by thread count.
_onnx_sessions: dict[int, object] = {}


def prepare_onnx(captioner: CocaCaptioner, images: list[Image.Image], threads: list[int]) -> float:
    """Export the decoder step once, open a session per thread count, and check that it chooses
    torch's token ids on the benchmark's pictures; returns the export's seconds."""
    path = WORK / "caption_speed" / "decoder_step.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    export_decoder_step(captioner.model, path)
    seconds = time.perf_counter() - started
    _onnx_sessions.update({count: onnx_session(path, count) for count in threads})
    torch.set_num_threads(threads[0])
    if describe_ids(captioner, images, "onnx") != describe_ids(captioner, images, "cached"):
        raise SystemExit("the ONNX decoder step chose other tokens than torch's cache")
    return seconds


def seconds_per_picture(
    captioner: CocaCaptioner, images: list[Image.Image], batch: int, decoding: str
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) per picture. On a shared machine the CPU
    time is the figure that does not depend on the other jobs (with one torch thread it is
    the wall time the same work takes on an idle core)."""
    describe_ids(captioner, images[:batch], decoding)  # warm-up: first-call allocations
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(images), batch):
        describe_ids(captioner, images[start : start + batch], decoding)
    count = len(images)
    return (time.perf_counter() - started) / count, (time.process_time() - cpu) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=16)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tokens", type=int, nargs="+", default=[20])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decodings", nargs="+", choices=sorted(DECODINGS), default=["cached",
                        "uncached"])  # fmt: skip
    args = parser.parse_args()
    captioner = random_captioner()
    images = pictures(args.pictures)
    if "onnx" in args.decodings:
        captioner.max_tokens = min(args.tokens)
        print(f"decoder step exported in {prepare_onnx(captioner, images, args.threads):.1f} s, "
              "same token ids as torch", flush=True)  # fmt: skip
    rows = []
    for tokens, threads, decoding, batch in itertools.product(
        args.tokens, args.threads, args.decodings, args.batches
    ):
        captioner.max_tokens = tokens
        torch.set_num_threads(threads)
        load = os.getloadavg()[0]
        seconds, cpu = seconds_per_picture(captioner, images, batch, decoding)
        rows.append({"tokens": tokens, "batch": batch, "threads": threads, "decoding": decoding,
                     "s_per_picture": round(seconds, 3), "cpu_s_per_picture": round(cpu, 3),
                     "pictures_per_s": round(1 / seconds, 2),
                     "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)]})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
        # After every row: a run stopped early (two threads on a busy machine) keeps its rows.
        write_results("caption_speed", {"model": MODEL, "pictures": args.pictures, "rows": rows})
    print_table(rows, ["tokens", "batch", "threads", "decoding", "s_per_picture",
                       "cpu_s_per_picture", "pictures_per_s", "load_1min"])  # fmt: skip


if __name__ == "__main__":
    main()
