"""Stage 3: the indexing run. Plan, decode in workers, embed in batches, commit each batch, then
remove what vanished and publish the vector index.

A run killed at any moment loses at most the batch in flight: each batch's rows, embeddings and
the index generation are committed together. The indexer is one of the index's writers: it
publishes whenever enough vectors were committed since its last publication (searches scan those
exactly until then) and at the end of the run; a crash before publishing leaves the vectors in
the database, where searches find them and the next run publishes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from pixsift.indexer import thumbnails
from pixsift.indexer.batching import BatchInFlight, ModelThread, PendingBatch
from pixsift.indexer.decoding import (
    DecodedImage,
    DecodeFailure,
    DecodeResult,
    DecoderPool,
)
from pixsift.indexer.ocr import recognise_pending
from pixsift.indexer.options import (
    MAX_PENDING_WRITES,
    IndexingOptions,
    IndexingSummary,
)
from pixsift.indexer.organising import organise_library
from pixsift.indexer.planning import IndexingPlan, WorkItem, plan_indexing, resolve_root
from pixsift.indexer.video import VideoIndexing, VideoPlan, VideoSummary, plan_videos
from pixsift.search.errors import PixsiftError
from pixsift.search.library import Library
from pixsift.search.media.formats import NOT_IMAGE_EXTENSIONS, SUPPORTED_EXTENSIONS
from pixsift.search.media.video import VIDEO_EXTENSIONS, SamplingOptions
from pixsift.search.model.protocol import Embedder
from pixsift.search.model.spec import ModelSpec
from pixsift.search.model.weights import model_id_for
from pixsift.search.storage.store import KnownFile
from pixsift.search.storage.writes import MovedImage, SkippedFile
from pixsift.search.tags.service import LibraryTags


class DecodeStage(Protocol):
    """Where files are decoded (and, on a cluster, embedded too): results in submission order."""

    def decode_in_order(self, path_bytes_list: Iterable[bytes]) -> Iterator[DecodeResult]: ...

    def model_input(self, decoded: list[DecodedImage]) -> np.ndarray: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


#: Opens the decode stage of a run; the default decodes in local worker processes.
DecodeStageFactory = Callable[[Embedder, IndexingOptions], DecodeStage]


def local_decode_stage(embedder: Embedder, options: IndexingOptions) -> DecodeStage:
    return DecoderPool(
        embedder.preprocess,
        min_side=_preprocess_size(embedder),
        workers=options.workers,
        timeout_seconds=options.decode_timeout_seconds,
        ocr=options.ocr,
        thumbnail_sizes=options.thumbnail_sizes,
        lookahead=2 * options.batch_size,
    )


class Indexer:
    """Indexes folders into a library with an embedder; both are handed in, so tests can fake
    either. The embedder may come as a loader (``embedder_loader``), called only once a run
    finds something to embed: re-indexing an unchanged folder never loads the model.
    ``decode_stage`` replaces the local decoding processes (indexer.distributed: a Ray cluster
    decodes and embeds); batches, commits, failure records and publication stay the same."""

    def __init__(
        self,
        library: Library,
        embedder: Embedder | None = None,
        options: IndexingOptions | None = None,
        *,
        model_spec: ModelSpec | None = None,
        embedder_loader: Callable[[], Embedder] | None = None,
        decode_stage: DecodeStageFactory = local_decode_stage,
    ) -> None:
        if embedder is None and (embedder_loader is None or model_spec is None):
            raise ValueError("give an embedder, or an embedder loader and its model spec")
        self.library = library
        self.store = library.store
        self._embedder = embedder
        self._embedder_loader = embedder_loader
        self.options = options or IndexingOptions()
        self.model_spec = model_spec
        self._decode_stage = decode_stage
        self._unpublished = 0
        # Known without loading the model: a mismatch fails before anything is written.
        self.model_id = embedder.model_id if embedder else model_id_for(model_spec)  # type: ignore[arg-type]
        library.check_model(self.model_id)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            assert self._embedder_loader is not None
            self._embedder = self._embedder_loader()
            self.library.check_model(self._embedder.model_id)
        return self._embedder

    def index(self, roots: list[Path]) -> IndexingSummary:
        started = time.monotonic()
        resolved_roots = [resolve_root(root) for root in roots]
        if self._embedder is not None or self.library.is_empty():
            # A first run makes the model the library's even when the folders hold no image.
            self.library.claim_model(self.embedder, self.model_spec)
        plan = plan_indexing(
            self.store,
            resolved_roots,
            SUPPORTED_EXTENSIONS,
            include_hidden=self.options.include_hidden,
            follow_symlinks=self.options.follow_symlinks,
            # Videos are planned on their own (indexer.video): never sniffed as images.
            skip_extensions=NOT_IMAGE_EXTENSIONS | VIDEO_EXTENSIONS,
        )
        video_plan = (
            plan_videos(
                self.store,
                resolved_roots,
                include_hidden=self.options.include_hidden,
                follow_symlinks=self.options.follow_symlinks,
            )
            if self.options.index_videos
            else VideoPlan()
        )
        summary = IndexingSummary(
            unchanged=plan.unchanged_count, still_failing=plan.still_failing_count
        )
        if plan.work or video_plan.work:  # before any write: a mismatch leaves nothing behind
            self.library.claim_model(self.embedder, self.model_spec)
        self.store.record_identities(plan.identities_to_record)
        if plan.work:
            self._process(plan, summary)
        self._remove_vanished(plan, summary)
        summary.videos = self._index_videos(video_plan)
        if self.options.ocr:
            self._recognise_older_images(summary)
        for root_id in plan.root_ids:
            self.store.finish_root_run(root_id)
        # Places and stacks, from facts already stored.
        organise_library(self.store, changed=bool(
            summary.added + summary.updated + summary.removed
            + summary.videos.indexed + summary.videos.removed
        ))  # fmt: skip
        self.library.publish_index()  # a no-op unless something changed
        thumbnails.remove_stale_thumbnails(self.library, summary)
        if self.options.tag:
            tag_after_run(self.library, summary)
        summary.elapsed_seconds = time.monotonic() - started
        return summary

    # Decoding and embedding -------------------------------------------------------------------

    def _process(self, plan: IndexingPlan, summary: IndexingSummary) -> None:
        hashes_of_vanished = _by_content_hash(plan.vanished)
        pool = self._decode_stage(self.embedder, self.options)
        model = ModelThread()
        pending, in_flight = PendingBatch(), None
        progress = tqdm(
            total=len(plan.work),
            unit="img",
            disable=_progress_disabled(self.options),
            smoothing=0.1,
        )
        try:
            results = pool.decode_in_order(item.scanned.path_bytes for item in plan.work)
            for item, result in zip(plan.work, results, strict=True):
                self._route(item, result, pending, plan, hashes_of_vanished, summary)
                if self._batch_due(pending):
                    # The batch before is committed while this one's decoding went on.
                    self._commit(in_flight, summary)
                    in_flight = self._embed_behind(pending, pool, model)
                    pending = PendingBatch()
                progress.update(1)
            self._commit(in_flight, summary)
            self._commit(self._embed_behind(pending, pool, model), summary)
            pool.close()
        except BaseException:
            pool.abort()
            raise
        finally:
            model.close()
            progress.close()

    def _route(
        self,
        item: WorkItem,
        result: DecodedImage | DecodeFailure,
        pending: PendingBatch,
        plan: IndexingPlan,
        hashes_of_vanished: dict[str, list[bytes]],
        summary: IndexingSummary,
    ) -> None:
        """Decide what a decoded file is: a failure, a moved file, a copy, or new content."""
        scanned = item.scanned
        if isinstance(result, DecodeFailure):
            pending.writes.skipped_files.append(
                SkippedFile(
                    item.root_id,
                    scanned.path_bytes,
                    result.reason,
                    scanned.size_bytes,
                    scanned.mtime_ns,
                )
            )
            if item.known is not None:
                # The file at this path is now unreadable: its old picture is no longer there.
                pending.replaced_image_ids.append(item.known.image_id)
            summary.failed += 1
            return
        pending.renditions[result.content_hash] = result.renditions
        moved_from = self._take_vanished_twin(result.content_hash, plan, hashes_of_vanished)
        if item.known is None and moved_from is not None:
            pending.writes.moved_images.append(_moved(item, moved_from, result.placeholder))
            summary.moved += 1
            return
        if item.known is not None and item.known.content_hash == result.content_hash:
            # Touched but not changed (e.g. copied back with a new mtime): no new embedding.
            pending.writes.moved_images.append(_moved(item, item.known, result.placeholder))
            summary.updated += 1
            return
        pending.to_embed.append((item, result))

    def _take_vanished_twin(
        self, content_hash: str, plan: IndexingPlan, hashes_of_vanished: dict[str, list[bytes]]
    ) -> KnownFile | None:
        candidates = hashes_of_vanished.get(content_hash)
        while candidates:
            known = plan.vanished.pop(candidates.pop(), None)
            if known is not None:
                return known
        return None

    def _batch_due(self, pending: PendingBatch) -> bool:
        writes = pending.writes
        return (
            len(pending.to_embed) >= self.options.batch_size
            or len(writes.moved_images) + len(writes.skipped_files) >= MAX_PENDING_WRITES
        )

    def _embed_behind(
        self, pending: PendingBatch, pool: DecodeStage, model: ModelThread
    ) -> BatchInFlight:
        model_id = self.embedder.model_id
        return model.start(
            pending, self.store, model_id, lambda images: self._vectors(images, pool)
        )

    def _commit(self, in_flight: BatchInFlight | None, summary: IndexingSummary) -> None:
        if in_flight is None:
            return
        pending = in_flight.pending
        pending.writes.new_images.extend(in_flight.new_images(summary))
        summary.thumbnails_written += thumbnails.write_thumbnails(self.library, pending.renditions)
        self.store.commit_batch(pending.writes, self.embedder.model_id)
        if pending.replaced_image_ids:
            self.store.remove_images(pending.replaced_image_ids)
            summary.removed += len(pending.replaced_image_ids)
        self._unpublished += len(pending.writes.new_images) + len(pending.replaced_image_ids)
        self._publish_if_due()

    def _publish_if_due(self) -> None:
        if self._unpublished >= self.options.publish_every:
            self.library.publish_index()
            self._unpublished = 0

    def _recognise_older_images(self, summary: IndexingSummary) -> None:
        """OCR the images indexed before OCR was on (or whose result was lost): their
        embeddings stay as they are."""
        done = recognise_pending(self.library, workers=self.options.workers)
        summary.ocr_done += done.recognised + done.failed
        summary.ocr_failed += done.failed

    def _vectors(self, images: list[DecodedImage], pool: DecodeStage) -> np.ndarray:
        if all(image.embedding is not None for image in images):
            return np.stack([image.embedding for image in images])  # type: ignore[misc]
        return self.embedder.embed_pixel_batch(pool.model_input(images))

    def _index_videos(self, plan: VideoPlan) -> VideoSummary:
        videos = VideoIndexing(
            self.store,
            lambda: self.embedder,
            sampling=SamplingOptions(interval_seconds=self.options.video_interval_seconds),
            workers=self.options.workers,
            timeout_seconds=self.options.video_timeout_seconds,
            batch_size=self.options.batch_size,
            thumbnails=thumbnails.target(self.library, self.options.thumbnail_sizes),
        )
        return videos.run(plan, self._count_written)

    def _count_written(self, vectors: int) -> None:
        self._unpublished += vectors
        self._publish_if_due()

    # Removal ------------------------------------------------------------------------------------

    def _remove_vanished(self, plan: IndexingPlan, summary: IndexingSummary) -> None:
        vanished_ids = [known.image_id for known in plan.vanished.values()]
        self.store.remove_images(vanished_ids)
        self.store.remove_failures(plan.vanished_failures)
        summary.removed += len(vanished_ids)


def tag_after_run(library: Library, summary: IndexingSummary) -> None:
    """Tag what a run (or an interrupted earlier one) embedded. It runs after the index is
    published, so a failure costs the tags only: they are made by the next run."""
    try:
        summary.tagged = LibraryTags(library).update().tagged_images
    except (PixsiftError, OSError, RuntimeError, ValueError) as error:
        summary.tagging_failure = f"{type(error).__name__}: {error}"


def _by_content_hash(vanished: dict[bytes, KnownFile]) -> dict[str, list[bytes]]:
    by_hash: dict[str, list[bytes]] = {}
    for path_bytes, known in vanished.items():
        by_hash.setdefault(known.content_hash, []).append(path_bytes)
    return by_hash


def _moved(item: WorkItem, known: KnownFile, placeholder: str | None = None) -> MovedImage:
    return MovedImage(
        image_id=known.image_id,
        root_id=item.root_id,
        path_bytes=item.scanned.path_bytes,
        relative_path=item.scanned.relative_path,
        size_bytes=item.scanned.size_bytes,
        mtime_ns=item.scanned.mtime_ns,
        identity=item.scanned.identity,
        placeholder=placeholder,
    )


def _preprocess_size(embedder: Embedder) -> int:
    return int(getattr(embedder, "image_size", 224))


def _progress_disabled(options: IndexingOptions) -> bool | None:
    # tqdm's None means: draw only on a terminal, stay quiet in pipes and logs.
    return None if options.show_progress is None else not options.show_progress
