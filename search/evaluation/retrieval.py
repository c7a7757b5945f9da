"""Retrieval evaluation of a library against its captions, through the product's own search.

Text to image: each caption is searched with :meth:`search.library.Library.find` (the engine the
CLI, the API and the page use) in each mode, weaker matches included, and the rank of its
picture is read off the result list (a video's moments count as its picture). Image to text:
each picture's stored embedding against every caption's embedding by the library's model (no
search engine ranks captions), the rank of its first own caption.

Ranks are looked for down to ``depth``; a picture not found by then has no rank (it counts as
a miss for every R@K and as ``depth + 1`` for the median).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixsift.search.errors import InvalidInputError, LibraryError
from pixsift.search.evaluation.captions import Caption
from pixsift.search.evaluation.report import (
    DirectionFigures,
    EvaluationReport,
    ModeFigures,
    QueryResult,
    direction_figures,
)
from pixsift.search.library import Library
from pixsift.search.query.request import MAX_RESULTS, SEARCH_MODES, QueryTerm, SearchRequest

DEFAULT_DEPTH = 100
WORST_SHOWN = 10
TEXT_BATCH = 256


@dataclass(frozen=True)
class EvaluationOptions:
    modes: tuple[str, ...] = SEARCH_MODES
    depth: int = DEFAULT_DEPTH
    worst: int = WORST_SHOWN
    image_to_text: bool = True


@dataclass(frozen=True)
class LibraryPaths:
    """The library's pictures by every name a captions file may use for them."""

    by_name: dict[str, set[int]]
    base: Path

    def ids_of(self, path: str) -> set[int]:
        given = Path(path).expanduser()
        candidates = [str(given)] if given.is_absolute() else [str(self.base / given), path]
        for candidate in candidates:
            found = self.by_name.get(_normal(candidate))
            if found:
                return found
        return set()


def _normal(path: str) -> str:
    return str(Path(path)).replace("\\", "/")


def library_paths(library: Library, captions_file: Path) -> LibraryPaths:
    """Every picture's absolute path and path below its root (a video's moments share theirs)."""
    ids, _ = library.store.all_embeddings(library.store.model_id() or "")
    by_name: dict[str, set[int]] = {}
    for image_id, record in library.images(ids.tolist()).items():
        for name in (record.absolute_path, record.relative_path):
            by_name.setdefault(_normal(name), set()).add(image_id)
    return LibraryPaths(by_name, captions_file.resolve().parent)


def evaluate(
    library: Library,
    captions: Sequence[Caption],
    captions_file: Path,
    options: EvaluationOptions | None = None,
) -> EvaluationReport:
    """R@1/5/10, median rank and the worst queries of ``captions`` in ``library``."""
    options = options or EvaluationOptions()
    if not 1 <= options.depth <= MAX_RESULTS:
        raise InvalidInputError(f"the depth must lie in 1..{MAX_RESULTS}")
    unknown = sorted(set(options.modes) - set(SEARCH_MODES))
    if unknown or not options.modes:
        raise InvalidInputError(f"unknown mode {unknown}: use {', '.join(SEARCH_MODES)}")
    if library.is_empty():
        raise LibraryError("the library is empty: index a folder first (pixsift index DIR)")
    paths = library_paths(library, captions_file)
    targets = {caption.path: paths.ids_of(caption.path) for caption in captions}
    missing = sorted(path for path, ids in targets.items() if not ids)
    found = [caption for caption in captions if targets[caption.path]]
    if not found:
        raise InvalidInputError(
            f"none of the {len(targets)} pictures of the captions file is in the library "
            f"(first: {missing[0]}); paths are absolute, or relative to the captions file's "
            "folder or to an indexed folder"
        )
    modes = [_mode_figures(library, found, targets, mode, options) for mode in options.modes]
    image_to_text = (
        _image_to_text(library, found, targets, options) if options.image_to_text else None
    )
    return EvaluationReport(
        captions_file=str(captions_file),
        captions=len(found),
        pictures=len({caption.path for caption in found}),
        missing=missing,
        depth=options.depth,
        text_to_image=modes,
        image_to_text=image_to_text,
    )


def _mode_figures(
    library: Library,
    captions: Sequence[Caption],
    targets: dict[str, set[int]],
    mode: str,
    options: EvaluationOptions,
) -> ModeFigures:
    results = [
        caption_rank(library, caption, targets[caption.path], mode, options.depth)
        for caption in captions
    ]
    return ModeFigures.from_results(mode, results, options.depth, options.worst)


def caption_rank(
    library: Library, caption: Caption, wanted: set[int], mode: str, depth: int
) -> QueryResult:
    """The rank of ``caption``'s picture among ``depth`` results, and whether the default list
    (which stops where matches end) keeps it."""
    request = SearchRequest((QueryTerm(text=caption.text),), mode=mode, k=depth, weaker=True)
    hits = library.find(request).hits
    rank = None
    for position, hit in enumerate(hits, 1):
        ids = {hit.id, *(moment.image.id for moment in hit.moments)}
        if ids & wanted:
            rank = position
            break
    shown = [hit for hit in hits if hit.band != "weak"]
    return QueryResult(
        caption=caption.text,
        path=caption.path,
        rank=rank,
        first=[hit.image.relative_path for hit in hits[:3]],
        kept=rank is not None and hits[rank - 1].band != "weak",
        shown=len(shown),
        calibrated=any(hit.band is not None for hit in hits),
    )


def _image_to_text(
    library: Library,
    captions: Sequence[Caption],
    targets: dict[str, set[int]],
    options: EvaluationOptions,
) -> DirectionFigures:
    """For each picture, the rank of its first own caption among all captions' texts."""
    texts = list(dict.fromkeys(caption.text for caption in captions))
    embedder = library.embedder
    text_vectors = np.concatenate(
        [embedder.embed_texts(texts[i : i + TEXT_BATCH]) for i in range(0, len(texts), TEXT_BATCH)]
    )
    text_row = {text: row for row, text in enumerate(texts)}
    own: dict[str, set[int]] = {}
    for caption in captions:
        own.setdefault(caption.path, set()).add(text_row[caption.text])
    model_id = library.store.model_id() or ""
    ranks: list[int | None] = []
    for path, rows in own.items():
        vectors = library.store.embeddings_for(sorted(targets[path]), model_id)
        image_vectors = np.stack(list(vectors.values())).astype(np.float32)
        # A video is as close to a caption as its closest moment.
        scores = (image_vectors @ text_vectors.T).max(axis=0)
        order = np.argsort(-scores, kind="stable")[: options.depth]
        hits = np.flatnonzero(np.isin(order, sorted(rows)))
        ranks.append(int(hits[0]) + 1 if len(hits) else None)
    return direction_figures(ranks, options.depth)
