"""Quality on the small world, through the product: files on disk -> ``pixsift index`` -> the
library's own search (the engine the CLI, the API and the page use).

Scenes come from benchmarks/world (a seed apart from training's, and without the held-out
colour-shape pairs, so those are combinations absent from the library). Figures:

* retrieval: ``pixsift eval`` of each scene's full caption, semantic / hybrid / keyword, and
  the drop of the int8 towers and of approximate indexes (IVF, PQ at their tuned settings);
* the relevance cutoff: for "a <colour> <shape>" of every present pair, the precision and
  recall of the default list (which stops where matches end) against the scenes holding that
  pair; for the absent pairs, how many results are shown (nothing should be);
* query algebra: "a red star" - "red" + "blue" finds a blue star in its top 5; a negative term
  removes what it names;
* tags: precision/recall of the calibrated zero-shot tags with the world's shapes and colours as
  the vocabulary, against each scene's true shapes and colours;
* explanations: in two-object scenes, the hottest cell for "a <colour> <shape>" of one object
  lies on that object;
* videos: a caption of shot k finds that shot's moment first.

Run: ``python -m benchmarks.world_quality --model CONFIG.json --pretrained CKPT.pt``
(``--scenes 1000``); results in benchmarks/results/world_quality.json and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import RESULTS, WORK, write_results
from benchmarks.world_figures import (
    algebra_figures,
    cutoff_figures,
    explanation_figures,
    negative_figures,
    retrieval_figures,
    semantic_recall,
    tag_figures,
    video_figures,
)
from benchmarks.world_files import write_scenes, write_videos
from pixsift.search.library import Library
from pixsift.search.model.protocol import embedder_precision
from pixsift.search.model.spec import ModelSpec

EVAL_SEED = 2_026_1205
VIDEO_SEED = 2_026_1206


def run_cli(arguments: list[str]) -> None:
    """``pixsift ARGUMENTS`` in this process (the same code path as the console script)."""
    from pixsift.cli.main import main

    main.main(arguments, standalone_mode=False)


def index_folder(folder: Path, library: Path, model: list[str], *, quantize: str = "fp32") -> float:
    """Seconds to index ``folder`` into a new ``library`` with image towers at ``quantize``
    ("fp32": the figures' reference; "auto": what a new library on a CPU gets, int8)."""
    started = time.perf_counter()
    run_cli(["--quantize", quantize, "index", str(folder), "--library", str(library), *model,
             "--workers", "1", "--no-progress"])  # fmt: skip
    os.environ.pop("PIXSIFT_QUANTIZE", None)  # the global option sets it for the process
    return time.perf_counter() - started


def timed(name: str, figures: dict, function: Callable[[], dict]) -> None:
    """One figure, timed, printed and written at once (a long run keeps what it measured)."""
    started = time.perf_counter()
    figures[name] = function()
    figures[name]["seconds"] = round(time.perf_counter() - started, 1)
    print(f"{name}: {json.dumps(figures[name])}", flush=True)
    write_results(figures["results"], figures)


def measure(args: argparse.Namespace) -> dict:
    work = WORK / ("world" if not args.name else f"world-{args.name}")
    reuse = args.reuse and (work / "library").exists()
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
    results = "world_quality" if not args.name else f"world_quality-{args.name}"
    figures: dict = {"scenes": args.scenes, "model": args.model, "pretrained": args.pretrained,
                     "results": results}  # fmt: skip
    if args.only in ("all", "scenes"):
        _scene_figures(args, work, reuse, figures)
    if args.only in ("all", "videos"):
        model = ["--model", args.model, "--pretrained", args.pretrained]
        spec = ModelSpec(model_name=args.model, pretrained=args.pretrained)
        videos = write_videos(work / "videos", VIDEO_SEED, args.videos)
        video_library = work / "library-videos"
        index_folder(work / "videos", video_library, model)
        with Library.open(video_library, model_spec=spec) as library:
            timed("videos", figures, lambda: video_figures(library, videos))
    return figures


def _scene_figures(args: argparse.Namespace, work: Path, reuse: bool, figures: dict) -> None:
    folder, library_path = work / "scenes", work / "library"
    model = ["--model", args.model, "--pretrained", args.pretrained]
    spec = ModelSpec(model_name=args.model, pretrained=args.pretrained)
    scenes = write_scenes(folder, EVAL_SEED, args.scenes)
    if not reuse:
        figures["index_seconds"] = round(index_folder(folder, library_path, model), 1)
    with Library.open(library_path, model_spec=spec) as library:
        timed("retrieval", figures, lambda: retrieval_figures(library, scenes, folder, work, args))
        timed("cutoff", figures, lambda: cutoff_figures(library, scenes))
        timed("algebra", figures, lambda: algebra_figures(library, scenes, args.algebra))
        timed("negative", figures, lambda: negative_figures(library, scenes))
        timed("tags", figures, lambda: tag_figures(library, scenes, work / "cache"))
        timed("explanations", figures, lambda: explanation_figures(library, scenes, args.explain))
    if not args.no_int8:
        # The product's default for a new library on a CPU: int8 image towers (recorded by
        # the library, which its searches and explanations then run too).
        int8_path = work / "library-int8"
        figures["int8_index_seconds"] = round(
            index_folder(folder, int8_path, model, quantize="auto"), 1
        )
        subset = scenes[: args.subset]
        with Library.open(int8_path, model_spec=spec) as library:
            precision = embedder_precision(library.embedder)
            assert precision == "int8", f"a new library was embedded at {precision} here"
            timed("int8", figures, lambda: semantic_recall(library, subset, work))
            timed("int8_explanations", figures,
                  lambda: explanation_figures(library, scenes, args.explain))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="open_clip model config (.json) or name")
    parser.add_argument("--pretrained", required=True, help="the checkpoint")
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--algebra", type=int, default=60, help="algebra queries")
    parser.add_argument("--explain", type=int, default=100, help="two-object scenes explained")
    parser.add_argument("--no-int8", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep an indexed world library")
    parser.add_argument("--ann", default="IVF16,PQ16;HNSW32", help="';'-separated")
    parser.add_argument("--subset", type=int, default=300, help="captions for int8 and ANN")
    parser.add_argument("--only", choices=("all", "scenes", "videos"), default="all")
    parser.add_argument(
        "--name", default="", help="a run's own work folder and results/world_quality-NAME.json"
    )
    args = parser.parse_args()
    os.environ.setdefault("PIXSIFT_CACHE_DIR", str(WORK / "cache"))
    figures = measure(args)
    write_results(figures["results"], figures)
    print(json.dumps(figures, indent=2))
    print(f"written to {RESULTS / (figures['results'] + '.json')}")


if __name__ == "__main__":
    main()
