"""One writer: only the indexer, rebuild-index and bulk import publish the vector index; searches
read the last published index plus an exact scan of the vectors stored since, and never write."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_pictures
from sqlalchemy import delete
from waiting import LIMIT_SECONDS, wait_for_exit, wait_until

from benchmarks.vectors import structured_vectors
from pixsift import search
from pixsift.search.library import DATABASE_FILENAME, Library
from pixsift.search.model.embedder import ModelSpec, l2_normalise
from pixsift.search.storage.models import Embedding
from pixsift.search.storage.rows import encode_embedding
from pixsift.search.storage.store import STATE_INDEX_GENERATION
from pixsift.search.vectors import writer as index_writer

DIMENSION = 16
ROOT = Path(__file__).resolve().parent.parent


def index_files(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Names, inodes, sizes and mtimes: any write, rename or delete changes this."""
    if not directory.exists():
        return {}
    return {
        path.name: (path.stat().st_ino, path.stat().st_size, path.stat().st_mtime_ns)
        for path in directory.iterdir()
    }


def forbid_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way of writing index files fail in this process."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a reader tried to write the vector index")

    monkeypatch.setattr(search.vectors.persist, "_replace_atomically", refuse)
    monkeypatch.setattr(search.vectors.persist, "publish_vector_index", refuse)
    monkeypatch.setattr(index_writer, "publish_stored_vectors", refuse)


def brute_force(library: Library, query: np.ndarray, k: int, allowed=None) -> list[int]:
    ids, vectors = library.store.all_embeddings("m")
    if allowed is not None:
        keep = np.isin(ids, allowed)
        ids, vectors = ids[keep], vectors[keep]
    return ids[np.argsort(-(vectors @ query), kind="stable")[:k]].tolist()


def rewrite_embedding(library: Library, image_id: int, vector: np.ndarray) -> None:
    """What re-indexing a changed file does to its row: a new vector in a new generation."""
    with library.store.session() as session:
        session.execute(delete(Embedding).where(Embedding.image_id == image_id))
        session.add(Embedding(image_id=image_id, model_id="m", vector=encode_embedding(vector)))
    library.store.set_state(STATE_INDEX_GENERATION, str(library.store.index_generation() + 1))


@pytest.mark.parametrize("index_type", ["Flat", "IVF8,Flat"])
def test_searches_cover_new_changed_and_removed_vectors_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_type: str
) -> None:
    vectors = np.concatenate(list(structured_vectors(700, DIMENSION, seed=1, clusters=8)))
    library = Library.open(tmp_path / "library")
    ids = library.import_vectors(vectors[:600], model_id="m", publish=False)
    library.rebuild_index(index_type=index_type)  # published at this generation
    before = index_files(library.index_directory)
    forbid_writes(monkeypatch)

    new_ids = library.import_vectors(vectors[600:], model_id="m", publish=False)
    changed = l2_normalise(np.random.default_rng(2).standard_normal((1, DIMENSION)))[0]
    rewrite_embedding(library, ids[0], changed)
    library.store.remove_images(ids[1:6])

    live = library.vector_index()
    assert live.published.sidecar.index_type.startswith(index_type.split(",")[0])
    assert live.unpublished_count == 101  # 100 new, 1 rewritten
    assert live.count == 700 - 5
    # New vectors are found, the rewritten image answers with its new vector only, and removed
    # images never come back.
    for row in (600, 650, 699):
        _, found = live.search(vectors[row : row + 1], k=1)
        assert found[0, 0] == new_ids[row - 600]
    scores, found = live.search(changed.reshape(1, -1).astype(np.float32), k=1)
    assert found[0, 0] == ids[0] and scores[0, 0] == pytest.approx(1.0, abs=1e-3)
    _, found = live.search(vectors[:6], k=10)
    assert not np.isin(found, ids[:6]).any()
    allowed = np.array(ids[:20] + new_ids[:20], dtype=np.int64)
    _, found = live.search(vectors[:3], k=8, allowed_ids=allowed)
    for row in range(3):
        assert set(found[row].tolist()) == set(brute_force(library, vectors[row], 8, allowed))
    if index_type == "Flat":  # exact everywhere: the very same ranking as brute force
        for row in (0, 3, 100, 620):
            _, found = live.search(vectors[row : row + 1], k=15)
            assert found[0].tolist() == brute_force(library, vectors[row], 15)
    assert index_files(library.index_directory) == before

    monkeypatch.undo()
    published = library.publish_index()
    assert published.sidecar.generation == library.store.index_generation()
    live = library.vector_index()
    assert live.unpublished_count == 0 and len(live.hidden_ids) == 0 and live.count == 695
    _, found = live.search(vectors[:6], k=10)
    assert not np.isin(found, ids[:6]).any()
    library.close()


def test_a_library_never_published_is_scanned_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = np.concatenate(list(structured_vectors(300, DIMENSION, seed=3, clusters=4)))
    library = Library.open(tmp_path / "library")
    library.import_vectors(vectors, model_id="m", publish=False)  # as if it crashed before
    forbid_writes(monkeypatch)
    live = library.vector_index()
    assert live.published is None and live.count == 300
    _, found = live.search(vectors[7:8], k=12)
    assert found[0].tolist() == brute_force(library, vectors[7], 12)
    assert not library.index_directory.exists()
    library.close()


def test_the_reader_module_has_no_way_to_write() -> None:
    names = vars(search.vectors.live)
    for writer in ("publish_vector_index", "publish_lock", "publish_stored_vectors", "faiss"):
        assert writer not in names
    assert "_replace_atomically" not in names and "_write_index_files" not in names


HOLD_LOCK = """
import sys, time
from pathlib import Path
from pixsift.search.vectors.persist import publish_lock
with publish_lock(Path(sys.argv[1])):
    Path(sys.argv[2]).touch()
    time.sleep(float(sys.argv[3]))
    Path(sys.argv[4]).touch()  # the last thing done while holding the lock
"""


def test_publishers_take_turns_under_the_lock(tmp_path: Path) -> None:
    vectors = np.concatenate(list(structured_vectors(50, DIMENSION, seed=4, clusters=2)))
    library = Library.open(tmp_path / "library")
    library.import_vectors(vectors, model_id="m", publish=False)
    held, released = tmp_path / "held", tmp_path / "released"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(library.index_directory), str(held), "1.5",
         str(released)],
        cwd=ROOT,
    )  # fmt: skip
    wait_until(held.exists, holder, "lock held by the other process")
    library.publish_index()
    # It waited for the other publisher: the holder's last act under the lock came first. (Not
    # measured by the clock: a test descheduled after seeing `held` may find the lock soon free.)
    assert released.exists()
    assert wait_for_exit(holder) == 0
    assert library.vector_index().unpublished_count == 0
    library.close()


INDEXER = """
import json, sys, time, open_clip, torch
from pathlib import Path
arguments = json.loads(sys.argv[1])
open_clip.add_model_config(arguments["config"])
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.storage.store import LibraryStore

counts = {"batches": 0, "publishes": 0}
commit_batch = LibraryStore.commit_batch
def slow_commit(self, batch, model_id):
    if batch.is_empty():
        return
    commit_batch(self, batch, model_id)
    counts["batches"] += 1
    time.sleep(0.1)  # a real model takes longer per batch: give the reader time to search
LibraryStore.commit_batch = slow_commit
publish_index = Library.publish_index
def counted_publish(self):
    published = publish_index(self)
    counts["publishes"] += published is not None
    return published
Library.publish_index = counted_publish

torch.manual_seed(0)
embedder = OpenClipEmbedder.load(ModelSpec(*arguments["spec"]), device=torch.device("cpu"))
options = IndexingOptions(batch_size=4, workers=1, show_progress=False, publish_every=12, tag=False)
# Indexing starts once the reader searches: on a loaded machine its start-up (torch, the model)
# could otherwise end after the whole run, and it would see one generation only.
limit = time.monotonic() + arguments["limit_seconds"]
while not Path(arguments["ready"]).exists() and time.monotonic() < limit:
    time.sleep(0.05)
with Library.open(arguments["library"], embedder=embedder) as library:
    Indexer(library, embedder, options).index([Path(arguments["folder"])])
Path(arguments["report"]).write_text(json.dumps(counts))
"""

READER = """
import json, os, sqlite3, sys, time, traceback, open_clip, torch
from pathlib import Path
arguments = json.loads(sys.argv[1])
open_clip.add_model_config(arguments["config"])
import faiss
import pixsift.search.library, pixsift.search.vectors.persist, pixsift.search.vectors.writer
from pixsift import search
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder

index_directory = os.path.realpath(os.path.join(arguments["library"], "index"))
violations = []

def watch(event, args):
    # Every file operation of this process that could change the index folder is recorded.
    if event in ("open", "os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.truncate",
                 "os.chmod", "os.utime", "os.link", "os.symlink", "shutil.rmtree"):
        path = args[0] if args else None
        if not isinstance(path, (str, bytes, os.PathLike)):
            return
        path = os.path.realpath(os.fsdecode(path))
        if not path.startswith(index_directory):
            return
        if event == "open":
            mode, flags = args[1] or "", args[2] or 0
            writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR)
            if not writing:
                return
        violations.append(f"{event} {path}")
sys.addaudithook(watch)

def refuse(*_args, **_kwargs):
    violations.append("a write function was called")
    raise AssertionError("a reader tried to write the vector index")
for module, name in ((faiss, "write_index"), (search.vectors.persist, "_replace_atomically"),
                     (search.vectors.persist, "publish_vector_index"),
                     (search.vectors.writer, "publish_stored_vectors"),
                     (search.library, "publish_stored_vectors")):
    setattr(module, name, refuse)

torch.manual_seed(0)
embedder = OpenClipEmbedder.load(ModelSpec(*arguments["spec"]), device=torch.device("cpu"))
library = Library.open(arguments["library"], embedder=embedder)
database = sqlite3.connect(os.path.join(arguments["library"], "pixsift.sqlite3"), timeout=30)
Path(arguments["ready"]).touch()
done = Path(arguments["done"])
report = {"searches": 0, "errors": [], "checked": [], "generations": [], "published": [],
          "largest_unpublished": 0}
checked = set()
# The test ends this loop (it touches `done` once the indexer exits, and kills this process if
# the indexer fails or stalls); the limit is only a backstop, far beyond any slow machine.
limit = time.monotonic() + arguments["limit_seconds"]
while time.monotonic() < limit:
    finished = done.exists()
    committed = {row[0] for row in database.execute("SELECT image_id FROM embeddings")}
    try:
        found = {hit.image.id for hit in library.search("a photo", k=1000)}
        report["searches"] += 1
        if committed - found:
            report["errors"].append(f"text search missed {sorted(committed - found)[:5]}")
        for image_id in sorted(committed - checked):
            hits = library.search(image_id=image_id, k=3)
            report["searches"] += 1
            if image_id in [hit.image.id for hit in hits]:
                checked.add(image_id)
            else:
                report["errors"].append(f"image {image_id} not found by its own vector")
        live = library.vector_index()
        report["generations"].append(library.store.index_generation())
        report["published"].append(live.sidecar.generation if live.sidecar else None)
        report["largest_unpublished"] = max(report["largest_unpublished"], live.unpublished_count)
    except Exception:
        report["errors"].append(traceback.format_exc())
    if finished:
        break
report["checked"] = sorted(checked)
report["violations"] = violations
report["timed_out"] = not finished
Path(arguments["report"]).write_text(json.dumps(report))
"""


def committed_embeddings(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=1) as connection:
            return connection.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # busy, or not created yet


def test_a_real_indexing_run_and_a_searching_process_side_by_side(
    tmp_path: Path, tiny_model_config_dir: Path, tiny_spec: ModelSpec
) -> None:
    folder = tmp_path / "pictures"
    total = 96
    write_pictures(folder, total)
    library_directory = tmp_path / "library"
    Library.open(library_directory).close()  # the schema exists before either process starts
    done = tmp_path / "indexer-done"
    common = {
        "config": str(tiny_model_config_dir),
        "spec": [tiny_spec.model_name, tiny_spec.pretrained],
        "library": str(library_directory),
        "folder": str(folder),
        "done": str(done),
        "ready": str(tmp_path / "reader-ready"),
        "limit_seconds": LIMIT_SECONDS,
    }
    reader_report, indexer_report = tmp_path / "reader.json", tmp_path / "indexer.json"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, json.dumps({**common, "report": str(reader_report)})],
        cwd=ROOT,
        env=environment,
    )
    indexer = subprocess.Popen(
        [sys.executable, "-c", INDEXER, json.dumps({**common, "report": str(indexer_report)})],
        cwd=ROOT,
        env=environment,
    )
    try:
        database = library_directory / DATABASE_FILENAME
        committed = functools.partial(committed_embeddings, database)
        assert wait_for_exit(indexer, "indexing run", progress=committed) == 0
        done.touch()
        assert wait_for_exit(reader, "searching process") == 0
    finally:
        for process in (indexer, reader):
            if process.poll() is None:
                process.kill()
    indexed = json.loads(indexer_report.read_text())
    read = json.loads(reader_report.read_text())
    print(
        f"\nindexer: {indexed}; reader: {read['searches']} searches, {len(read['errors'])} "
        f"errors, {len(read['checked'])} images checked, published generations seen "
        f"{sorted({g for g in read['published'] if g is not None})}, store generations seen "
        f"{len(set(read['generations']))}, largest unpublished tail {read['largest_unpublished']}"
    )
    assert read["errors"] == [] and read["violations"] == [] and not read["timed_out"]
    assert len(read["checked"]) == total  # every committed image was found by the reader
    assert indexed["batches"] == total // 4 and indexed["publishes"] >= 3
    # The reader saw the library while it grew, across several publications.
    assert len(set(read["generations"])) >= 3
    assert len({g for g in read["published"] if g is not None}) >= 2
    with Library.open(library_directory) as library:
        sidecar_files = library.vector_index().sidecar.file_names()
        assert library.vector_index().unpublished_count == 0
        names = set(index_files(library.index_directory))
    assert names - {"publish.lock"} == sidecar_files | {"index.json"}
