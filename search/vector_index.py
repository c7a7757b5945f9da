"""The FAISS cosine index: building, searching, and saving/loading with a checked JSON sidecar.

The index is a derived artifact of the database: it can always be rebuilt from the stored
embeddings. Cosine similarity is the inner product of L2-normalised vectors, and the FAISS ids are
the database image ids, written together with the vectors by ``add_with_ids``.

On disk a library holds ``index-<generation>.faiss`` files and one ``index.json`` sidecar naming the
current one. The sidecar is replaced last and atomically, so it is the commit point: a crash at any
moment leaves either the old pair or the new pair, never a mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from search.errors import IndexMismatchError, ModelMismatchError
from search.records import EmbeddingMatrix, ImageIdArray

SIDECAR_NAME = "index.json"
SIDECAR_FORMAT_VERSION = 1
METRIC_INNER_PRODUCT = "inner_product"


@dataclass(frozen=True)
class IndexSidecar:
    """What an index file holds, checked against the database before the index is used."""

    model_id: str
    dimension: int
    metric: str
    count: int
    generation: int
    index_type: str
    index_file: str
    format_version: int = SIDECAR_FORMAT_VERSION


class VectorIndex:
    """A FAISS index whose ids are image ids, and the sidecar that describes it."""

    def __init__(self, faiss_index: faiss.Index, sidecar: IndexSidecar) -> None:
        self.faiss_index = faiss_index
        self.sidecar = sidecar

    @property
    def count(self) -> int:
        return int(self.faiss_index.ntotal)

    def search(
        self, queries: EmbeddingMatrix, k: int, allowed_ids: ImageIdArray | None = None
    ) -> tuple[EmbeddingMatrix, ImageIdArray]:
        """Top-``k`` (scores, ids) per query row, among ``allowed_ids`` when given (the filter is
        applied inside the search, so k results come back whenever k allowed ids exist).
        Missing slots have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.sidecar.dimension:
            raise IndexMismatchError(
                f"query vectors have shape {queries.shape}, the index holds "
                f"{self.sidecar.dimension}-dimensional vectors"
            )
        limit = self.count if allowed_ids is None else min(self.count, len(allowed_ids))
        if limit == 0 or k <= 0:
            empty = np.zeros((queries.shape[0], 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        params = None
        if allowed_ids is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)
        scores, ids = self.faiss_index.search(queries, min(k, limit), params=params)
        return scores, ids

    def reconstruct(self, image_id: int) -> EmbeddingMatrix:
        return self.faiss_index.reconstruct(int(image_id)).reshape(1, -1)


def build_flat_index(
    ids: ImageIdArray, vectors: EmbeddingMatrix, *, model_id: str, generation: int
) -> VectorIndex:
    """An exact inner-product index over ``vectors`` with FAISS ids ``ids``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for vectors of shape {vectors.shape}")
    dimension = int(vectors.shape[1])
    # IDMap2 (not IDMap) so single vectors can be reconstructed by image id ("more like this").
    faiss_index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        faiss_index.add_with_ids(vectors, ids)
    sidecar = IndexSidecar(
        model_id=model_id,
        dimension=dimension,
        metric=METRIC_INNER_PRODUCT,
        count=len(ids),
        generation=generation,
        index_type="Flat",
        index_file=f"index-{generation}.faiss",
    )
    return VectorIndex(faiss_index, sidecar)


def save_vector_index(directory: Path, index: VectorIndex) -> None:
    """Write the index file, then the sidecar that commits it; remove superseded index files."""
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / index.sidecar.index_file
    _replace_atomically(
        index_path, lambda temporary: faiss.write_index(index.faiss_index, str(temporary))
    )
    sidecar_text = json.dumps(asdict(index.sidecar), indent=2)
    _replace_atomically(
        directory / SIDECAR_NAME, lambda temporary: temporary.write_text(sidecar_text)
    )
    for stale in directory.glob("index-*.faiss"):
        if stale.name != index.sidecar.index_file:
            stale.unlink(missing_ok=True)


def read_sidecar(directory: Path) -> IndexSidecar | None:
    """The sidecar in ``directory``, or None when no index was ever saved there."""
    path = directory / SIDECAR_NAME
    if not path.exists():
        return None
    try:
        fields = json.loads(path.read_text())
        sidecar = IndexSidecar(**fields)
    except (ValueError, TypeError) as error:
        raise IndexMismatchError(f"index sidecar {path} is unreadable: {error}") from error
    if sidecar.format_version != SIDECAR_FORMAT_VERSION:
        raise IndexMismatchError(
            f"index sidecar {path} has unknown format {sidecar.format_version}"
        )
    return sidecar


def load_vector_index(directory: Path, *, expected_model_id: str) -> VectorIndex:
    """Load the committed index and check it against its sidecar and the library's model."""
    sidecar = read_sidecar(directory)
    if sidecar is None:
        raise IndexMismatchError(f"no vector index in {directory}")
    if sidecar.model_id != expected_model_id:
        raise ModelMismatchError(
            f"the index in {directory} was built with model {sidecar.model_id}, "
            f"but the library uses {expected_model_id}"
        )
    index_path = directory / sidecar.index_file
    try:
        faiss_index = faiss.read_index(str(index_path))
    except RuntimeError as error:
        raise IndexMismatchError(f"index file {index_path} is unreadable: {error}") from error
    if faiss_index.ntotal != sidecar.count or faiss_index.d != sidecar.dimension:
        raise IndexMismatchError(
            f"index file {index_path} holds {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d}; its sidecar says {sidecar.count} of dimension {sidecar.dimension}"
        )
    return VectorIndex(faiss_index, sidecar)


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Let ``write`` fill a temporary file, make it durable, then rename it over ``path``, so
    that ``path`` always holds either the old or the new content, whole."""
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        write(temporary)
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry itself reaches the disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
