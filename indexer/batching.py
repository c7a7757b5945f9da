"""Batches of an indexing run: what waits for the model, and a batch whose model pass runs on a
thread while the run gathers the next one.

The model pass (ONNX Runtime or torch) releases the GIL, so while one batch is embedded the main
thread goes on receiving decoded files, and the model starts the next batch as soon as the last
one is committed: it never waits for the decoders to refill a whole batch, nor for a commit.
Batches are committed in order, each before the next one looks up reusable embeddings, exactly as
when the model ran in the main thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from pixsift.indexer.decoding import DecodedImage
from pixsift.indexer.options import IndexingSummary
from pixsift.indexer.planning import WorkItem
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.writes import IndexingBatch, NewImage


@dataclass
class PendingBatch:
    """Results waiting for the model, and writes waiting for the next commit."""

    to_embed: list[tuple[WorkItem, DecodedImage]] = field(default_factory=list)
    writes: IndexingBatch = field(default_factory=lambda: IndexingBatch([], [], []))
    replaced_image_ids: list[int] = field(default_factory=list)
    #: Thumbnails by content hash, written before the batch commits.
    renditions: dict[str, dict[int, bytes]] = field(default_factory=dict)


@dataclass
class BatchInFlight:
    """A batch whose new content is being embedded; identical content already stored reuses its
    embedding (copies)."""

    pending: PendingBatch
    reusable: dict[str, int]
    reused_vectors: dict[int, np.ndarray]
    needs_model: list[int]
    vectors: Future | None

    def new_images(self, summary: IndexingSummary) -> Iterator[NewImage]:
        """The batch's new images, once the model is done with them."""
        decoded = self.pending.to_embed
        computed: dict[int, np.ndarray] = {}
        if self.vectors is not None:
            computed = dict(zip(self.needs_model, self.vectors.result(), strict=True))
            summary.embedded += len(self.needs_model)
        for index, (item, image) in enumerate(decoded):
            vector = computed.get(index)
            if vector is None:
                vector = self.reused_vectors[self.reusable[image.content_hash]]
            if item.known is None:
                summary.added += 1
            else:
                summary.updated += 1
            if image.text is not None:
                summary.ocr_done += 1
                summary.ocr_failed += image.text.failure is not None
            yield new_image(item, image, vector)


class ModelThread:
    """One thread that runs model passes, one batch at a time."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixsift-model")

    def start(
        self,
        pending: PendingBatch,
        store: LibraryStore,
        model_id: str,
        embed: Callable[[list[DecodedImage]], np.ndarray],
    ) -> BatchInFlight:
        """Look up reusable embeddings (the batches before are committed), then embed the rest
        on the thread."""
        decoded = pending.to_embed
        reusable: dict[str, int] = {}
        reused_vectors: dict[int, np.ndarray] = {}
        if decoded:
            hashes = (image.content_hash for _, image in decoded)
            reusable = store.embedded_image_ids_by_hash(hashes, model_id)
            reused_vectors = store.embeddings_for(list(reusable.values()), model_id)
        needs_model = [
            index for index, (_, image) in enumerate(decoded) if image.content_hash not in reusable
        ]
        vectors = (
            self._executor.submit(embed, [decoded[index][1] for index in needs_model])
            if needs_model
            else None
        )
        return BatchInFlight(pending, reusable, reused_vectors, needs_model, vectors)

    def close(self) -> None:
        """Wait for a model pass still running (at most one batch), then end the thread."""
        self._executor.shutdown(wait=True)


def new_image(item: WorkItem, image: DecodedImage, vector: np.ndarray) -> NewImage:
    return NewImage(
        root_id=item.root_id,
        path_bytes=item.scanned.path_bytes,
        relative_path=item.scanned.relative_path,
        size_bytes=item.scanned.size_bytes,
        mtime_ns=item.scanned.mtime_ns,
        content_hash=image.content_hash,
        facts=image.metadata,
        embedding=vector,
        replaces_image_id=item.known.image_id if item.known else None,
        identity=item.scanned.identity,
        text=None if image.text is None else (image.text.text, image.text.failure),
        placeholder=image.placeholder,
    )
