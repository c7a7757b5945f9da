"""Explaining one match: the picture read as the indexer read it, the query vector as a search
builds it, occlusion over the patch grid, the cells mapped onto the picture, and a cache.

The score explained is the cosine similarity of the picture's embedding to the query vector
(search.query.vector): the semantic half of every search, and the whole score in semantic mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import ValidationError

from pixsift.search.errors import InvalidInputError, NotFoundError
from pixsift.search.explain.geometry import CropGeometry, cell_edges
from pixsift.search.explain.occlusion import patch_grid
from pixsift.search.explain.records import Explanation, ExplanationCell
from pixsift.search.explain.refine import Heat, HeatMethod, coarse_to_fine
from pixsift.search.library import Library
from pixsift.search.media.imagefile import ImageRejectedError, LoadedImage, read_image_for_embedding
from pixsift.search.model.pixels import PixelPlan, pixel_plan_for
from pixsift.search.model.protocol import Embedder
from pixsift.search.query.request import QueryTerm
from pixsift.search.query.vector import query_vector
from pixsift.search.records import ImageRecord

CACHE_DIRECTORY_NAME = "explanations"
#: Part of every cache key: bump when what an explanation holds or means changes.
CACHE_FORMAT = 2  # 2: insertion, coarse to fine, cells marked measured


@dataclass(frozen=True)
class Picture:
    """A picture decoded as the indexer decodes it (orientation applied; a JPEG perhaps at a
    reduced scale) and the size it is shown at."""

    pixels: Image.Image
    shown: tuple[int, int]
    content_hash: str
    image_id: int | None = None


def indexed_picture(library: Library, image_id: int, min_side: int) -> Picture:
    """Image ``image_id``'s file, provided it still holds what was indexed."""
    record = library.image(image_id)
    if record.offset_s is not None:
        return _video_moment(record)
    try:
        loaded = read_image_for_embedding(record.file_path, min_side=min_side)
    except ImageRejectedError as error:
        raise NotFoundError(f"image {image_id}'s file cannot be read: {error.reason}") from None
    if loaded.content_hash != record.content_hash:
        raise NotFoundError(
            f"image {image_id}'s file changed since it was indexed; run pixsift index again"
        )
    return _picture(loaded, image_id)


def _video_moment(record: ImageRecord) -> Picture:
    """A moment of a video: the frame shown at its time (the mapping scales it to the frame's
    full size, whatever scale the indexer sampled it at)."""
    from pixsift.search.media.video import read_frame

    try:
        frame = read_frame(record.file_path, record.offset_s or 0.0).convert("RGB")
    except ImageRejectedError as error:  # VideoRejectedError included
        raise NotFoundError(f"image {record.id}'s video cannot be read: {error.reason}") from None
    return Picture(frame, frame.size, record.content_hash, record.id)


def file_picture(path: Path, min_side: int) -> Picture:
    try:
        loaded = read_image_for_embedding(path, min_side=min_side)
    except ImageRejectedError as error:
        raise InvalidInputError(f"cannot explain {path}: {error.reason}") from None
    return _picture(loaded, None)


def _picture(loaded: LoadedImage, image_id: int | None) -> Picture:
    shown = (int(loaded.metadata.width), int(loaded.metadata.height))
    return Picture(loaded.pixels, shown, loaded.content_hash, image_id)


def model_plan(embedder: Embedder) -> PixelPlan:
    plan = pixel_plan_for(embedder.preprocess)
    if plan is None:
        raise InvalidInputError(
            "explanations need the standard resize-and-centre-crop preprocessing; "
            "this model's image transform is another"
        )
    return plan


class Explainer:
    """Explanations for one library, cached on disk in the library's folder, keyed by the
    picture's content, its id, the model, the grid and the query vector itself (so a changed
    file, a re-indexed query image or new term weights never hit a stale entry)."""

    def __init__(
        self, library: Library, *, grid: int | None = None, method: HeatMethod = coarse_to_fine
    ) -> None:
        self.library = library
        self.grid = grid
        #: How cells are scored (another only to compare: benchmarks/explain.py).
        self.method = method
        self.cache_directory = library.directory / CACHE_DIRECTORY_NAME

    def picture(self, subject: int | Path) -> Picture:
        """An indexed image by id, or an image file."""
        if isinstance(subject, int):
            self.library.image(subject)  # an unknown id is refused before the model loads
            return indexed_picture(self.library, subject, model_plan(self.library.embedder).size)
        size = model_plan(self.library.embedder).size
        return file_picture(Path(subject), size)

    def explain(self, picture: Picture, terms: Sequence[QueryTerm]) -> Explanation:
        if not terms:
            raise InvalidInputError("the query is empty: give a text, an image or an image id")
        embedder = self.library.embedder
        query = query_vector(self.library, terms)
        plan = model_plan(embedder)
        grid = self.grid or patch_grid(embedder, plan.size)
        key = _cache_key(picture, embedder.model_id, grid, plan, query, self.method.__name__)
        cached = self._read(key)
        if cached is None:
            pixels = plan.model_input(plan.resize_and_crop(picture.pixels)[np.newaxis])[0]
            heat = self.method(embedder, pixels, query, grid)
            geometry = CropGeometry.of(plan, picture.pixels.size, picture.shown)
            cached = build_explanation(picture, embedder.model_id, geometry, grid, heat)
            self._write(self._path(key), cached.model_dump_json())
        if picture.image_id is not None:
            record = self.library.image(picture.image_id)
            if record.content_hash == picture.content_hash:
                alias = self._alias_key(record, terms)
                if alias is not None:
                    self._write(self._alias_path(alias), key)
        return cached

    def cached(self, image_id: int, terms: Sequence[QueryTerm]) -> Explanation | None:
        """The remembered explanation of indexed image ``image_id`` for ``terms``, found without
        reading the picture or embedding the query: by the terms themselves, the picture's
        indexed content, the model and the library's generation (which every write bumps, so a
        re-indexed query image or a new term-weighting sample is never served stale). None when
        it was never computed, the file's size or time changed since indexing (then the full
        path reads and checks it), or a term is an image file (its content is not known)."""
        record = self.library.image(image_id)
        if record.offset_s is None and not _unchanged_on_disk(record):
            return None
        alias = self._alias_key(record, terms)
        if alias is None:
            return None
        try:
            key = self._alias_path(alias).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return self._read(key) if key.isalnum() else None

    def _alias_key(self, record: ImageRecord, terms: Sequence[QueryTerm]) -> str | None:
        if not terms or any(term.image_path is not None for term in terms):
            return None
        embedder = self.library.embedder
        plan = model_plan(embedder)
        grid = self.grid or patch_grid(embedder, plan.size)
        described = [[term.text, term.image_id, term.weight] for term in terms]
        parts = [CACHE_FORMAT, "terms", record.content_hash, record.id, embedder.model_id, grid]
        parts.append(self.method.__name__)
        parts += [plan.size, self.library.store.index_generation(), described]
        text = json.dumps(parts, separators=(",", ":"))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def _alias_path(self, alias: str) -> Path:
        return self.cache_directory / "by-terms" / alias[:2] / f"{alias}.key"

    def _path(self, key: str) -> Path:
        return self.cache_directory / key[:2] / f"{key}.json"

    def _read(self, key: str) -> Explanation | None:
        try:
            return Explanation.model_validate_json(self._path(key).read_bytes())
        except (OSError, ValidationError):
            return None  # absent or unreadable: computed again

    def _write(self, path: Path, content: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(handle, "w") as output:
                output.write(content)
            os.replace(temporary, path)
        except OSError:
            return  # a read-only library still explains; it only cannot remember


def _unchanged_on_disk(record: ImageRecord) -> bool:
    """The file still has the size and modification time it was indexed with (one stat)."""
    try:
        status = record.file_path.stat()
    except OSError:
        return False
    return status.st_size == record.size_bytes and status.st_mtime_ns == record.mtime_ns


def build_explanation(
    picture: Picture,
    model_id: str,
    geometry: CropGeometry,
    grid: int,
    heat: Heat,
) -> Explanation:
    edges = cell_edges(geometry.size, grid)
    drops = heat.gains
    cells = [
        ExplanationCell(
            row=row,
            col=col,
            box=_rounded(geometry.to_original(_cell_box(edges, row, col))),
            drop=round(float(drops[row, col]), 6),
            measured=bool(heat.measured[row, col]),
        )
        for row in range(grid)
        for col in range(grid)
    ]
    return Explanation(
        method=heat.method,
        image_id=picture.image_id,
        model_id=model_id,
        width=geometry.width,
        height=geometry.height,
        model_size=geometry.size,
        grid=grid,
        crop_box=_rounded(geometry.crop_box),
        base_score=round(heat.base, 6),
        drops=[[round(float(value), 6) for value in row] for row in drops],
        cells=cells,
    )


def _cell_box(edges: list[int], row: int, col: int) -> tuple[float, float, float, float]:
    return (edges[col], edges[row], edges[col + 1], edges[row + 1])


def _rounded(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    return tuple(round(value, 3) for value in box)  # type: ignore[return-value]


def _cache_key(
    picture: Picture, model_id: str, grid: int, plan: PixelPlan, query: np.ndarray, method: str
) -> str:
    query_digest = hashlib.blake2b(np.ascontiguousarray(query, np.float32).tobytes()).hexdigest()
    parts = [CACHE_FORMAT, picture.content_hash, picture.image_id, model_id, grid, plan.size]
    parts += [query_digest, method]
    text = json.dumps(parts, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
