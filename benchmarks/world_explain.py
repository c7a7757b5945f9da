"""Explanations on the small world, before and after, in one run through the product: files on
disk -> ``pixsift index`` -> ``Explainer`` (what ``pixsift explain`` and the API run). For each
two-object scene and each of its objects, does the hottest cell of "a <colour> <shape>" lie on
that object? Before: every cell blanked in turn with the preprocessing mean
(``full_occlusion``); after: coarse-to-fine insertion on the picture's median colour (the
default, search/explain/refine.py).

    python -m benchmarks.world_explain --model tests/data/world/pixsift-world-vit.json \\
        --pretrained tests/data/world/pixsift-world-vit.safetensors --scenes 400 --explain 200
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import time

from benchmarks.common import WORK, write_results
from benchmarks.world_figures import explanation_figures
from benchmarks.world_files import write_scenes
from benchmarks.world_quality import EVAL_SEED, index_folder
from pixsift.search.explain import service
from pixsift.search.explain.refine import coarse_to_fine, full_occlusion
from pixsift.search.library import Library
from pixsift.search.model.spec import ModelSpec


def measure(library: Library, scenes, count: int) -> dict:
    figures = {}
    default = service.Explainer
    try:
        for name, method in (("before", full_occlusion), ("after", coarse_to_fine)):
            shutil.rmtree(library.directory / service.CACHE_DIRECTORY_NAME, ignore_errors=True)
            # explanation_figures builds its Explainer from the module: this one's method.
            service.Explainer = functools.partial(default, method=method)  # type: ignore[misc]
            started = time.perf_counter()
            figures[name] = explanation_figures(library, scenes, count)
            figures[name]["seconds"] = round(time.perf_counter() - started, 1)
            print(f"{name}: {json.dumps(figures[name])}", flush=True)
    finally:
        service.Explainer = default  # type: ignore[misc]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--pretrained", required=True)
    parser.add_argument("--scenes", type=int, default=400)
    parser.add_argument("--explain", type=int, default=200, help="two-object scenes explained")
    args = parser.parse_args()
    os.environ.setdefault("PIXSIFT_CACHE_DIR", str(WORK / "cache"))
    work = WORK / "world-explain"
    shutil.rmtree(work, ignore_errors=True)
    scenes = write_scenes(work / "scenes", EVAL_SEED, args.scenes)
    index_folder(work / "scenes", work / "library", ["--model", args.model,
                 "--pretrained", args.pretrained])  # fmt: skip
    spec = ModelSpec(model_name=args.model, pretrained=args.pretrained)
    with Library.open(work / "library", model_spec=spec) as library:
        figures = {"scenes": args.scenes, **measure(library, scenes, args.explain)}
    figures["load_average_after"] = os.getloadavg()
    print(f"wrote {write_results('world_explain', figures)}")


if __name__ == "__main__":
    main()
