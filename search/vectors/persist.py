"""The index on disk: loading a published index (checked against its sidecar), and publishing.

Publishing is the only way index files are written. It runs under an inter-process lock in the
index folder, writes the new generation's files under fresh names (each atomically), then
switches the published pointer by replacing the sidecar atomically, and only then deletes files
of generations no newer than the one just published that the new sidecar does not name. A crash
at any moment leaves the old or the new publication whole. A reader that memory-mapped a file
before its deletion keeps reading it (Linux frees an unlinked file's data when its last mapping
goes), and a reader that finds a file gone re-reads the sidecar.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from pixsift.search.errors import IndexMismatchError, ModelMismatchError
from pixsift.search.vectors.index import VectorIndex
from pixsift.search.vectors.sidecar import SIDECAR_NAME, IndexSidecar, file_generation, read_sidecar

if TYPE_CHECKING:
    from filelock import FileLock

LOCK_NAME = "publish.lock"
#: Temporary files are named ".<final name>.<random>" (see _replace_atomically).
_TEMPORARY_PREFIXES = (".index-", ".ids-", ".vectors-", f".{SIDECAR_NAME}.")


def publish_lock(directory: Path) -> FileLock:
    """The lock every publisher holds (one per folder and process: re-entrant in a thread)."""
    from filelock import FileLock  # publishers only: a search reads without it

    directory.mkdir(parents=True, exist_ok=True)
    return FileLock(directory / LOCK_NAME, is_singleton=True)


def publish_vector_index(directory: Path, index: VectorIndex) -> VectorIndex:
    """Publish ``index`` in ``directory`` and return it with the sidecar that names its files."""
    with publish_lock(directory):
        sidecar = _fresh_file_names(index.sidecar)
        _write_index_files(directory, index, sidecar)
        sidecar_text = json.dumps(asdict(sidecar), indent=2)
        _replace_atomically(
            directory / SIDECAR_NAME, lambda temporary: temporary.write_text(sidecar_text)
        )
        index.sidecar = sidecar
        _delete_superseded(directory, sidecar)
    return index


def _fresh_file_names(sidecar: IndexSidecar) -> IndexSidecar:
    # A new token per publication: files of a published index are never overwritten, so a
    # reader that has read the sidecar finds the files it names, or none.
    stem = f"{sidecar.generation}-{time.time_ns():x}"
    approximate = sidecar.ids_file is not None
    return replace(
        sidecar,
        index_file=f"index-{stem}.faiss",
        ids_file=f"ids-{stem}.npy" if approximate else None,
        vectors_file=f"vectors-{stem}.npy" if approximate else None,
    )


def _write_index_files(directory: Path, index: VectorIndex, sidecar: IndexSidecar) -> None:
    _replace_atomically(
        directory / sidecar.index_file,
        lambda temporary: faiss.write_index(index.faiss_index, str(temporary)),
    )
    if sidecar.ids_file and sidecar.vectors_file:
        for name, array in (
            (sidecar.ids_file, index.exact_ids),
            (sidecar.vectors_file, index.exact_vectors),
        ):
            _replace_atomically(
                directory / name, lambda temporary, a=array: _save_npy(temporary, a, directory)
            )


def _delete_superseded(directory: Path, published: IndexSidecar) -> None:
    """Delete index files of generations up to ``published``'s that it does not name, and
    temporary files that a crashed publisher left (no publisher runs: we hold the lock)."""
    keep = published.file_names()
    for path in directory.iterdir():
        name = path.name
        generation = file_generation(name)
        stale = generation is not None and generation <= published.generation and name not in keep
        if stale or name.startswith(_TEMPORARY_PREFIXES):
            path.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray | None, directory: Path) -> None:
    source = getattr(array, "filename", None)
    if source is not None and Path(source).parent == directory.resolve() and Path(source).exists():
        # A staged build's memory-mapped store, already written in this folder: renamed into
        # place instead of copied (10 GB at 10 million vectors).
        os.replace(source, path)
        return
    with path.open("wb") as output:
        np.save(output, np.ascontiguousarray(array))


def load_vector_index(
    directory: Path,
    *,
    expected_model_id: str,
    memory_map: bool = True,
    sidecar: IndexSidecar | None = None,
) -> VectorIndex:
    """Load the published index (or the one ``sidecar`` names) and check it against its
    sidecar and the library's model.

    With ``memory_map`` (for searching) the index file and the exact store are memory-mapped
    where FAISS allows it, so a large index opens in moments and pages in as it is used; an
    index that will be updated is loaded with ``memory_map=False``."""
    sidecar = sidecar or read_sidecar(directory)
    if sidecar is None:
        raise IndexMismatchError(f"no vector index in {directory}")
    if sidecar.model_id != expected_model_id:
        raise ModelMismatchError(
            f"the index in {directory} was built with model {sidecar.model_id}, "
            f"but the library uses {expected_model_id}"
        )
    index_path = directory / sidecar.index_file
    try:
        faiss_index = _read_faiss_index(index_path, memory_map)
    except RuntimeError as error:
        raise IndexMismatchError(f"index file {index_path} is unreadable: {error}") from error
    if faiss_index.ntotal != sidecar.count or faiss_index.d != sidecar.dimension:
        raise IndexMismatchError(
            f"index file {index_path} holds {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d}; its sidecar says {sidecar.count} of dimension {sidecar.dimension}"
        )
    exact_ids, exact_vectors = _load_exact_store(directory, sidecar, memory_map)
    if isinstance(faiss_index, faiss.IndexIVF) and sidecar.search_params.get("nprobe"):
        faiss_index.nprobe = int(sidecar.search_params["nprobe"])
    return VectorIndex(faiss_index, sidecar, exact_ids, exact_vectors)


def _load_exact_store(
    directory: Path, sidecar: IndexSidecar, memory_map: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not (sidecar.ids_file or sidecar.vectors_file):
        return None, None
    try:
        exact_ids = np.load(directory / str(sidecar.ids_file))
        exact_vectors = np.load(
            directory / str(sidecar.vectors_file), mmap_mode="r" if memory_map else None
        )
    except (OSError, ValueError) as error:
        raise IndexMismatchError(
            f"the exact store in {directory} is unreadable: {error}"
        ) from error
    expected_shape = (sidecar.count, sidecar.dimension)
    if exact_ids.shape != (sidecar.count,) or exact_vectors.shape != expected_shape:
        raise IndexMismatchError(
            f"the exact store in {directory} holds {exact_vectors.shape} vectors; "
            f"its sidecar says {expected_shape}"
        )
    return exact_ids, exact_vectors


def _read_faiss_index(path: Path, memory_map: bool) -> faiss.Index:
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist")
    if memory_map:
        try:
            return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:
            pass  # Not every index kind can be mapped; read it whole.
    return faiss.read_index(str(path))


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
