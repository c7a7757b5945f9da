"""A library's tags: re-tagging from the stored embeddings, listing, and the user's edits.

The CLI, the API and the page all go through :class:`LibraryTags`; tagging reads the stored
vectors (no image is decoded or embedded again) and writes only what changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from search.errors import LibraryError, NotFoundError
from search.library import Library
from search.model.weights import default_cache_directory
from search.records import EmbeddingMatrix
from search.storage.tags import (
    TagCount,
    add_manual_tags,
    remove_tags,
    replace_automatic_tags,
    tag_counts,
    tags_of,
)
from search.storage.vector_reads import StoredVectors
from search.tags.contract import TagNames
from search.tags.labels import label_embeddings
from search.tags.tagging import TaggingOptions, calibrated_tags
from search.tags.vocabulary import Vocabulary, default_vocabulary


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

    def recompute(self) -> TaggingReport:
        """Tag every image again from its stored embedding (manual tags and removals stay)."""
        model_id = self.library.store.model_id()
        if model_id is None:
            raise LibraryError("the library is empty: index a folder first (pixsift index DIR)")
        started = time.perf_counter()
        labels = self.label_embeddings()
        labelled = time.perf_counter()
        image_ids, vectors = StoredVectors(self.library.store).all(model_id)
        found = calibrated_tags(image_ids, vectors, labels, self.vocabulary.labels, self.options)
        with self.library.store.session() as session:
            changes = replace_automatic_tags(session, found, image_ids.tolist())
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
