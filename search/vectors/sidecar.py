"""The JSON sidecar that names and describes a published index, and the constants it records.

On disk a library's ``index/`` folder holds the files of one or more generations
(``index-<generation>-<token>.faiss`` and, for approximate indexes, ``ids-…npy`` and
``vectors-…npy``) and one ``index.json`` sidecar naming the published ones. The sidecar is written
last and atomically: it is the published pointer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pixsift.search.errors import IndexMismatchError

SIDECAR_NAME = "index.json"
SIDECAR_FORMAT_VERSION = 1
METRIC_INNER_PRODUCT = "inner_product"
INDEX_TYPE_AUTO = "auto"
INDEX_TYPE_FLAT = "Flat"
#: The files of one published generation; ``token`` keeps two publications of the same
#: generation (say, a rebuild with another index type) from overwriting each other's files.
INDEX_FILE_PATTERN = re.compile(r"^(index|ids|vectors)-(\d+)(?:-[0-9a-f]+)?\.(faiss|npy)$")


@dataclass(frozen=True)
class IndexSidecar:
    """What an index file holds, checked against the database before the index is used."""

    model_id: str
    dimension: int
    metric: str
    count: int
    #: The library's index generation the index was built at: it holds every vector written at
    #: or before it (and possibly a few later ones, which readers take from the database).
    generation: int
    index_type: str
    index_file: str
    format_version: int = SIDECAR_FORMAT_VERSION
    #: What was asked for: "auto" (chosen by size and memory budget) or a FAISS factory string.
    requested_type: str = INDEX_TYPE_AUTO
    #: Tuned search parameters, e.g. {"nprobe": 16} or {"efSearch": 64}.
    search_params: dict[str, int] = field(default_factory=dict)
    #: Candidates fetched per result for exact re-ranking (1: the index's scores are exact).
    rerank_factor: int = 1
    #: How many vectors the index was trained on (0: no training, e.g. Flat).
    trained_count: int = 0
    #: recall@10 against exact search measured when the parameters were tuned: the worst of
    #: ``recall_by_kind``.
    tuned_recall: float | None = None
    #: recall@10 reached per query kind on the tuning queries: "images" (held-out stored
    #: vectors) and "text" (the model's embeddings of the tuning prompts) or "text-synthetic"
    #: (text-like queries made from the stored vectors, when the writer had no model).
    recall_by_kind: dict[str, float] = field(default_factory=dict)
    #: The recall@10 the parameters were tuned to reach (for every kind, with a margin).
    recall_target: float | None = None
    build_seconds: float | None = None
    #: Where the build's time went, e.g. {"train": 9.1, "add": 14.2, "tune": 6.3}.
    stage_seconds: dict[str, float] = field(default_factory=dict)
    #: The exact store of an approximate index: image ids and float16 vectors (.npy).
    ids_file: str | None = None
    vectors_file: str | None = None

    def file_names(self) -> set[str]:
        return {name for name in (self.index_file, self.ids_file, self.vectors_file) if name}


def file_generation(name: str) -> int | None:
    """The generation an index file belongs to, or None for a name that is no index file."""
    found = INDEX_FILE_PATTERN.match(name)
    return int(found.group(2)) if found else None


def read_sidecar(directory: Path) -> IndexSidecar | None:
    """The published sidecar in ``directory``, or None when nothing was ever published there."""
    path = directory / SIDECAR_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise IndexMismatchError(f"index sidecar {path} is unreadable: {error}") from error
    try:
        sidecar = IndexSidecar(**json.loads(text))
    except (ValueError, TypeError) as error:
        raise IndexMismatchError(f"index sidecar {path} is unreadable: {error}") from error
    if sidecar.format_version != SIDECAR_FORMAT_VERSION:
        raise IndexMismatchError(
            f"index sidecar {path} has unknown format {sidecar.format_version}"
        )
    for name in sidecar.file_names():
        if Path(name).name != name:
            raise IndexMismatchError(f"index sidecar {path} names a file outside its folder")
    return sidecar
