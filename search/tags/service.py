"""A library's tags: re-tagging from the stored embeddings, listing, and the user's edits.

The CLI, the API and the page all go through :class:`LibraryTags`; tagging reads the stored
vectors (no image is decoded or embedded again) and writes only what changed.

:meth:`LibraryTags.update` tags only the embeddings written since the last tagging: the library
state records the index generation it tagged through and a digest of what the tags depend on
(model, vocabulary and its templates, calibration options); when the digest changes, every
image is tagged again. The marker moves only after the tags are written, so an interrupted or
failed tagging is simply done again by the next run.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixsift.search.errors import LibraryError, NotFoundError
from pixsift.search.library import Library
from pixsift.search.model.weights import default_cache_directory
from pixsift.search.records import EmbeddingMatrix
from pixsift.search.storage.tags import (
    TagCount,
    add_manual_tags,
    remove_tags,
    replace_automatic_tags,
    tag_counts,
    tags_of,
)
from pixsift.search.storage.vector_reads import StoredVectors
from pixsift.search.storage.writes import set_state
from pixsift.search.tags.contract import TagNames
from pixsift.search.tags.labels import label_embeddings
from pixsift.search.tags.tagging import TaggingOptions, calibrated_tags
from pixsift.search.tags.vocabulary import Vocabulary, default_vocabulary

#: Library state: the index generation whose embeddings are all tagged, and what they were
#: tagged with.
STATE_TAGGED_GENERATION = "tags.generation"
STATE_TAGGED_WITH = "tags.digest"
#: Images a label's calibration is measured on at most (a deterministic sample beyond that).
CALIBRATION_ROWS = 20_000


@dataclass(frozen=True)
class TaggingReport:
    images: int
    tagged_images: int
    tags_added: int
    tags_removed: int
    label_seconds: float
    tagging_seconds: float


@dataclass(frozen=True)
class ImageTagList:
    image_id: int
    #: (tag, source) pairs, source "manual" or "auto".
    tags: list[tuple[str, str]]


class LibraryTags:
    def __init__(
        self,
        library: Library,
        *,
        vocabulary: Vocabulary | None = None,
        options: TaggingOptions | None = None,
        cache_directory: Path | None = None,
    ) -> None:
        self.library = library
        self.vocabulary = vocabulary or default_vocabulary()
        self.options = options or TaggingOptions()
        self.cache_directory = cache_directory or default_cache_directory()

    def label_embeddings(self) -> EmbeddingMatrix:
        embedder = self.library.embedder
        self.library.check_model(embedder.model_id)
        return label_embeddings(embedder, self.vocabulary, self.cache_directory)

    def tagging_digest(self, model_id: str) -> str:
        """Names everything an automatic tag depends on besides the image's embedding."""
        text = "\n".join((model_id, self.vocabulary.digest, repr(self.options)))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def recompute(self) -> TaggingReport:
        """Tag every image again from its stored embedding (manual tags and removals stay)."""
        return self._tag(everything=True)

    def update(self) -> TaggingReport:
        """Tag the images embedded since the last tagging; every image when the model, the
        vocabulary or the calibration changed since then."""
        return self._tag(everything=False)

    def _tag(self, *, everything: bool) -> TaggingReport:
        store = self.library.store
        model_id = store.model_id()
        if model_id is None:
            raise LibraryError("the library is empty: index a folder first (pixsift index DIR)")
        digest = self.tagging_digest(model_id)
        # Read before the rows: a row written meanwhile is tagged now or by the next run.
        through = store.index_generation()
        stored = StoredVectors(store)
        if everything or store.get_state(STATE_TAGGED_WITH) != digest:
            image_ids, vectors = stored.all(model_id)
        else:
            tagged_through = int(store.get_state(STATE_TAGGED_GENERATION) or 0)
            image_ids, half = stored.written_after(model_id, tagged_through)
            vectors = half.astype(np.float32)
        started = time.perf_counter()
        if len(image_ids) == 0:
            return TaggingReport(0, 0, 0, 0, 0.0, 0.0)
        labels = self.label_embeddings()
        labelled = time.perf_counter()
        calibration = stored.sample(model_id, CALIBRATION_ROWS)
        found = calibrated_tags(
            image_ids, vectors, labels, self.vocabulary.labels, self.options, calibration
        )
        with store.session() as session:
            changes = replace_automatic_tags(session, found, image_ids.tolist())
            set_state(session, STATE_TAGGED_GENERATION, str(through))
            set_state(session, STATE_TAGGED_WITH, digest)
        return TaggingReport(
            images=len(image_ids),
            tagged_images=len(found),
            tags_added=changes.added,
            tags_removed=changes.removed,
            label_seconds=labelled - started,
            tagging_seconds=time.perf_counter() - labelled,
        )

    def counts(self) -> list[TagCount]:
        with self.library.store.session() as session:
            return tag_counts(session)

    def of_image(self, image_id: int) -> ImageTagList:
        self.library.image(image_id)  # NotFoundError for an unknown id
        with self.library.store.session() as session:
            return ImageTagList(image_id, tags_of(session, [image_id]).get(image_id, []))

    def add(self, image_id: int, tags: TagNames) -> ImageTagList:
        self._require(image_id)
        with self.library.store.session() as session:
            add_manual_tags(session, image_id, list(tags.tags))
        return self.of_image(image_id)

    def remove(self, image_id: int, tags: TagNames) -> ImageTagList:
        self._require(image_id)
        with self.library.store.session() as session:
            remove_tags(session, image_id, list(tags.tags))
        return self.of_image(image_id)

    def _require(self, image_id: int) -> None:
        if not self.library.store.images_by_ids([image_id]):
            raise NotFoundError(f"no indexed image has id {image_id}")
