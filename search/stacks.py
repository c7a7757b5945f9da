"""Stacks: copies of one shot grouped under one result, computed at index time from facts already
stored.

Two kinds of copy make a stack, and they combine (a burst of RAW+JPEG pairs is one stack):

* **pairs**: a JPEG and a camera original (RAW, HEIC, TIFF: any format that is not a web
  format) of one folder with the same name but for the extension (``IMG_0042.CR2`` and
  ``IMG_0042.JPG``, ``IMG_0042.HEIC`` and ``IMG_0042.jpg``): a camera or phone writing one shot
  twice (a PNG beside a JPEG of the same name is not taken for one);
* **bursts**: pictures of the same camera (make and model) taken at most
  :data:`BURST_SECONDS` apart, each near-identical to the one before (cosine similarity of the
  stored embeddings at least :data:`BURST_SIMILARITY`).

Each image's ``stack_id`` is the id of its stack's best copy (most pixels, then the largest file:
the least compressed; then the oldest id), NULL when it stands alone. Written by the one writer
(``pixsift index``, :func:`compute_stacks`); read by the query engine (:func:`group_stacks`).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from pathlib import PurePosixPath

import numpy as np
from sqlalchemy import Engine, select, update

from pixsift.search.decisions import not_hidden
from pixsift.search.media.formats import RAW_EXTENSIONS
from pixsift.search.storage.models import Image
from pixsift.search.storage.rows import chunks
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.writes import bump_generation, lock_generation

BURST_SECONDS = 2.0
#: Frames of one burst are near-identical; two different scenes seldom reach this with CLIP.
BURST_SIMILARITY = 0.95
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
#: What a camera or phone writes as the original beside its JPEG: RAW files (recorded by their
#: kind, or "RAW"), HEIC/HEIF and TIFF. Other formats of the same name (a PNG export, a JPEG 2000
#: or Targa conversion) are separate pictures, not copies of one shot.
CAMERA_ORIGINAL_FORMATS = frozenset(
    {"HEIF", "TIFF", "RAW"} | {extension[1:].upper() for extension in RAW_EXTENSIONS}
)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def compute_stacks(store: LibraryStore) -> int:
    """Work out every stack again and store what changed; returns how many images are in a
    stack."""
    columns = (
        Image.id, Image.root_id, Image.relative_path, Image.format, Image.camera_make,
        Image.camera_model,
        Image.taken_at, Image.width, Image.height, Image.size_bytes, Image.stack_id,
    )  # fmt: skip
    with store.session() as session:
        rows = session.execute(select(*columns).where(Image.video_id.is_(None))).all()
    groups = _UnionFind()
    _join_pairs(rows, groups)
    _join_bursts(store, rows, groups)
    members: dict[int, list[tuple[int, ...]]] = defaultdict(list)
    for row in rows:
        if row.id in groups.parent:
            members[groups.find(row.id)].append(row)
    wanted: dict[int, int | None] = {row.id: None for row in rows}
    for stack in members.values():
        if len(stack) < 2:
            continue
        best = max(stack, key=lambda r: (r.width * r.height, r.size_bytes, -r.id))
        for row in stack:
            wanted[row.id] = best.id
    changed = [(row.id, wanted[row.id]) for row in rows if row.stack_id != wanted[row.id]]
    if changed:
        with store.session() as session:
            lock_generation(session)
            for image_id, stack_id in changed:
                session.execute(update(Image).where(Image.id == image_id).values(stack_id=stack_id))
            bump_generation(session)  # cached search selections are keyed by the generation
    return sum(1 for stack_id in wanted.values() if stack_id is not None)


def _join_pairs(rows: Sequence[tuple[int, ...]], groups: _UnionFind) -> None:
    by_stem: dict[tuple[int, str], list[tuple[int, ...]]] = defaultdict(list)
    for row in rows:
        path = PurePosixPath(row.relative_path)
        by_stem[(row.root_id, str(path.with_suffix("")).lower())].append(row)
    for same_name in by_stem.values():
        jpegs = [r.id for r in same_name if str(r.format).upper() in JPEG_FORMATS]
        originals = [r.id for r in same_name if str(r.format).upper() in CAMERA_ORIGINAL_FORMATS]
        if jpegs and originals:
            for other in [*jpegs[1:], *originals]:
                groups.join(jpegs[0], other)


def _join_bursts(store: LibraryStore, rows: Sequence[tuple[int, ...]], groups: _UnionFind) -> None:
    timed = sorted(
        (r for r in rows if r.taken_at and r.camera_make and r.camera_model),
        key=lambda r: (r.camera_make, r.camera_model, r.taken_at, r.id),
    )
    gap = timedelta(seconds=BURST_SECONDS)
    neighbours = [
        (before.id, after.id)
        for before, after in itertools.pairwise(timed)
        if (before.camera_make, before.camera_model) == (after.camera_make, after.camera_model)
        and after.taken_at - before.taken_at <= gap
    ]
    if not neighbours:
        return
    model_id = store.model_id() or ""
    ids = sorted({i for pair in neighbours for i in pair})
    vectors: dict[int, np.ndarray] = {}
    for chunk in chunks(ids):
        vectors |= store.embeddings_for(chunk, model_id)
    for before, after in neighbours:
        if before in vectors and after in vectors:
            similarity = float(vectors[before] @ vectors[after])
            if similarity >= BURST_SIMILARITY:
                groups.join(before, after)


# Reading stacks ----------------------------------------------------------------------------------


def has_stacks(engine: Engine) -> bool:
    # One id through the stack_id index: SQLite answered ``EXISTS (SELECT * ...)`` by scanning
    # every row (0.38 s per query at a million images on a loaded machine; 0.05 ms now).
    statement = select(Image.id).where(Image.stack_id.is_not(None)).limit(1)
    with engine.connect() as connection:
        return connection.scalar(statement) is not None


def group_stacks(
    engine: Engine, ranking: list[tuple[int, float]]
) -> tuple[list[tuple[int, float]], dict[int, tuple[int, ...]]]:
    """One slot per stack, where its best-ranked copy stood, showing the stack's best copy when
    the ranking holds it (it passed the filters); and each shown slot's whole stack, best copy
    first. Copies the user hid are left out of both (a hidden best copy: the next one leads)."""
    ids = [image_id for image_id, _ in ranking]
    stack_of: dict[int, int] = {}
    with engine.connect() as connection:
        for chunk in chunks(ids):
            found = connection.execute(
                select(Image.id, Image.stack_id).where(
                    Image.id.in_(chunk), Image.stack_id.is_not(None)
                )
            )
            stack_of |= {int(i): int(s) for i, s in found}
        members = _members(connection, sorted(set(stack_of.values())))
    ranked = set(ids)
    grouped: list[tuple[int, float]] = []
    stacks: dict[int, tuple[int, ...]] = {}
    seen: set[int] = set()
    for image_id, score in ranking:
        stack = stack_of.get(image_id)
        if stack is None:
            grouped.append((image_id, score))
            continue
        if stack in seen:
            continue
        seen.add(stack)
        copies = members[stack]
        cover = copies[0] if copies else stack  # the best copy, else the next one not hidden
        shown = cover if cover in ranked else image_id
        grouped.append((shown, score))
        stacks[shown] = copies
    return grouped, stacks


def _members(connection: object, stack_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Each stack's copies the user did not hide: the best copy first, then the others by id."""
    found: dict[int, list[int]] = {stack: [] for stack in stack_ids}
    for chunk in chunks(stack_ids):
        rows = connection.execute(  # type: ignore[attr-defined]
            select(Image.stack_id, Image.id)
            .where(Image.stack_id.in_(chunk), not_hidden())
            .order_by(Image.stack_id, Image.id)
        )
        for stack_id, image_id in rows:
            found[int(stack_id)].append(int(image_id))
    return {
        stack: (stack, *(i for i in ids if i != stack)) if stack in ids else tuple(ids)
        for stack, ids in found.items()
    }
