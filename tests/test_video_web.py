"""Moments of videos through the API (checked against its OpenAPI document), the image routes
(frame thumbnails, the video with Range requests), the page's player and the CLI."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_pictures
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from test_web import openapi_check
from video_samples import BLUE, FPS, GREEN, RED, Segment, write_video

from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.media.video import read_frame
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.web import create_app

OPTIONS = IndexingOptions(batch_size=8, workers=1, show_progress=False, video_interval_seconds=2)
FRAME = 1 / FPS


@pytest.fixture(scope="module")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web-media")
    write_pictures(folder, 4)
    write_video(folder / "scenes.mp4", codec="libx264")
    # Other content than the MP4's: each green moment below is the MP4's alone.
    write_video(
        folder / "scenes.webm", (Segment(4, BLUE), Segment(4, RED, moving=True)), codec="libvpx-vp9"
    )
    return folder


@pytest.fixture(scope="module")
def video_library(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder, media_root: Path
) -> Iterator[Library]:
    library = Library.open(tmp_path_factory.mktemp("video-library"), embedder=tiny_embedder)
    Indexer(library, tiny_embedder, OPTIONS).index([media_root])
    yield library
    library.close()


@pytest.fixture
def client(video_library: Library) -> FlaskClient:
    app: Flask = create_app({"TESTING": True, "LIBRARY": video_library, "PAGE_SIZE": 10})
    return app.test_client()


def moment_id(library: Library, name: str, offset: float) -> int:
    ids, _ = library.store.all_embeddings(library.store.model_id() or "")
    for record in library.images([int(i) for i in ids]).values():
        if record.relative_path == name and abs((record.offset_s or -9) - offset) < FRAME:
            return record.id
    raise AssertionError(f"no moment of {name} at {offset} s")


def test_api_gives_video_id_offset_and_moment_list(
    client: FlaskClient, video_library: Library
) -> None:
    target = moment_id(video_library, "scenes.mp4", 12.0)
    response = client.get(f"/api/images/{target}/similar?k=10")
    body = openapi_check(client, response, "/api/images/{image_id}/similar")
    best = body["results"][0]
    assert best["id"] == target and best["path"] == "scenes.mp4"
    assert best["offset_s"] == pytest.approx(12.0, abs=FRAME)
    assert best["video_id"] is not None
    assert best["play_url"].endswith("#t=12.000") and "/original" in best["play_url"]
    assert [moment["id"] for moment in best["moments"]][:1] == [target]
    assert len(best["moments"]) == 5
    assert all(m["play_url"].endswith(f"#t={m['offset_s']:.3f}") for m in best["moments"])
    videos = [hit for hit in body["results"] if hit["video_id"] is not None]
    photos = [hit for hit in body["results"] if hit["video_id"] is None]
    assert len(videos) == 2 and len(photos) == 4  # one slot per video, photos keep theirs
    assert all(hit["moments"] == [] and hit["play_url"] is None for hit in photos)


def test_moment_thumbnail_is_its_frame_and_the_video_is_served_with_ranges(
    client: FlaskClient, video_library: Library, media_root: Path
) -> None:
    target = moment_id(video_library, "scenes.mp4", 12.0)
    response = client.get(f"/images/{target}/thumbnail")
    assert response.status_code == 200
    picture = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB")).astype(int)
    assert np.abs(picture[3, 3] - GREEN).max() < 40
    size = (media_root / "scenes.mp4").stat().st_size
    whole = client.get(f"/images/{target}/original")
    assert whole.status_code == 200 and whole.mimetype == "video/mp4"
    assert len(whole.data) == size
    part = client.get(f"/images/{target}/original", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and len(part.data) == 100
    assert part.headers["Content-Range"] == f"bytes 100-199/{size}"
    webm = moment_id(video_library, "scenes.webm", 4.0)
    assert client.get(f"/images/{webm}/original").mimetype == "video/webm"


def test_page_plays_the_video_from_the_moment(client: FlaskClient, video_library: Library) -> None:
    target = moment_id(video_library, "scenes.mp4", 6.0)
    page = client.get(f"/images/{target}").get_data(as_text=True)
    assert "<video" in page and f"/images/{target}/original" in page
    assert "#t=6.000" in page and f"/images/{target}/thumbnail" in page
    results = client.get(f"/?image_id={target}").get_data(as_text=True)
    assert '<span class="when">@0:06</span>' in results
    assert 'class="moments"' in results


def test_cli_prints_path_at_time(tmp_path: Path, tiny_spec: ModelSpec, media_root: Path) -> None:
    library = ["--library", str(tmp_path / "library")]
    model = ["--model", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained]
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["index", str(media_root), "--workers", "1", "--no-progress", "--video-interval", "2",
         *library, *model],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "videos: indexed 2 (8 moments from 26 s of video)" in result.output
    frame = tmp_path / "frame.png"
    read_frame(media_root / "scenes.mp4", 12.0).save(frame)
    result = runner.invoke(main, ["search", "--image", str(frame), "-k", "3", *library])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "scenes." in first and first.split()[1].endswith("@0:12")
    assert "also at" in result.stdout
    again = runner.invoke(main, ["index", str(media_root), "--no-progress", *library, *model])
    assert "videos: indexed 0" in again.output and "unchanged 2" in again.output
