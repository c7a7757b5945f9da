"""The world figures of benchmarks/world_quality.py, each through the library's own search."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.world.scenes import COLOURS, HELD_OUT_PAIRS, SHAPES, SIZES, Thing
from benchmarks.world_files import WorldPicture, WorldVideo
from pixsift.search.evaluation.captions import read_captions
from pixsift.search.evaluation.report import EvaluationReport
from pixsift.search.evaluation.retrieval import EvaluationOptions, evaluate
from pixsift.search.library import Library
from pixsift.search.query.request import QueryTerm, SearchRequest

Pair = tuple[str, str]
#: How far the default list is read for the cutoff's figures (no pair is in 200 scenes).
CUTOFF_K = 200
#: Captions searched again once the scenes are tagged.
TAGGED_CAPTIONS = 300


def _pairs(scene_things: Sequence[Thing]) -> set[Pair]:
    return {(thing.colour, thing.shape) for thing in scene_things}


def _by_path(library: Library, pictures: Sequence[WorldPicture]) -> dict[int, WorldPicture]:
    """Image id -> the picture it is."""
    named = {picture.name: picture for picture in pictures}
    ids, _ = library.store.all_embeddings(library.store.model_id() or "")
    records = library.images(ids.tolist())
    return {i: named[r.relative_path] for i, r in records.items() if r.relative_path in named}


def write_captions(work: Path, pictures: Sequence[WorldPicture]) -> Path:
    path = work / "captions.jsonl"
    rows = [{"path": f"scenes/{p.name}", "caption": p.scene.caption} for p in pictures]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _recall(report_mode) -> dict:
    return {**report_mode.recall, "median_rank": report_mode.median_rank}


def retrieval_figures(
    library: Library,
    pictures: Sequence[WorldPicture],
    folder: Path,
    work: Path,
    args: argparse.Namespace,
) -> dict:
    """``pixsift eval`` of every full caption per mode; hybrid vs semantic per caption; then
    the approximate indexes (semantic mode) at their tuned settings."""
    captions_file = write_captions(work, pictures)
    captions = read_captions(captions_file)
    report = evaluate(library, captions, captions_file, EvaluationOptions(depth=20, worst=5))
    figures: dict = {mode.mode: _recall(mode) for mode in report.text_to_image}
    figures["image_to_text"] = report.image_to_text.recall if report.image_to_text else None
    figures["cutoff_kept"] = {m.mode: m.cutoff_recall for m in report.text_to_image}
    figures["cutoff_shown"] = {m.mode: m.cutoff_shown for m in report.text_to_image}
    figures["worst_semantic"] = [(w.caption, w.rank) for w in report.text_to_image[0].worst]
    figures["hybrid_worse_than_semantic"] = hybrid_worse(report)
    subset = pictures[: args.subset]
    figures["ann"] = {"captions": len(subset), "exact": semantic_recall(library, subset, work)}
    for index_type in [t for t in args.ann.split(";") if t]:
        index = library.rebuild_index(index_type)
        recall = semantic_recall(library, subset, work)
        figures["ann"][index_type] = {**recall, "built": type(index).__name__}
    library.rebuild_index("auto")
    return figures


def hybrid_worse(report: EvaluationReport) -> dict:
    """Captions whose picture hybrid mode ranks lower (or higher) than semantic mode does; a
    miss counts as one past the depth."""
    modes = {mode.mode: mode.ranks for mode in report.text_to_image}
    past = report.depth + 1
    pairs = list(zip(modes["semantic"], modes["hybrid"], strict=True))
    worse = sum((h or past) > (s or past) for s, h in pairs)
    better = sum((h or past) < (s or past) for s, h in pairs)
    return {"captions": len(pairs), "worse": worse, "better": better}


def semantic_recall(library: Library, pictures: Sequence[WorldPicture], work: Path) -> dict:
    captions_file = write_captions(work, pictures)
    options = EvaluationOptions(modes=("semantic",), depth=20, worst=0, image_to_text=False)
    report = evaluate(library, read_captions(captions_file), captions_file, options)
    return _recall(report.text_to_image[0])


def _shown(library: Library, terms: Sequence[QueryTerm], *, k: int, weaker: bool) -> list[int]:
    request = SearchRequest(tuple(terms), mode="hybrid", k=k, weaker=weaker)
    return [hit.id for hit in library.find(request).hits]


def cutoff_figures(library: Library, pictures: Sequence[WorldPicture]) -> dict:
    """The default list (hybrid, the list stops where matches end) for "a <colour> <shape>":
    precision and recall against the scenes holding the pair; for absent pairs, its length."""
    scene_of = _by_path(library, pictures)
    present = sorted(set().union(*(_pairs(p.scene.things) for p in pictures)))
    kept = shown_total = truth_total = 0
    per_query_recall = []
    for colour, shape in present:
        truth = {i for i, p in scene_of.items() if (colour, shape) in _pairs(p.scene.things)}
        shown = set(
            _shown(library, [QueryTerm(text=f"a {colour} {shape}")], k=CUTOFF_K, weaker=False)
        )
        kept += len(shown & truth)
        shown_total += len(shown)
        truth_total += len(truth)
        per_query_recall.append(len(shown & truth) / len(truth))
    absent = sorted(HELD_OUT_PAIRS)
    absent_shown = [
        len(_shown(library, [QueryTerm(text=f"a {c} {s}")], k=CUTOFF_K, weaker=False))
        for c, s in absent
    ]
    return {
        "present_queries": len(present),
        "precision": round(kept / max(shown_total, 1), 4),
        "recall": round(kept / max(truth_total, 1), 4),
        "mean_query_recall": round(float(np.mean(per_query_recall)), 4),
        "absent_queries": len(absent),
        "absent_empty": round(sum(n == 0 for n in absent_shown) / len(absent), 4),
        "absent_mean_shown": round(float(np.mean(absent_shown)), 2),
    }


def algebra_figures(library: Library, pictures: Sequence[WorldPicture], count: int) -> dict:
    """ "a red star" - "red" + "blue": a blue star among the top 5 (R@5), against the plain
    query "a blue star"."""
    scene_of = _by_path(library, pictures)
    present = set().union(*(_pairs(p.scene.things) for p in pictures))
    triples = [
        (c1, c2, s)
        for s in SHAPES
        for c1 in COLOURS
        for c2 in COLOURS
        if c1 != c2 and (c1, s) in present and (c2, s) in present
    ]
    rng = np.random.default_rng(0)
    chosen = [triples[i] for i in rng.choice(len(triples), min(count, len(triples)), replace=False)]
    found = plain = precision = 0
    for c1, c2, s in chosen:
        terms = [QueryTerm(text=f"a {c1} {s}"), QueryTerm(text=c1, weight=-1.0), QueryTerm(text=c2)]
        top = [scene_of[i] for i in _shown(library, terms, k=5, weaker=True) if i in scene_of]
        hits = [(c2, s) in _pairs(p.scene.things) for p in top]
        found += any(hits)
        precision += sum(hits) / 5
        direct = [
            scene_of[i]
            for i in _shown(library, [QueryTerm(text=f"a {c2} {s}")], k=5, weaker=True)
            if i in scene_of
        ]
        plain += any((c2, s) in _pairs(p.scene.things) for p in direct)
    n = max(len(chosen), 1)
    return {
        "queries": len(chosen),
        "R@5": round(found / n, 4),
        "precision@5": round(precision / n, 4),
        "plain_query_R@5": round(plain / n, 4),
    }


def negative_figures(library: Library, pictures: Sequence[WorldPicture], count: int = 60) -> dict:
    """ "a star" with and without - "red": the share of the top 10 holding a red object."""
    scene_of = _by_path(library, pictures)
    present = sorted(set().union(*(_pairs(p.scene.things) for p in pictures)))
    rng = np.random.default_rng(1)
    chosen = [present[i] for i in rng.choice(len(present), min(count, len(present)), replace=False)]
    before = after = 0.0
    removed = 0
    for colour, shape in chosen:

        def share(terms: list[QueryTerm], colour: str = colour) -> float:
            top = [scene_of[i] for i in _shown(library, terms, k=10, weaker=True) if i in scene_of]
            return sum(any(t.colour == colour for t in p.scene.things) for p in top) / 10

        plain = share([QueryTerm(text=f"a {shape}")])
        minus = share([QueryTerm(text=f"a {shape}"), QueryTerm(text=colour, weight=-1.0)])
        before += plain
        after += minus
        removed += minus == 0
    n = max(len(chosen), 1)
    return {
        "queries": len(chosen),
        "named_colour_share_top10_without": round(before / n, 4),
        "named_colour_share_top10_with_negative": round(after / n, 4),
        "queries_with_none_left": round(removed / n, 4),
    }


def tag_figures(library: Library, pictures: Sequence[WorldPicture], cache: Path) -> dict:
    """Calibrated zero-shot tags with the world's shapes and colours as the vocabulary."""
    from pixsift.search.storage.tags import tags_of
    from pixsift.search.tags.service import LibraryTags
    from pixsift.search.tags.vocabulary import Vocabulary

    vocabulary = Vocabulary(tuple(SHAPES) + tuple(COLOURS), ("a {}",))
    LibraryTags(library, vocabulary=vocabulary, cache_directory=cache).recompute()
    scene_of = _by_path(library, pictures)
    with library.store.session() as session:
        tagged = tags_of(session, list(scene_of))
    counts = {kind: [0, 0, 0] for kind in ("shape", "colour")}  # right, given, true
    for image_id, picture in scene_of.items():
        given = {tag for tag, _ in tagged.get(image_id, [])}
        for kind, words, truth in (
            ("shape", set(SHAPES), {t.shape for t in picture.scene.things}),
            ("colour", set(COLOURS), {t.colour for t in picture.scene.things}),
        ):
            mine = given & words
            counts[kind][0] += len(mine & truth)
            counts[kind][1] += len(mine)
            counts[kind][2] += len(truth)
    figures = {}
    for kind, (right, given, truth) in counts.items():
        figures[kind] = {
            "precision": round(right / max(given, 1), 4),
            "recall": round(right / max(truth, 1), 4),
        }
    figures["hybrid_after_tags"] = _hybrid_after_tags(library, pictures, cache.parent)
    right, given, truth = (sum(c[i] for c in counts.values()) for i in range(3))
    figures["all"] = {
        "precision": round(right / max(given, 1), 4),
        "recall": round(right / max(truth, 1), 4),
    }
    return figures


def _hybrid_after_tags(library: Library, pictures: Sequence[WorldPicture], work: Path) -> dict:
    """Tags are words keyword search matches: hybrid vs semantic once the scenes are tagged."""
    captions_file = write_captions(work, pictures[:TAGGED_CAPTIONS])
    captions = read_captions(captions_file)
    options = EvaluationOptions(
        modes=("semantic", "hybrid"), depth=20, worst=0, image_to_text=False
    )
    report = evaluate(library, captions, captions_file, options)
    figures = {mode.mode: _recall(mode) for mode in report.text_to_image}
    figures["hybrid_worse_than_semantic"] = hybrid_worse(report)
    return figures


def _on_object(box: Sequence[float], thing: Thing, other: Thing, side: int) -> bool:
    """The cell touches the object's disc and its centre is nearer that object than the other."""
    left, top, right, bottom = box
    cx, cy, r = thing.x * side, thing.y * side, SIZES[thing.size] * side
    nearest = math.hypot(cx - min(max(cx, left), right), cy - min(max(cy, top), bottom))
    middle = ((left + right) / 2, (top + bottom) / 2)
    own = math.hypot(middle[0] - cx, middle[1] - cy)
    rival = math.hypot(middle[0] - other.x * side, middle[1] - other.y * side)
    return nearest <= r and own <= rival


def explanation_figures(library: Library, pictures: Sequence[WorldPicture], count: int) -> dict:
    """Two-object scenes: the hottest cell for each object's "a <colour> <shape>"."""
    from pixsift.search.explain.service import Explainer

    scene_of = _by_path(library, pictures)
    chosen = [(i, p) for i, p in sorted(scene_of.items()) if len(p.scene.things) == 2][:count]
    explainer = Explainer(library)
    on = total = 0
    for image_id, picture in chosen:
        first, second = picture.scene.things
        if (first.colour, first.shape) == (second.colour, second.shape):
            continue
        for target, other in ((first, second), (second, first)):
            query = [QueryTerm(text=f"a {target.colour} {target.shape}")]
            explanation = explainer.explain(explainer.picture(image_id), query)
            hottest = explanation.ranked_cells()[0]
            on += _on_object(hottest.box, target, other, explanation.width)
            total += 1
    return {
        "scenes": len(chosen),
        "queries": total,
        "hottest_on_object": round(on / max(total, 1), 4),
    }


def video_figures(library: Library, videos: Sequence[WorldVideo]) -> dict:
    """Each shot's caption: is the first result that shot's moment?"""
    first = total = 0
    for video in videos:
        for number, shot in enumerate(video.shots):
            hits = library.find(
                SearchRequest((QueryTerm(text=shot.caption),), k=5, weaker=True)
            ).hits
            total += 1
            if not hits:
                continue
            best = hits[0].image
            start, end = number * video.shot_seconds, (number + 1) * video.shot_seconds
            # offset_s is None for a photo; 0.0 (the first shot's moment) is a real offset.
            offset = -1.0 if best.offset_s is None else best.offset_s
            first += best.relative_path == video.name and start <= offset < end
    return {
        "videos": len(videos),
        "shots": total,
        "shot_moment_first": round(first / max(total, 1), 4),
    }
