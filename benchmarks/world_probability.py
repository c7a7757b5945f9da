"""The list kept by a sigmoid model's probability (match_probability), through the product, on
the small world: the threshold chosen on one library of scenes, reported on another.

Both libraries are made as a user makes one (scenes written as JPEG files, ``pixsift index``
with the product's defaults) from different seeds. For each cut (the per-library calibration
alone, then with match probabilities on a grid: the list keeps what stands out in the library
and what the model gives at least that probability) every query runs through ``Library.find``
as the CLI, API and page run it (hybrid mode, the default list):

- full captions: the share whose own scene the list keeps, and results per caption;
- two-word present pairs ("a red star"): recall (true scenes kept) and precision;
- library-absent pairs: a pair the model was trained on, asked of a library without its scenes.
  Its list there is its wrong results here (close: the calibration's sample would lose the
  pair's few scenes; a picture's probability does not depend on the library); reported as
  pairs showing anything, and results;
- held-out pairs (never in a training scene nor in a library): pairs showing anything.

The threshold: the lowest grid value at which, on the choosing library, at most
``--absent-share`` of the library-absent pairs show anything.

    python -m benchmarks.world_probability --model CONFIG.json --pretrained CHECKPOINT \\
        --work benchmarks/results/work/world_probability --scenes 400
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from benchmarks.common import write_results
from benchmarks.world.scenes import HELD_OUT_PAIRS
from benchmarks.world_figures import _by_path, _pairs
from benchmarks.world_files import WorldPicture, write_scenes
from benchmarks.world_quality import EVAL_SEED, index_folder
from pixsift.search.library import Library
from pixsift.search.model.spec import ModelSpec
from pixsift.search.query.request import MAX_RESULTS, QueryTerm, SearchRequest

CHOOSING_SEED = 2_026_1207
WORK = Path("benchmarks/results/work/world_probability")
GRID = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def shown(library: Library, text: str, cut: float | None) -> list[int]:
    """The default list's ids for ``text`` (None: the calibration alone, as main() sets
    PIXSIFT_MATCH_PROBABILITY=off)."""
    request = SearchRequest((QueryTerm(text=text),), k=MAX_RESULTS, match_probability=cut)
    return [hit.id for hit in library.find(request).hits]


def figures_at(library: Library, pictures: list[WorldPicture], cut: float | None) -> dict:
    scene_of = _by_path(library, pictures)
    kept = results = 0
    for image_id, picture in scene_of.items():
        listed = shown(library, picture.scene.caption, cut)
        kept += image_id in listed
        results += len(listed)
    present = sorted(set().union(*(_pairs(p.scene.things) for p in scene_of.values())))
    true_kept = truths = listed_total = 0
    absent_showing = absent_results = 0
    for colour, shape in present:
        truth = {i for i, p in scene_of.items() if (colour, shape) in _pairs(p.scene.things)}
        listed = set(shown(library, f"a {colour} {shape}", cut))
        true_kept += len(listed & truth)
        truths += len(truth)
        listed_total += len(listed)
        absent_showing += bool(listed - truth)
        absent_results += len(listed - truth)
    held_out = [len(shown(library, f"a {c} {s}", cut)) for c, s in sorted(HELD_OUT_PAIRS)]
    return {
        "cut": "calibrated" if cut is None else cut,
        "full_kept": round(kept / len(scene_of), 3),
        "full_results_each": round(results / len(scene_of), 2),
        "two_word_recall": round(true_kept / truths, 3),
        "two_word_precision": round(true_kept / max(listed_total, 1), 3),
        "library_absent_pairs": len(present),
        "library_absent_showing": absent_showing,
        "library_absent_results": absent_results,
        "held_out_showing": sum(n > 0 for n in held_out),
        "held_out_results": sum(held_out),
    }


def library_of(work: Path, name: str, seed: int, count: int, model: list[str]) -> tuple:
    """Scenes of ``seed`` written and indexed (with the product's default precision)."""
    folder, directory = work / f"{name}-scenes", work / f"{name}-library"
    pictures = write_scenes(folder, seed, count)
    if directory.exists():
        shutil.rmtree(directory)
    seconds = index_folder(folder, directory, model, quantize="auto")
    return directory, pictures, round(seconds, 1)


def chosen(rows: list[dict], absent_share: float) -> float:
    for row in rows[1:]:
        if row["library_absent_showing"] <= absent_share * row["library_absent_pairs"]:
            return float(row["cut"])
    return float(rows[-1]["cut"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a sigmoid-trained model's config")
    parser.add_argument("--pretrained", required=True)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--scenes", type=int, default=400, help="scenes per library")
    parser.add_argument("--absent-share", type=float, default=0.05)
    parser.add_argument("--name", default="world_probability")
    args = parser.parse_args()
    os.environ["PIXSIFT_MATCH_PROBABILITY"] = "off"  # a request's own value wins over it
    args.work.mkdir(parents=True, exist_ok=True)
    model = ["--model", args.model, "--pretrained", args.pretrained]
    spec = ModelSpec(model_name=args.model, pretrained=args.pretrained)
    report: dict = {"model": args.model, "pretrained": args.pretrained, "scenes": args.scenes}
    for name, seed in (("choosing", CHOOSING_SEED), ("reported", EVAL_SEED)):
        directory, pictures, seconds = library_of(args.work, name, seed, args.scenes, model)
        with Library.open(directory, model_spec=spec) as library:
            if library.sigmoid_scale() is None:
                parser.error(f"{args.model} is not sigmoid-trained: it has no probability")
            rows = [figures_at(library, pictures, cut) for cut in (None, *GRID)]
        report[name] = {"seed": seed, "index_seconds": seconds, "rows": rows}
        for row in rows:
            print(name, json.dumps(row), flush=True)
    threshold = chosen(report["choosing"]["rows"], args.absent_share)
    report["chosen"] = {
        "rule": f"lowest grid value with <= {args.absent_share} of library-absent pairs showing",
        "match_probability": threshold,
        "reported": next(r for r in report["reported"]["rows"] if r["cut"] == threshold),
        "calibrated": report["reported"]["rows"][0],
    }
    print(json.dumps(report["chosen"], indent=1))
    print(f"wrote {write_results(args.name, report)}")


if __name__ == "__main__":
    main()
