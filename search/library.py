"""A pixsift library: its database, its vector index and the model that made its vectors.

``Library.open(path)`` is the Python API; the CLI and the web app call the same methods.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from platformdirs import user_data_path

from pixsift.search.decisions import apart_pairs, hidden_image_ids
from pixsift.search.errors import (
    InvalidInputError,
    LibraryError,
    NotFoundError,
    PixsiftError,
)
from pixsift.search.library_model import (
    STATE_EMBEDDING_DIMENSION,
    check_library_model,
    claim_library_model,
    library_model_spec,
    library_runtime,
)
from pixsift.search.media.imagefile import ImageRejectedError, read_image_for_embedding
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.protocol import Embedder
from pixsift.search.model.spec import ModelSpec, Runtime
from pixsift.search.query.duplicates import DEFAULT_DUPLICATE_THRESHOLD, find_duplicate_groups
from pixsift.search.query.engine import run_search
from pixsift.search.query.request import QueryTerm, SearchPage, SearchRequest
from pixsift.search.records import (
    EmbeddingMatrix,
    FailureRecord,
    ImageRecord,
    LibraryStats,
    SearchHit,
)
from pixsift.search.storage.database import create_database_engine, upgrade_database
from pixsift.search.storage.privacy import private_directory, private_file
from pixsift.search.storage.store import LibraryStore
from pixsift.search.storage.vector_reads import StoredVectors
from pixsift.search.storage.videos import VideoStore
from pixsift.search.vectors.index import VectorIndex
from pixsift.search.vectors.live import LiveIndex, PublishedIndexReader
from pixsift.search.vectors.sidecar import read_sidecar
from pixsift.search.vectors.text_like import tuning_prompts

DATABASE_FILENAME = "pixsift.sqlite3"
INDEX_DIRECTORY_NAME = "index"


def default_library_directory() -> Path:
    return user_data_path("pixsift", appauthor=False)


class Library:
    """Open with :meth:`open`; search with :meth:`search`."""

    def __init__(
        self,
        directory: Path,
        store: LibraryStore,
        *,
        embedder: Embedder | None = None,
        model_spec: ModelSpec | None = None,
    ) -> None:
        self.directory = directory
        self.store = store
        self._embedder = embedder
        self._requested_model_spec = model_spec
        self._reader = PublishedIndexReader(self.index_directory, StoredVectors(store))
        self._live: tuple[tuple[object, ...], LiveIndex] | None = None
        self._index_lock = threading.Lock()
        self._embedding_sample: tuple[int, EmbeddingMatrix] | None = None

    @classmethod
    def open(
        cls,
        directory: Path | str | None = None,
        *,
        database_url: str | None = None,
        embedder: Embedder | None = None,
        model_spec: ModelSpec | None = None,
    ) -> Library:
        """Open (creating if needed) the library in ``directory`` and bring its schema current."""
        # Absolute once, here: a relative path would later be read against another folder
        # (Flask's send_file takes one relative to the web package).
        library_directory = private_directory(
            Path(directory) if directory else default_library_directory()
        )
        if database_url is None:
            private_file(library_directory / DATABASE_FILENAME)
        url = database_url or f"sqlite:///{library_directory / DATABASE_FILENAME}"
        engine = create_database_engine(url)
        upgrade_database(engine)
        return cls(
            library_directory, LibraryStore(engine), embedder=embedder, model_spec=model_spec
        )

    def close(self) -> None:
        self.store.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def index_directory(self) -> Path:
        return self.directory / INDEX_DIRECTORY_NAME

    # The model -----------------------------------------------------------------------------

    def model_spec(self) -> ModelSpec:
        """The model to run: what the caller asked for, else what the library was built with."""
        return library_model_spec(self.store, self._requested_model_spec)

    def runtime(self) -> Runtime:
        """How this process runs the library's model: at the library's precision
        (search.library_model)."""
        return library_runtime(self.store)

    @property
    def embedder(self) -> Embedder:
        """The library's model, loaded on first use and checked against the stored vectors."""
        if self._embedder is None:
            self._embedder = load_embedder(self.model_spec(), self.runtime())
        self.check_model(self._embedder.model_id)
        return self._embedder

    def claim_model(self, embedder: Embedder, spec: ModelSpec | None = None) -> None:
        """Make ``embedder`` the library's model (first indexing run), or check it matches."""
        claim_library_model(self.store, embedder, spec)
        self._embedder = embedder

    def check_model(self, model_id: str) -> None:
        check_library_model(self.store, model_id)

    # The vector index ------------------------------------------------------------------------

    def vector_index(self) -> LiveIndex:
        """What searches read: the last published index, plus an exact scan of the vectors
        stored since. Never builds, writes or deletes index files (see :meth:`publish_index`)."""
        key = (self.store.index_generation(), self._reader.published_stamp())
        current = self._live
        if current is not None and current[0] == key:
            return current[1]
        with self._index_lock:
            if self._live is not None and self._live[0] == key:
                return self._live[1]
            model_id = self.store.model_id()
            live = LiveIndex(None) if model_id is None else self._reader.live_index(model_id)
            self._live = (key, live)
            return live

    def publish_index(self) -> VectorIndex | None:
        """Writers only (the indexer, bulk import): publish an index of every stored vector,
        under the publish lock, unless the published one is current (then None)."""
        from pixsift.search.vectors.writer import publish_stored_vectors  # writers only

        model_id = self.store.model_id()
        if model_id is None:
            return None
        return publish_stored_vectors(
            self.index_directory,
            self._reader.source,
            model_id=model_id,
            dimension=self._stored_dimension,
            text_queries=lambda: self._prompt_embeddings(load_model=False),
        )

    def rebuild_index(
        self, index_type: str | None = None, *, model_prompts: bool = True
    ) -> VectorIndex:
        """Regenerate the vector index from the stored embeddings (no re-embedding) and publish
        it.

        ``index_type``: "auto" (chosen by library size and memory budget) or a FAISS factory
        string such as "IVF1024,SQ8" or "HNSW32"; None keeps what the last build was asked for.
        ``model_prompts=False`` tunes on synthetic text-like queries instead of the model's
        prompt embeddings: for stored vectors that are not the model's own image embeddings
        (generated benchmark data), where the model's texts say nothing about real queries."""
        from pixsift.search.vectors.writer import publish_stored_vectors  # writers only

        model_id = self.store.model_id()
        if model_id is None:
            raise LibraryError("the library is empty: index a folder first (pixsift index DIR)")
        try:
            index = publish_stored_vectors(
                self.index_directory,
                self._reader.source,
                model_id=model_id,
                dimension=self._stored_dimension,
                rebuild=True,
                index_type=index_type,
                text_queries=lambda: (
                    self._prompt_embeddings(load_model=True) if model_prompts else None
                ),
            )
        except ValueError as error:
            raise InvalidInputError(str(error)) from error
        assert index is not None  # a rebuild always publishes
        return index

    def _prompt_embeddings(self, *, load_model: bool) -> EmbeddingMatrix | None:
        """The library's model's embeddings of the tuning prompts, which the index is tuned on
        (with held-out images), or None (synthetic text-like queries stand in) when the model is
        not loaded and ``load_model`` is False, or cannot be loaded: a missing checkpoint never
        fails a rebuild."""
        embedder = self._embedder
        if embedder is None and load_model:
            try:
                embedder = self.embedder
            except (PixsiftError, OSError):
                return None  # no usable weights here: synthetic text-like queries stand in
        if embedder is None or embedder.model_id != self.store.model_id():
            return None
        return embedder.embed_texts(tuning_prompts())

    def _stored_dimension(self) -> int:
        """The embedding dimension recorded with the model: an emptied library still gets an
        index that accepts its model's queries, without loading the model."""
        recorded = self.store.get_state(STATE_EMBEDDING_DIMENSION)
        if recorded is not None:
            return int(recorded)
        return self.embedder.dimension

    def sigmoid_scale(self) -> tuple[float, float] | None:
        """(scale, bias) of a sigmoid-trained model (search.query.relevance); None otherwise."""
        return getattr(self.embedder, "sigmoid_scale", None)

    # Searching -------------------------------------------------------------------------------

    def search(
        self,
        text: str | None = None,
        *,
        image: Path | str | None = None,
        image_id: int | None = None,
        k: int = 10,
    ) -> list[SearchHit]:
        """The ``k`` images most similar to one query: a text, an image file or an indexed image.
        The simple form of :meth:`find`: semantic mode, no filters, and the plain nearest
        neighbours (no relevance cutoff, no stacks, no place or date reading of the text)."""
        given = [value for value in (text, image, image_id) if value is not None]
        if len(given) != 1:
            raise InvalidInputError("give exactly one query: a text, an image file or an image id")
        path = Path(image) if image is not None else None
        term = QueryTerm(text=text, image_path=path, image_id=image_id)
        request = SearchRequest(
            (term,), mode="semantic", k=k, weaker=True, stacks=False, interpret=False
        )
        return self.find(request).hits

    def query_embedding(
        self,
        *,
        text: str | None = None,
        image: Path | str | None = None,
        image_id: int | None = None,
    ) -> EmbeddingMatrix:
        given = [value for value in (text, image, image_id) if value is not None]
        if len(given) != 1:
            raise InvalidInputError("give exactly one query: a text, an image file or an image id")
        if text is not None:
            if not text.strip():
                raise InvalidInputError("the search text is empty")
            return self.embedder.embed_texts([text])
        if image is not None:
            return self.embed_image_file(Path(image))
        return self.stored_embedding(int(image_id))  # type: ignore[arg-type]

    def embed_image_file(self, path: Path) -> EmbeddingMatrix:
        try:
            loaded = read_image_for_embedding(path)
        except ImageRejectedError as error:
            raise InvalidInputError(f"cannot search by {path}: {error.reason}") from error
        return self.embedder.embed_images([loaded.pixels])

    def stored_embedding(self, image_id: int) -> EmbeddingMatrix:
        model_id = self.store.model_id() or ""
        vectors = self.store.embeddings_for([image_id], model_id)
        if image_id not in vectors:
            raise NotFoundError(f"no indexed image has id {image_id}")
        return vectors[image_id].reshape(1, -1).astype(np.float32)

    def find(self, request: SearchRequest, *, places: bool = True) -> SearchPage:
        """The full query engine: combined terms, filters, keyword hybrid, pages.
        ``places=False``: for a caller who may not see where pictures were taken (location
        filters refused, place names not matched; see :func:`run_search`)."""
        with self.store.reading():
            if self.is_empty():
                return SearchPage(hits=[], request=request, next_offset=None)
            return run_search(self, request, places=places)

    def is_empty(self) -> bool:
        """True until a first indexing run has chosen the library's model."""
        return self.store.model_id() is None

    def embedding_sample(self, count: int) -> EmbeddingMatrix:
        """A fixed sample of stored embeddings (for weighing query terms), cached per
        index generation."""
        generation = self.store.index_generation()
        cached = self._embedding_sample
        if cached is None or cached[0] != generation:
            model_id = self.store.model_id() or ""
            cached = (generation, self.store.sample_embeddings(model_id, count))
            self._embedding_sample = cached
        return cached[1]

    def duplicate_groups(self, threshold: float = DEFAULT_DUPLICATE_THRESHOLD) -> list[list[int]]:
        """Groups of near-identical images (re-encodes, resizes, small crops)."""
        if not 0 < threshold <= 1:
            raise InvalidInputError("the duplicate threshold must lie in (0, 1]")
        image_ids, vectors = self.store.all_embeddings(self.store.model_id() or "")
        # The user's decisions (search.decisions): hidden pictures and pairs said to differ.
        shown = ~np.isin(image_ids, hidden_image_ids(self.store.engine))
        apart = apart_pairs(self.store.engine)
        return find_duplicate_groups(image_ids[shown], vectors[shown], threshold, apart=apart)

    # Facts ------------------------------------------------------------------------------------

    def image(self, image_id: int) -> ImageRecord:
        records = self.store.images_by_ids([image_id])
        if image_id not in records:
            raise NotFoundError(f"no indexed image has id {image_id}")
        return records[image_id]

    def images(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]:
        return self.store.images_by_ids(image_ids)

    def stats(self) -> LibraryStats:
        from pixsift.search.storage.tags import text_failure_count

        sidecar = read_sidecar(self.index_directory)
        # Counted as `pixsift failures` lists them: skipped files, then unread texts.
        skipped = self.store.failure_count() + VideoStore(self.store).failure_count()
        with self.store.session() as session:
            skipped += text_failure_count(session)
        return LibraryStats(
            image_count=self.store.image_count(),
            root_paths=self.store.root_paths(),
            failure_count=skipped,
            model_id=self.store.model_id(),
            index_type=sidecar.index_type if sidecar else "none",
            index_recall=dict(sidecar.recall_by_kind) if sidecar else {},
            index_generation=self.store.index_generation(),
            last_indexed_at=self.store.last_indexed_at(),
        )

    def failures(self) -> list[FailureRecord]:
        """Skipped files, pictures and videos, and pictures whose text OCR could not read, by
        path."""
        from pixsift.search.storage.tags import text_failures

        with self.store.session() as session:
            unread = text_failures(session)
        records = self.store.failures() + VideoStore(self.store).failures() + unread
        return sorted(records, key=lambda record: record.path)

    def import_vectors(
        self, vectors: EmbeddingMatrix, *, model_id: str | None = None, publish: bool = True
    ) -> list[int]:
        """Add synthetic image rows carrying ``vectors`` as their embeddings (for benchmarks and
        bulk tools: no files, no model run); returns their ids. A bulk import is a writer: it
        publishes the index, unless ``publish`` is False (several imports, then one rebuild)."""
        from pixsift.search.storage.bulk import insert_vectors

        model_id = model_id or self.store.model_id() or self.embedder.model_id
        image_ids = insert_vectors(self.store, vectors, model_id=model_id).tolist()
        if publish:
            self.publish_index()
        return image_ids
