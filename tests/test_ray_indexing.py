"""Indexing on a real local Ray cluster (a head node and a second worker node): the same images
and vectors as a local run, and no lost or duplicated image when a worker or the driver is
killed mid-run."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import write_pictures
from ray_cluster import RayTestCluster, local_ray_cluster
from waiting import wait_until

from pixsift.indexer.decoding import DecodeResult
from pixsift.indexer.pipeline import DecodeStage, Indexer, IndexingOptions
from pixsift.search.library import DATABASE_FILENAME, Library
from pixsift.search.media.thumbnails import THUMBNAIL_DIRECTORY_NAME
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.model.spec import Runtime

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixsift[ray]'")
from pixsift.indexer.distributed import RayCluster, RayOptions, ray_loader  # noqa: E402

PICTURES = 40
#: Seconds each file takes on a Ray worker (see ray_cluster.SITECUSTOMIZE): a run lasts about a
#: second, long enough to kill something in the middle of it.
DECODE_DELAY = 0.05
OPTIONS = IndexingOptions(batch_size=4, workers=1, show_progress=False)
CLI_WITH_TINY_MODEL = """
import sys, open_clip
open_clip.add_model_config(sys.argv[1])
from pixsift.cli.main import main
main(sys.argv[2:])
"""


@pytest.fixture(scope="module")
def cluster(tiny_model_config_dir: Path, private_cache_directory: Path) -> Iterator[RayTestCluster]:
    with (
        local_ray_cluster(tiny_model_config_dir, private_cache_directory, DECODE_DELAY) as running,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(address=running.address, log_to_driver=False)
        try:
            yield running
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pictures = tmp_path_factory.mktemp("ray") / "pictures"
    write_pictures(pictures, PICTURES)
    (pictures / "broken.jpg").write_bytes(b"not an image")
    return pictures


@pytest.fixture(scope="module")
def local_vectors(
    tmp_path_factory: pytest.TempPathFactory, folder: Path, tiny_embedder: OpenClipEmbedder
) -> dict[str, np.ndarray]:
    with Library.open(tmp_path_factory.mktemp("local"), embedder=tiny_embedder) as library:
        Indexer(library, tiny_embedder, OPTIONS).index([folder])
        return vectors_by_path(library)


def vectors_by_path(library: Library) -> dict[str, np.ndarray]:
    model_id = library.store.model_id()
    assert model_id is not None
    ids, vectors = library.store.all_embeddings(model_id)
    records = library.store.images_by_ids([int(image_id) for image_id in ids])
    by_path = {
        records[int(image_id)].relative_path: vector
        for image_id, vector in zip(ids, vectors, strict=True)
    }
    assert len(by_path) == len(ids), "an image was stored twice"
    return by_path


def assert_same_as_local(library: Library, local: dict[str, np.ndarray]) -> None:
    found = vectors_by_path(library)
    assert sorted(found) == sorted(local)
    assert library.stats().image_count == PICTURES
    assert [Path(failure.path).name for failure in library.store.failures()] == ["broken.jpg"]
    for path, vector in local.items():
        np.testing.assert_allclose(found[path], vector, atol=1e-5)


def ray_cluster_for(spec: ModelSpec, actors: int = 2) -> RayCluster:
    return RayCluster(
        ray_loader(spec, Runtime(backend="torch")), RayOptions(address="auto", actors=actors)
    )


@pytest.fixture(scope="module")
def remote(cluster: RayTestCluster, tiny_spec: ModelSpec) -> Iterator[RayCluster]:
    """One pool of two actors for the module's runs: each actor is a process that imports torch
    and loads the model, the slowest part of these tests on a small machine."""
    pool = ray_cluster_for(tiny_spec)
    pool.embedder()
    yield pool
    pool.shutdown()


def test_ray_index_has_the_same_images_and_vectors_as_a_local_run(
    remote: RayCluster, folder: Path, local_vectors: dict, tiny_spec: ModelSpec, tmp_path: Path
) -> None:
    with Library.open(tmp_path / "library") as library:
        indexer = Indexer(
            library, None, OPTIONS, model_spec=tiny_spec,
            embedder_loader=remote.embedder, decode_stage=remote.stage,
        )  # fmt: skip
        summary = indexer.index([folder])
        # Two actors of one CPU each on two one-CPU nodes: one ran on each node.
        pids = {pid for _, _, pid, _ in ray.get([a.describe.remote() for a in remote.actors])}
        assert len(pids) == 2
        assert (summary.added, summary.failed) == (PICTURES, 1)
        assert_same_as_local(library, local_vectors)
        assert library.vector_index().unpublished_count == 0  # published at the end, as locally
        # A second run finds nothing to do and starts no actor.
        again = Indexer(
            library, None, OPTIONS, model_spec=tiny_spec,
            embedder_loader=ray_cluster_for(tiny_spec).embedder,
        ).index([folder])  # fmt: skip
        assert (again.unchanged, again.added, again.still_failing) == (PICTURES, 0, 1)


def kept_pictures(library: Library) -> tuple[dict[str, str | None], dict[str, bytes]]:
    """Each picture's placeholder (by path) and every file under the thumbnail folder."""
    records = library.store.images_by_ids(list(range(1, 4 * PICTURES)))
    placeholders = {record.relative_path: record.placeholder for record in records.values()}
    folder = library.directory / THUMBNAIL_DIRECTORY_NAME
    files = {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*.*")}
    return placeholders, files


def test_ray_index_makes_the_thumbnails_and_placeholders_a_local_run_makes(
    remote: RayCluster,
    folder: Path,
    tiny_spec: ModelSpec,
    tiny_embedder: OpenClipEmbedder,
    tmp_path: Path,
) -> None:
    """Issue 20 item 5 on a cluster: the actors make the sizes asked for (--thumbnails) and the
    placeholder from the picture they decode; the driver alone writes them (aside, renamed)."""
    chosen = replace(OPTIONS, thumbnail_sizes=(256, 1600))
    with Library.open(tmp_path / "local", embedder=tiny_embedder) as local:
        Indexer(local, tiny_embedder, chosen).index([folder])
        expected = kept_pictures(local)
    for name, sizes, made in (("sizes", (256, 1600), expected[1]), ("off", (), {})):
        with Library.open(tmp_path / name) as library:
            summary = Indexer(
                library, None, replace(OPTIONS, thumbnail_sizes=sizes), model_spec=tiny_spec,
                embedder_loader=remote.embedder, decode_stage=remote.stage,
            ).index([folder])  # fmt: skip
            placeholders, files = kept_pictures(library)
        assert summary.added == PICTURES
        assert placeholders == expected[0] and None not in placeholders.values()
        assert files == made  # the same files, byte for byte; none left half-written
        assert summary.thumbnails_written == len(files) == len(sizes) * PICTURES


class KillsAWorker:
    """The Ray decode stage, which kills one actor's process once some results came back."""

    def __init__(self, stage: DecodeStage, pid: int, after: int) -> None:
        self.stage, self.pid, self.after = stage, pid, after

    def decode_in_order(self, path_bytes_list: Iterable[bytes]) -> Iterator[DecodeResult]:
        for count, result in enumerate(self.stage.decode_in_order(path_bytes_list), 1):
            if count == self.after:
                os.kill(self.pid, signal.SIGKILL)
            yield result

    def __getattr__(self, name: str):
        return getattr(self.stage, name)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    remote: RayCluster, folder: Path, local_vectors: dict, tiny_spec: ModelSpec, tmp_path: Path
) -> None:
    victim = ray.get(remote.actors[1].describe.remote())[2]

    def killing_stage(embedder, options):
        return KillsAWorker(remote.stage(embedder, options), victim, after=6)

    with Library.open(tmp_path / "library") as library:
        summary = Indexer(
            library, None, OPTIONS, model_spec=tiny_spec,
            embedder_loader=remote.embedder, decode_stage=killing_stage,
        ).index([folder])  # fmt: skip
        restarted = ray.get(remote.actors[1].describe.remote())[2]
        assert restarted != victim  # the actor was killed, and Ray restarted it
        assert (summary.added, summary.failed) == (PICTURES, 1)
        assert_same_as_local(library, local_vectors)


def committed_images(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=1) as connection:
            return connection.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_a_killed_driver_resumes_without_loss_or_duplicates(
    cluster: RayTestCluster,
    remote: RayCluster,
    folder: Path,
    local_vectors: dict,
    tiny_model_config_dir: Path,
    tiny_spec: ModelSpec,
    tmp_path: Path,
) -> None:
    library_directory = tmp_path / "library"
    database = library_directory / DATABASE_FILENAME
    # One actor: a killed driver is what this test is about (two actors are the tests above),
    # and each actor is a process that imports torch and loads the model.
    command = [
        sys.executable, "-c", CLI_WITH_TINY_MODEL, str(tiny_model_config_dir),
        "index", str(folder), "--library", str(library_directory), "--batch-size", "4",
        "--no-progress", "--ray", cluster.address, "--ray-actors", "1",
        "--model", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained,
    ]  # fmt: skip
    remote.shutdown()  # the cluster's two CPUs go to the driver's actor while it runs
    driver = subprocess.Popen(command, env=cluster.environment, start_new_session=True)
    count = functools.partial(committed_images, database)
    wait_until(lambda: count() >= 8, driver, "8 committed images", progress=count)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    committed = committed_images(database)
    assert 8 <= committed < PICTURES

    # The next run resumes on the module's actor pool (started again), in this process: a second
    # driver process would import torch and Ray again, for nothing this test checks.
    with Library.open(library_directory) as library:
        summary = Indexer(
            library, None, OPTIONS, model_spec=tiny_spec,
            embedder_loader=remote.embedder, decode_stage=remote.stage,
        ).index([folder])  # fmt: skip
        assert (summary.added, summary.unchanged) == (PICTURES - committed, committed)
        assert_same_as_local(library, local_vectors)
