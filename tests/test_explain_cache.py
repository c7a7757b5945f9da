"""A remembered explanation is answered from its terms: the API reads neither the picture nor
the query tower for it, and a changed file or a new library generation is never served stale."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import make_picture
from flask.testing import FlaskClient

import pixsift.search.explain.occlusion as occlusion
import pixsift.search.explain.service as service
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.web import create_app


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    make_picture(4, size=(120, 90)).save(pictures / "scene.png")
    make_picture(5, size=(90, 120)).save(pictures / "other.png")
    return pictures


@pytest.fixture
def indexed(folder: Path, tmp_path: Path, tiny_embedder: OpenClipEmbedder) -> Iterator[Library]:
    library = Library.open(tmp_path / "library", embedder=tiny_embedder)
    Indexer(library, tiny_embedder, IndexingOptions(workers=1, show_progress=False)).index([folder])
    yield library
    library.close()


def scene_id(library: Library) -> int:
    return next(h.id for h in library.search("anything", k=5) if h.image.name == "scene.png")


class Forbidden(AssertionError):
    pass


def forbid(*_args: object, **_kwargs: object) -> None:
    raise Forbidden("the cached explanation was not looked up first")


def test_the_cache_is_consulted_before_the_file_and_the_tower(
    indexed: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    client: FlaskClient = create_app({"TESTING": True, "LIBRARY": indexed}).test_client()
    image_id = scene_id(indexed)
    url = f"/api/images/{image_id}/explain?q=a+red+ball"
    first = client.get(url)
    assert first.status_code == 200
    monkeypatch.setattr(type(indexed.embedder), "embed_texts", forbid)
    monkeypatch.setattr(type(indexed.embedder), "embed_pixel_batch", forbid)
    monkeypatch.setattr(service, "read_image_for_embedding", forbid)
    again = client.get(url)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    posted = client.post(
        f"/api/images/{image_id}/explain", json={"terms": [{"text": "a red ball"}]}
    )
    assert posted.get_json() == first.get_json()
    # Another query is computed, not served from the cache: it reaches the forbidden reads
    # (the app answers the unexpected error with a 500).
    assert client.get(f"/api/images/{image_id}/explain?q=a+blue+ball").status_code == 500


def test_a_changed_file_or_generation_is_not_answered_from_the_cache(
    indexed: Library, folder: Path
) -> None:
    client: FlaskClient = create_app({"TESTING": True, "LIBRARY": indexed}).test_client()
    image_id = scene_id(indexed)
    explainer = service.Explainer(indexed)
    terms = (service.QueryTerm(text="a red ball"),)
    assert client.get(f"/api/images/{image_id}/explain?q=a+red+ball").status_code == 200
    assert explainer.cached(image_id, terms) is not None
    path = folder / "scene.png"
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    assert explainer.cached(image_id, terms) is None  # the full path reads and checks it
    saved = path.read_bytes()
    make_picture(99, size=(120, 90)).save(path)
    response = client.get(f"/api/images/{image_id}/explain?q=a+red+ball")
    assert response.status_code == 404 and "changed" in response.get_json()["error"]["message"]
    path.write_bytes(saved)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert explainer.cached(image_id, terms) is not None
    make_picture(6, size=(80, 80)).save(folder / "new.png")
    Indexer(indexed, indexed.embedder, IndexingOptions(workers=1, show_progress=False)).index(
        [folder]
    )
    assert explainer.cached(image_id, terms) is None


class ThreadRecordingTowers:
    """A seeded linear image tower that notes which threads ran it (one thread per run)."""

    threads = 1

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.projection = rng.standard_normal((3 * 32 * 32, 16)).astype(np.float32)
        self.seen: set[int] = set()

        #: Set while two runs must overlap: each run waits here for the other.
        self.together: threading.Barrier | None = None

    def embed_pixel_batch(self, batch: np.ndarray) -> np.ndarray:
        self.seen.add(threading.get_ident())
        if self.together is not None:
            self.together.wait()  # both runs at once, or BrokenBarrierError after the timeout
        vectors = batch.reshape(len(batch), -1) @ self.projection
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_an_explanation_uses_the_idle_cores_and_scores_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pixels = np.random.default_rng(3).standard_normal((3, 32, 32)).astype(np.float32)
    towers = ThreadRecordingTowers()
    query = towers.embed_pixel_batch(pixels[np.newaxis])[0]
    monkeypatch.setattr(occlusion, "parallel_lanes", lambda _embedder: 1)
    one_lane = occlusion.occlusion_scores(towers, pixels, query, 4)
    towers.seen.clear()
    towers.together = threading.Barrier(2, timeout=120)
    monkeypatch.setattr(occlusion, "parallel_lanes", lambda _embedder: 2)
    two_lanes = occlusion.occlusion_scores(towers, pixels, query, 4)
    assert len(towers.seen) == 2
    assert two_lanes[0] == pytest.approx(one_lane[0], abs=1e-6)
    np.testing.assert_allclose(two_lanes[1], one_lane[1], atol=1e-5)
    assert float(np.abs(one_lane[1]).max()) > 1e-3  # the cells do matter: a real comparison
