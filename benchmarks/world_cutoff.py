"""Why the relevance cutoff shows nothing for "a <colour> <shape>" on the small world: the
calibrated relevance (search.query.relevance, the product's own ``calibrate``) of the present
pairs' true scenes and best results against the absent pairs' best results, the best threshold
that still shows nothing for absent pairs, and what the model's top 10 holds (the colour, the
shape). Then the product's own cutoff figures (benchmarks.world_figures.cutoff_figures).

Run on a library indexed by ``python -m benchmarks.world_quality`` (benchmarks/results/work/world):

    python -m benchmarks.world_cutoff --library benchmarks/results/work/world/library \\
        --model tests/data/world/pixsift-world-vit.json \\
        --pretrained tests/data/world/pixsift-world-vit.safetensors --scenes 1000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import write_results
from benchmarks.world.scenes import HELD_OUT_PAIRS
from benchmarks.world_figures import _by_path, _pairs, cutoff_figures
from benchmarks.world_files import write_scenes
from benchmarks.world_quality import EVAL_SEED
from pixsift.search.library import Library
from pixsift.search.model.spec import ModelSpec
from pixsift.search.query.relevance import CALIBRATION_SAMPLE_SIZE, calibrate


def relevance_of_all(library: Library, text: str, embeddings: np.ndarray) -> np.ndarray:
    """Every picture's relevance (z) for ``text``, as the search computes it."""
    query = library.query_embedding(text=text)
    relevance = calibrate(query, library.embedding_sample(CALIBRATION_SAMPLE_SIZE))
    return (embeddings @ query[0] - relevance.mean) / relevance.std


def diagnose(library: Library, scenes) -> dict:
    scene_of = _by_path(library, scenes)
    ids, embeddings = library.store.all_embeddings(library.store.model_id() or "")
    embeddings = np.asarray(embeddings, np.float32)
    things = [scene_of[int(i)].scene.things for i in ids]
    present = sorted(set().union(*(_pairs(p.scene.things) for p in scenes)))
    truth_z, top_z, colour_share, shape_share, precision10 = [], [], [], [], []
    per_query = []
    for colour, shape in present:
        z = relevance_of_all(library, f"a {colour} {shape}", embeddings)
        truth = np.array([(colour, shape) in _pairs(t) for t in things])
        top = np.argsort(-z)[:10]
        truth_z += z[truth].tolist()
        top_z.append(float(z[top[0]]))
        precision10.append(float(truth[top].mean()))
        colour_share.append(np.mean([any(t.colour == colour for t in things[i]) for i in top]))
        shape_share.append(np.mean([any(t.shape == shape for t in things[i]) for i in top]))
        per_query.append((z, truth))
    absent_top = [
        float(relevance_of_all(library, f"a {c} {s}", embeddings).max())
        for c, s in sorted(HELD_OUT_PAIRS)
    ]
    # The lowest threshold that keeps every absent pair's list empty, and what it keeps.
    threshold = max(absent_top) + 1e-6
    kept = sum(int(((z >= threshold) & t).sum()) for z, t in per_query)
    shown = sum(int((z >= threshold).sum()) for z, _ in per_query)
    total = sum(int(t.sum()) for _, t in per_query)
    return {
        "present_pairs": len(present),
        "precision_at_10": round(float(np.mean(precision10)), 3),
        "top10_share_with_the_colour": round(float(np.mean(colour_share)), 3),
        "top10_share_with_the_shape": round(float(np.mean(shape_share)), 3),
        "true_scene_z_p5_p25_p50_p75_p95": np.percentile(truth_z, [5, 25, 50, 75, 95])
        .round(2)
        .tolist(),
        "present_best_z_p5_p25_p50_p75": np.percentile(top_z, [5, 25, 50, 75]).round(2).tolist(),
        "absent_best_z": sorted(round(v, 2) for v in absent_top),
        "oracle_threshold": round(threshold, 3),
        "oracle_precision": round(kept / max(shown, 1), 3),
        "oracle_recall": round(kept / max(total, 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--pretrained", required=True)
    parser.add_argument("--scenes", type=int, default=1000, help="as indexed (seed 20261205)")
    parser.add_argument("--folder", type=Path, help="where to write the scenes' list again")
    args = parser.parse_args()
    folder = args.folder or args.library.parent / "scenes"
    scenes = write_scenes(folder, EVAL_SEED, args.scenes)
    spec = ModelSpec(model_name=args.model, pretrained=args.pretrained)
    with Library.open(args.library, model_spec=spec) as library:
        figures = {"diagnosis": diagnose(library, scenes)}
        figures["product_cutoff"] = cutoff_figures(library, scenes)
    print(json.dumps(figures, indent=2))
    print(f"wrote {write_results('world_cutoff', figures)}")


if __name__ == "__main__":
    main()
