"""Caption quality on the small world, through the product: scenes written as JPEG files ->
``pixsift index --describe`` (the world's CLIP embeds, the world's CoCa describes) -> the
descriptions the library stored, against each scene's true caption.

Figures, for the trained captioner and for a trivial baseline (one fixed caption for every
picture: the training caption that agrees best, by word F1, with the other training captions):

* objects named: the share of scenes whose description holds "<colour> <shape>" for every
  object in it (one-, two- and three-object scenes apart), and of objects so named;
* exact: descriptions equal to the true caption; word F1 (bag of words, averaged);
* search by description: keyword search (``mode=keyword``) with each scene's true caption
  ranks that scene first.

Run: ``python -m benchmarks.world_captions`` (``--scenes 300``); results in
benchmarks/results/world_captions.json and a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import WORK, write_results
from benchmarks.world.scenes import Scene, scenes
from benchmarks.world_files import write_scenes
from pixsift.search.library import Library
from pixsift.search.query.request import QueryTerm, SearchRequest

DATA = Path(__file__).resolve().parents[1] / "tests/data/world"
MODEL = ["--model", str(DATA / "pixsift-world-vit.json"),
         "--pretrained", str(DATA / "pixsift-world-vit.safetensors")]  # fmt: skip
CAPTIONER = ["--caption-model", str(DATA / "pixsift-world-coca.json"),
             "--caption-pretrained", str(DATA / "pixsift-world-coca.safetensors")]  # fmt: skip
#: Held-out scenes: a seed apart from the captioner's training stream (seed 0).
EVAL_SEED = 2_026_1219


def run_cli(arguments: list[str]) -> None:
    """``pixsift ARGUMENTS`` in this process (the same code path as the console script)."""
    from pixsift.cli.main import main

    main.main(arguments, standalone_mode=False)


def words(text: str) -> list[str]:
    return text.lower().replace(",", " ").split()


def word_f1(found: str, truth: str) -> float:
    a, b = Counter(words(found)), Counter(words(truth))
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def named(description: str, scene: Scene) -> list[bool]:
    """For each object: whether the description names its colour and shape together."""
    text = " ".join(words(description))
    return [f"{thing.colour} {thing.shape}" in text for thing in scene.things]


def attribute_recall(descriptions: list[str], truth: list[Scene]) -> dict[str, float]:
    """Share of the objects whose colour (shape) word the description holds at all."""
    colours = shapes = objects = 0
    for description, scene in zip(descriptions, truth, strict=True):
        said = set(words(description))
        colours += sum(thing.colour in said for thing in scene.things)
        shapes += sum(thing.shape in said for thing in scene.things)
        objects += len(scene.things)
    return {
        "colours_named": round(colours / objects, 4),
        "shapes_named": round(shapes / objects, 4),
    }


def baseline_caption(count: int = 400) -> str:
    """The training caption with the best mean word F1 against the other training captions."""
    captions = [s.caption for s in scenes(0, count, allow_held_out=False)]
    return max(captions, key=lambda c: sum(word_f1(c, other) for other in captions))


def quality(descriptions: list[str], truth: list[Scene]) -> dict:
    by_count: dict[int, list[bool]] = {}
    objects: list[bool] = []
    pairs = list(zip(descriptions, truth, strict=True))
    for description, scene in pairs:
        hits = named(description, scene)
        objects += hits
        by_count.setdefault(len(scene.things), []).append(all(hits))
    counts = sorted(by_count.items())
    return {
        **{f"all_objects_named_{n}": round(sum(v) / len(v), 4) for n, v in counts},
        **{f"scenes_{n}": len(v) for n, v in counts},
        "objects_named": round(sum(objects) / len(objects), 4),
        **attribute_recall(descriptions, truth),
        "exact": round(sum(d == s.caption for d, s in pairs) / len(pairs), 4),
        "word_f1": round(sum(word_f1(d, s.caption) for d, s in pairs) / len(pairs), 4),
        "bleu4": bleu4(descriptions, [scene.caption for scene in truth]),
    }


def bleu4(descriptions: list[str], captions: list[str]) -> float:
    """Corpus BLEU-4 (sacrebleu's standard settings, 0..1) against the one true caption each."""
    import sacrebleu

    return round(sacrebleu.corpus_bleu(descriptions, [captions]).score / 100, 4)


def keyword_first(library: Library, names: list[str], truth: list[Scene]) -> float:
    """Share of scenes that keyword search with their true caption ranks first."""
    first = 0
    for name, scene in zip(names, truth, strict=True):
        request = SearchRequest((QueryTerm(text=scene.caption),), mode="keyword", k=1)
        hits = library.find(request).hits
        first += bool(hits) and hits[0].image.name == name
    return round(first / len(truth), 4)


def captioner_options(config: Path) -> list[str]:
    """``--caption-model CONFIG --caption-pretrained`` the checkpoint of the same stem beside it."""
    weights = config.with_suffix(".safetensors")
    return ["--caption-model", str(config), "--caption-pretrained", str(weights)]


def measure(count: int, captioner: list[str] | None = None) -> dict:
    captioner = captioner or CAPTIONER
    work = WORK / "world-captions"
    folder, library_path = work / "scenes", work / "library"
    shutil.rmtree(work, ignore_errors=True)
    written = write_scenes(folder, EVAL_SEED, count)
    started = time.perf_counter()
    run_cli(["index", str(folder), "--library", str(work / "plain"), *MODEL, "--workers", "1",
             "--no-progress", "--no-tags"])  # fmt: skip
    plain_seconds = time.perf_counter() - started
    started = time.perf_counter()
    run_cli(["index", str(folder), "--library", str(library_path), *MODEL, "--workers", "1",
             "--no-progress", "--no-tags", "--describe", *captioner])  # fmt: skip
    seconds = time.perf_counter() - started
    names = [picture.name for picture in written]
    truth = [picture.scene for picture in written]
    with Library.open(library_path) as library:
        records = {r.name: r for r in library.images(list(range(1, count + 1))).values()}
        described = [records[name].caption or "" for name in names]
        search = keyword_first(library, names, truth)
    baseline = baseline_caption()
    return {
        "scenes": count,
        "seed": EVAL_SEED,
        "captioner_config": captioner[1],
        "index_seconds": round(plain_seconds, 1),
        "index_describe_seconds": round(seconds, 1),
        "captioner": quality(described, truth) | {"keyword_first": search},
        "baseline": quality([baseline] * count, truth) | {"caption": baseline},
        "examples": [
            {"truth": s.caption, "described": d}
            for s, d in zip(truth[:8], described[:8], strict=True)
        ],
    }


def table(figures: dict) -> str:
    rows = ["all_objects_named_1", "all_objects_named_2", "all_objects_named_3", "objects_named",
            "colours_named", "shapes_named", "exact", "word_f1", "bleu4",
            "keyword_first"]  # fmt: skip
    lines = ["| figure | world CoCa | baseline (one caption) |", "|---|---|---|"]
    for row in rows:
        base = figures["baseline"].get(row, "-")
        lines.append(f"| {row} | {figures['captioner'].get(row, '-')} | {base} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument(
        "--caption-config",
        type=Path,
        default=None,
        help="measure this captioner (its .safetensors beside it) instead of the committed one",
    )
    args = parser.parse_args()
    captioner = captioner_options(args.caption_config) if args.caption_config else CAPTIONER
    figures = measure(args.scenes, captioner)
    write_results("world_captions", figures)
    print(json.dumps(figures, indent=2))
    print(table(figures))


if __name__ == "__main__":
    main()
