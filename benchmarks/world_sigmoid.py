"""What a sigmoid (SigLIP-style) model's own score says on the world, next to the library-relative
cutoff: P(match) = sigmoid(scale * cosine + bias), with the scale and bias the model learnt, over
every picture of an indexed world library (its stored vectors, as the product made them).

    nice .venv/bin/python -m benchmarks.world_sigmoid --library LIB --model CONFIG --pretrained W
    (LIB: a library benchmarks/world_quality.py indexed, e.g. results/work/world-NAME/library)

For full captions: the probability of the true scene and how many scenes clear 0.5; for
"a <colour> <shape>": precision and recall of the scenes clearing 0.5 against the scenes holding
the pair, and for the absent pairs how many scenes clear it (a cutoff that can be trusted shows
none). Softmax models have no such scale (``sigmoid_scale`` None) and are refused.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from benchmarks.common import write_results
from benchmarks.world.scenes import HELD_OUT_PAIRS, scenes
from benchmarks.world_figures import _pairs
from benchmarks.world_files import WorldPicture
from benchmarks.world_quality import EVAL_SEED

THRESHOLD = 0.5


def _probabilities(library, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, texts x images probabilities)."""
    scale = getattr(library.embedder, "sigmoid_scale", None)
    if scale is None:
        raise SystemExit(f"{library.embedder.model_id} is not a sigmoid-loss model")
    ids, vectors = library.store.all_embeddings(library.store.model_id() or "")
    queries = library.embedder.embed_texts(list(texts))
    logits = scale[0] * (queries @ vectors.T) + scale[1]
    return ids, 1.0 / (1.0 + np.exp(-logits))


def sigmoid_figures(library, pictures) -> dict:
    named = {picture.name: picture for picture in pictures}
    ids, _ = library.store.all_embeddings(library.store.model_id() or "")
    records = library.images(ids.tolist())
    scene_of = {i: named[r.relative_path] for i, r in records.items() if r.relative_path in named}
    order = [i for i in ids.tolist() if i in scene_of]
    ids, full = _probabilities(library, [scene_of[i].scene.caption for i in order])
    column = {int(image_id): n for n, image_id in enumerate(ids.tolist())}
    true_p = np.array([full[row, column[i]] for row, i in enumerate(order)])
    cleared = (full >= THRESHOLD).sum(axis=1)
    present = sorted(set().union(*(_pairs(p.scene.things) for p in scene_of.values())))
    _, short = _probabilities(library, [f"a {c} {s}" for c, s in present])
    kept = shown = truth_total = 0
    for row, pair in enumerate(present):
        truth = {column[i] for i, p in scene_of.items() if pair in _pairs(p.scene.things)}
        chosen = set(np.flatnonzero(short[row] >= THRESHOLD).tolist())
        kept += len(chosen & truth)
        shown += len(chosen)
        truth_total += len(truth)
    absent = sorted(HELD_OUT_PAIRS)
    _, absent_p = _probabilities(library, [f"a {c} {s}" for c, s in absent])
    return {
        "scale": library.embedder.sigmoid_scale,
        "full_captions": len(order),
        "true_scene_p_percentiles_5_25_50_75": [
            round(float(v), 4) for v in np.percentile(true_p, [5, 25, 50, 75])
        ],
        "true_scene_kept_at_0.5": round(float((true_p >= THRESHOLD).mean()), 4),
        "mean_scenes_at_0.5": round(float(cleared.mean()), 2),
        "pair_queries": len(present),
        "pair_precision_at_0.5": round(kept / max(shown, 1), 4),
        "pair_recall_at_0.5": round(kept / max(truth_total, 1), 4),
        "absent_queries": len(absent),
        "absent_empty_at_0.5": round(float(((absent_p >= THRESHOLD).sum(axis=1) == 0).mean()), 4),
        "absent_max_p": round(float(absent_p.max()), 4),
    }


def main() -> None:
    from pixsift.search.library import Library
    from pixsift.search.model.spec import ModelSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--scenes", type=int, default=1000)
    parser.add_argument("--model", required=True)
    parser.add_argument("--pretrained", required=True)
    args = parser.parse_args()
    # The scenes world_quality.py wrote and indexed (the same seed and names), not rewritten.
    made = scenes(EVAL_SEED, args.scenes, allow_held_out=False)
    pictures = [WorldPicture(f"scene-{n:05d}.jpg", scene) for n, scene in enumerate(made)]
    spec = ModelSpec(model_name=args.model, pretrained=args.pretrained)
    with Library.open(args.library, model_spec=spec) as library:
        figures = sigmoid_figures(library, pictures)
    print(json.dumps(figures, indent=2))
    print(write_results("world_sigmoid", figures))


if __name__ == "__main__":
    main()
