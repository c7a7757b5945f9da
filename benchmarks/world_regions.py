"""Region evidence for the two-word cutoff (issue 17, item 6): does scoring a picture by the best
of its whole embedding and a few region embeddings keep "a <colour> <shape>"'s true scenes at a
sigmoid model's own P >= 0.5, while still showing nothing for colour-shape pairs no scene holds?

    nice .venv/bin/python -m benchmarks.world_regions --library LIB --folder SCENES \
        --model CONFIG --pretrained CKPT --scenes 400
    (LIB: an indexed world library and SCENES the folder it indexed, as benchmarks/world_sigmoid.py)

The whole-picture vectors are the library's own; the region vectors come from the library's
embedder (the product's towers and preprocessing) on pieces of each picture: "crop" cuts the
window out (the embedder scales it up to its input), "mask" keeps the canvas and paints
everything outside the window with the picture's median colour (objects keep their drawn size).
A picture scores max over its vectors of P = sigmoid(scale * cosine + bias), or a variant:
whole only, regions only, or P of the mean of the whole cosine and the best region cosine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import print_table, write_results
from benchmarks.world.scenes import scenes
from benchmarks.world_figures import _by_path
from benchmarks.world_files import WorldPicture
from benchmarks.world_quality import EVAL_SEED
from benchmarks.world_region_figures import (
    Truth,
    figures_for,
    object_certainty,
    table_rows,
    twin_label_share,
)

Box = tuple[float, float, float, float]  # left, top, right, bottom: shares of the picture


def grid(per_side: int, size: float) -> tuple[Box, ...]:
    """``per_side`` x ``per_side`` square windows of side ``size``, spread edge to edge."""
    step = (1.0 - size) / (per_side - 1) if per_side > 1 else 0.0
    return tuple(
        (col * step, row * step, col * step + size, row * step + size)
        for row in range(per_side)
        for col in range(per_side)
    )


WHOLE: tuple[Box, ...] = ((0.0, 0.0, 1.0, 1.0),)
CENTRE: tuple[Box, ...] = ((0.25, 0.25, 0.75, 0.75),)
LAYOUTS: dict[str, tuple[Box, ...]] = {
    "2x2 half": grid(2, 0.5),
    "2x2 half + centre": grid(2, 0.5) + CENTRE,
    "3x3 half, stride 1/4": grid(3, 0.5),
    "4x4 0.4, stride 0.2": grid(4, 0.4),
}
KINDS = ("crop", "mask")
ORACLE = "oracle: 0.4 on each object"


def median_colour(image: Image.Image) -> tuple[int, ...]:
    return tuple(int(v) for v in np.median(np.asarray(image).reshape(-1, 3), axis=0))


def region_picture(
    image: Image.Image, box: Box, kind: str, fill: tuple[int, ...] | None = None
) -> Image.Image:
    """The window ``box`` of ``image``: cut out ("crop") or on the canvas with the rest painted
    ``fill``, by default the picture's median colour ("mask")."""
    width, height = image.size
    pixels = (round(box[0] * width), round(box[1] * height))
    pixels += (round(box[2] * width), round(box[3] * height))
    if kind == "crop":
        return image.crop(pixels)
    if kind != "mask":
        raise ValueError(f"region kind must be crop or mask, not {kind!r}")
    canvas = Image.new("RGB", image.size, fill or median_colour(image))
    canvas.paste(image.crop(pixels), pixels[:2])
    return canvas


def region_vectors(
    embedder,
    images: Sequence[Image.Image],
    boxes: Sequence[Sequence[Box]],
    kind: str,
    batch: int = 64,
) -> tuple[np.ndarray, float]:
    """(pictures x regions x dimension unit vectors, seconds spent cutting and embedding), with
    ``boxes[n]`` picture n's windows (the same count for every picture)."""
    started = time.perf_counter()
    pieces = []
    for image, own in zip(images, boxes, strict=True):
        fill = median_colour(image) if kind == "mask" else None  # once a picture
        pieces += [region_picture(image, box, kind, fill) for box in own]
    vectors = [
        embedder.embed_images(pieces[at : at + batch]) for at in range(0, len(pieces), batch)
    ]
    seconds = time.perf_counter() - started
    return np.concatenate(vectors).reshape(len(images), len(boxes[0]), -1), seconds


def object_boxes(picture: WorldPicture, side: float = 0.4, count: int = 3) -> list[Box]:
    """The oracle: a ``side`` window centred on each object the scene holds (kept inside the
    picture), the first repeated up to ``count``. What no product knows; the ceiling of what
    windows on the objects could give this model."""
    boxes = []
    for thing in picture.scene.things:
        left = min(max(thing.x - side / 2, 0.0), 1.0 - side)
        top = min(max(thing.y - side / 2, 0.0), 1.0 - side)
        boxes.append((left, top, left + side, top + side))
    return boxes + [boxes[0]] * (count - len(boxes))


def token_results(embedder, images: Sequence[Image.Image], whole: np.ndarray, figures) -> dict:
    """The patch-token alternatives (benchmarks/world_region_tokens.py) on the torch towers;
    ``figures`` turns region vectors into :func:`figures_for`'s figures."""
    from benchmarks.world_region_tokens import TOKEN_WINDOWS, pooled_tokens, token_subsets

    results = {}
    for name, windows in TOKEN_WINDOWS.items():
        torch_whole, pooled, seconds = pooled_tokens(embedder, images, windows)
        agreement = float(np.min(np.sum(torch_whole * whole, axis=1)))
        results[f"{name} (pooled tokens)"] = {
            "passes_per_picture": 1,
            "embed_ms_per_picture": round(1000 * seconds / len(images), 2),
            "whole_vs_library_min_cosine": round(agreement, 5),
            "variants": {k: v for k, v in figures(pooled).items() if k != "whole"},
        }
        subsets, seconds = token_subsets(embedder, images, windows)
        results[f"{name} (token subset)"] = {
            "passes_per_picture": f"{len(windows)} x {windows[0][2] ** 2 + 1} tokens",
            "embed_ms_per_picture": round(1000 * seconds / len(images), 2),
            "variants": {k: v for k, v in figures(subsets).items() if k != "whole"},
        }
    return results


def measure(
    library, folder: Path, pictures: Sequence[WorldPicture], layouts: dict, tokens=None
) -> dict:
    """Every layout's and kind's figures (and the token alternatives with ``tokens``, a torch
    embedder of the library's model)."""
    scene_of = _by_path(library, pictures)
    ids, vectors = library.store.all_embeddings(library.store.model_id() or "")
    keep = [row for row, i in enumerate(ids.tolist()) if i in scene_of]
    ordered = [scene_of[ids[row]] for row in keep]
    whole = vectors[keep]
    truth = Truth(ordered)
    embedder = library.embedder
    scale = embedder.sigmoid_scale
    if scale is None:
        raise SystemExit(f"{embedder.model_id} is not a sigmoid-loss model")
    texts = embedder.embed_texts(truth.texts())
    images = [Image.open(folder / p.name).convert("RGB") for p in ordered]
    _, whole_seconds = region_vectors(embedder, images, [WHOLE] * len(images), "crop")
    results = {
        "whole picture": {
            "passes_per_picture": 1,
            "embed_ms_per_picture": round(1000 * whole_seconds / len(images), 2),
            "variants": {"whole": figures_for(scale, truth, texts, whole, whole[:, None])["whole"]},
        }
    }
    layouts = {name: [boxes] * len(images) for name, boxes in layouts.items()}
    layouts[ORACLE] = [object_boxes(p) for p in ordered]
    for name, boxes in layouts.items():
        for kind in KINDS:
            regions, seconds = region_vectors(embedder, images, boxes, kind)
            if (name, kind) == (ORACLE, "mask"):
                oracle_windows = regions
            results[f"{name} ({kind})"] = {
                "passes_per_picture": len(boxes[0]),
                "embed_ms_per_picture": round(1000 * seconds / len(images), 2),
                "variants": {
                    k: v
                    for k, v in figures_for(scale, truth, texts, whole, regions).items()
                    if k != "whole"
                },
            }
    lone = [n for n, p in enumerate(ordered) if len(p.scene.things) == 1]
    certainty = {  # each object alone: the one-object scenes, and every object's oracle window
        "one_object_scenes_whole": object_certainty(
            scale, embedder, [ordered[n] for n in lone], whole[lone][:, None]
        ),
        "oracle_windows_mask": object_certainty(scale, embedder, ordered, oracle_windows),
    }
    if tokens is not None:
        results.update(
            token_results(
                tokens, images, whole, lambda r: figures_for(scale, truth, texts, whole, r)
            )
        )
    return {
        "pictures": len(ordered),
        "present_pairs": len(truth.present),
        "absent_pairs": len(truth.absent),
        "scale_bias": list(scale),
        "object_certainty": certainty,
        "results": results,
    }


def main() -> None:
    from pixsift.search.library import Library
    from pixsift.search.model.loading import set_thread_budget
    from pixsift.search.model.spec import ModelSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--scenes", type=int, default=400)
    parser.add_argument("--model", required=True)
    parser.add_argument("--pretrained", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tokens", action="store_true", help="also the patch-token windows")
    args = parser.parse_args()
    set_thread_budget(args.threads)  # timings per core; the machine is shared
    made = scenes(EVAL_SEED, args.scenes, allow_held_out=False)
    pictures = [WorldPicture(f"scene-{n:05d}.jpg", scene) for n, scene in enumerate(made)]
    spec = ModelSpec(model_name=args.model, pretrained=args.pretrained)
    load_before = os.getloadavg()
    tokens = None
    if args.tokens:  # the ViT's tokens: open_clip's torch module, not the ONNX towers
        from pixsift.search.model.loading import load_embedder
        from pixsift.search.model.spec import Runtime

        tokens = load_embedder(spec, Runtime(backend="torch", threads=args.threads))
    with Library.open(args.library, model_spec=spec) as library:
        figures = measure(library, args.folder, pictures, LAYOUTS, tokens)
    figures["twin_label_share"] = twin_label_share()  # the sigmoid model's training batches
    figures["load_average_before"] = load_before
    figures["threads"] = args.threads
    print_table(table_rows(figures["results"]), list(table_rows(figures["results"])[0]))
    print(json.dumps({k: v for k, v in figures.items() if k != "results"}, indent=1))
    print(write_results("world_regions", figures))


if __name__ == "__main__":
    main()
