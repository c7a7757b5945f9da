"""The figures of benchmarks/world_regions.py: a sigmoid model's probabilities for each way of
scoring a picture from its whole and region vectors, and what a threshold on them keeps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.world.scenes import HELD_OUT_PAIRS
from benchmarks.world_figures import _pairs
from benchmarks.world_files import WorldPicture

THRESHOLD = 0.5
#: Thresholds searched for the best single one (and the lowest that shows no absent pair).
THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
VARIANTS = ("whole", "regions", "max", "blend")


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def scored(
    scale: tuple[float, float], queries: np.ndarray, whole: np.ndarray, regions: np.ndarray
) -> dict[str, np.ndarray]:
    """Each variant's queries x pictures probabilities (see the module's docstring)."""
    whole_cos = queries @ whole.T
    region_cos = np.einsum("qd,nkd->qnk", queries, regions).max(axis=2)
    cosines = {
        "whole": whole_cos,
        "regions": region_cos,
        "max": np.maximum(whole_cos, region_cos),  # P rises with the cosine: max of P
        "blend": (whole_cos + region_cos) / 2,
    }
    return {name: sigmoid(scale[0] * cos + scale[1]) for name, cos in cosines.items()}


def _at(probability: np.ndarray, truth: np.ndarray, absent: np.ndarray, threshold: float) -> dict:
    shown = probability >= threshold
    kept = int((shown & truth).sum())
    return {
        "threshold": float(threshold),
        "recall": round(kept / max(int(truth.sum()), 1), 4),
        "precision": round(kept / max(int(shown.sum()), 1), 4),
        "absent_shown_per_pair": round(float((absent >= threshold).sum(axis=1).mean()), 2),
    }


def _f1(figures: dict) -> float:
    total = figures["recall"] + figures["precision"]
    return 2 * figures["recall"] * figures["precision"] / total if total else 0.0


def mean_average_precision(probability: np.ndarray, truth: np.ndarray) -> float:
    """Ranking alone, no threshold: the mean over rows of the average precision."""
    averages = []
    for scores, held in zip(probability, truth, strict=True):
        hits = held[np.argsort(-scores, kind="stable")]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        averages.append(float(precision[hits].mean()))
    return round(float(np.mean(averages)), 4)


def _median(values: np.ndarray) -> float | None:
    return round(float(np.median(values)), 4) if values.size else None


def pair_figures(
    probability: np.ndarray,
    truth: np.ndarray,
    colour_only: np.ndarray,
    objects: np.ndarray,
    absent: np.ndarray,
) -> dict:
    """Present pairs (rows of ``probability``, ``truth``: scenes holding the pair,
    ``colour_only``: scenes holding the colour but not the pair) and absent pairs (``absent``)."""
    sweep = [_at(probability, truth, absent, t) for t in THRESHOLDS]
    quiet = [f for f in sweep if f["absent_shown_per_pair"] == 0]
    best_colour = np.where(colour_only, probability, -1.0).max(axis=1)
    return {
        "at_0.5": _at(probability, truth, absent, THRESHOLD),
        "best_f1": max(sweep, key=_f1),
        "lowest_showing_no_absent": quiet[0] if quiet else None,
        "true_p_median_by_objects": {
            str(n): _median(probability[truth & (objects == n)[None, :]]) for n in (1, 2, 3)
        },
        "true_p_percentiles_5_25_50_75_95": [
            round(float(v), 4) for v in np.percentile(probability[truth], [5, 25, 50, 75, 95])
        ],
        "best_colour_only_p_median": round(float(np.median(best_colour[best_colour >= 0])), 4),
        "mean_average_precision": mean_average_precision(probability, truth),
        "absent_max_p": round(float(absent.max()), 4),
    }


def caption_figures(probability: np.ndarray) -> dict:
    """Full captions, caption n of picture n: the true scene kept at 0.5, results per caption."""
    true_p = np.diag(probability)
    return {
        "true_scene_kept_at_0.5": round(float((true_p >= THRESHOLD).mean()), 4),
        "mean_scenes_at_0.5": round(float((probability >= THRESHOLD).sum(axis=1).mean()), 2),
        "true_scene_p_median": round(float(np.median(true_p)), 4),
    }


class Truth:
    """What the scenes hold, in the library's picture order."""

    def __init__(self, pictures: Sequence[WorldPicture]) -> None:
        things = [picture.scene.things for picture in pictures]
        self.present = sorted(set().union(*(_pairs(t) for t in things)))
        self.absent = sorted(HELD_OUT_PAIRS)
        self.captions = [picture.scene.caption for picture in pictures]
        self.holds = np.array([[pair in _pairs(t) for t in things] for pair in self.present])
        colours = np.array(
            [[any(x.colour == c for x in t) for t in things] for c, _ in self.present]
        )
        self.colour_only = colours & ~self.holds
        self.objects = np.array([len(t) for t in things])

    def texts(self) -> list[str]:
        pairs = self.present + self.absent
        return [f"a {colour} {shape}" for colour, shape in pairs] + self.captions


def figures_for(
    scale: tuple[float, float],
    truth: Truth,
    texts: np.ndarray,
    whole: np.ndarray,
    regions: np.ndarray,
) -> dict[str, dict]:
    """Every variant's pair and caption figures for one set of region vectors."""
    count = len(truth.present)
    absent_end = count + len(truth.absent)
    result = {}
    for name, probability in scored(scale, texts, whole, regions).items():
        result[name] = {
            "pairs": pair_figures(
                probability[:count],
                truth.holds,
                truth.colour_only,
                truth.objects,
                probability[count:absent_end],
            ),
            "captions": caption_figures(probability[absent_end:]),
        }
    return result


def table_rows(results: dict) -> list[dict]:
    rows = []
    for label, entry in results.items():
        for variant, figures in entry["variants"].items():
            if label != "whole picture" and variant == "whole":
                continue
            pairs, captions = figures["pairs"], figures["captions"]
            at, best = pairs["at_0.5"], pairs["best_f1"]
            medians = pairs["true_p_median_by_objects"]
            rows.append(
                {
                    "regions": label,
                    "passes": entry["passes_per_picture"],
                    "ms/pic": entry["embed_ms_per_picture"],
                    "score": variant,
                    "R/P @0.5": f"{at['recall']:.3f} / {at['precision']:.3f}",
                    "absent @0.5": at["absent_shown_per_pair"],
                    "best t: R/P, absent": f"{best['threshold']:.2f}: {best['recall']:.3f} / "
                    f"{best['precision']:.3f}, {best['absent_shown_per_pair']}",
                    "true P 1/2/3 obj": "/".join(f"{medians[k]:.3f}" for k in ("1", "2", "3")),
                    "colour-only P": pairs["best_colour_only_p_median"],
                    "mAP": pairs["mean_average_precision"],
                    "captions kept, shown": f"{captions['true_scene_kept_at_0.5']:.3f}, "
                    f"{captions['mean_scenes_at_0.5']}",
                }
            )
    return rows


def object_certainty(
    scale: tuple[float, float], embedder, pictures: Sequence[WorldPicture], objects: np.ndarray
) -> dict:
    """How sure the model is of one object seen alone: ``objects`` holds a vector per object of
    ``pictures`` (in scene order, pictures x 3, the first object repeated for fewer), scored
    against "a <colour> <shape>" for every colour and shape. For each object: P of its own
    phrase, the best P of its colour with another shape, whether its own phrase beats every
    other shape of its colour (shape named) and every other colour of its shape (colour named)."""
    from benchmarks.world.scenes import COLOURS, SHAPES

    phrases = [f"a {c} {s}" for c in COLOURS for s in SHAPES]
    texts = embedder.embed_texts(phrases)
    own, other_shape, shape_right, colour_right = [], [], [], []
    for n, picture in enumerate(pictures):
        for j, thing in enumerate(picture.scene.things):
            p = sigmoid(scale[0] * (texts @ objects[n, j]) + scale[1]).reshape(len(COLOURS), -1)
            c, s = list(COLOURS).index(thing.colour), SHAPES.index(thing.shape)
            own.append(p[c, s])
            other_shape.append(np.delete(p[c], s).max())
            shape_right.append(p[c, s] > np.delete(p[c], s).max())
            colour_right.append(p[c, s] > np.delete(p[:, s], c).max())
    return {
        "objects": len(own),
        "own_phrase_p_median": round(float(np.median(own)), 4),
        "own_phrase_p_at_least_0.5": round(float(np.mean(np.array(own) >= THRESHOLD)), 4),
        "best_other_shape_same_colour_p_median": round(float(np.median(other_shape)), 4),
        "shape_named": round(float(np.mean(shape_right)), 4),
        "colour_named": round(float(np.mean(colour_right)), 4),
    }


def twin_label_share(seed: int = 0, batch: int = 128, twins: float = 0.5, count: int = 50) -> dict:
    """benchmarks/world/train.py's batches (``batch`` - pairs drawn scenes, then twins of the
    first pairs, as ``batches`` makes them): for each object a twin caption names ("a red star"
    with --short-twins), how many other pictures of the batch hold that colour-shape pair.
    Sigmoid loss labels them all negatives, so the P a model can learn for a two-word phrase on
    a picture holding the pair is about the share of (phrase, holding picture) labels that are
    positive, pooled: 1 / (1 + mean others). Scenes only, nothing drawn."""
    from benchmarks.world.scenes import iter_scenes, shape_twin

    stream = iter_scenes(seed, allow_held_out=False)
    rng = np.random.default_rng(seed + 1)
    pairs = int(batch * twins) // 2
    others = []
    for _ in range(count):
        chunk = [next(stream) for _ in range(batch - pairs)]
        named = []
        for position in range(pairs):
            twin, index = shape_twin(chunk[position], rng)
            chunk.append(twin)
            named += [
                (position, chunk[position].things[index]),
                (len(chunk) - 1, twin.things[index]),
            ]
        held = [_pairs(scene.things) for scene in chunk]
        for own, thing in named:
            pair = (thing.colour, thing.shape)
            others.append(sum(pair in h for k, h in enumerate(held) if k != own))
    counts = np.array(others)
    return {
        "batches": count,
        "named_objects": len(counts),
        "other_pictures_holding_the_pair_mean": round(float(counts.mean()), 3),
        "share_with_none": round(float((counts == 0).mean()), 4),
        "positive_label_share_pooled": round(float(1.0 / (1.0 + counts.mean())), 4),
    }
