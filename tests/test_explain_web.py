"""The explanation in the API (JSON and PNG, GET and a JSON body, in the OpenAPI document, with
clear 4xx errors) and in the CLI (``pixsift explain IMAGE_OR_ID QUERY -o heat.png``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_picture
from flask.testing import FlaskClient
from PIL import Image
from test_explain import planted

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.web import create_app


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pictures = tmp_path_factory.mktemp("explain-pictures")
    planted((200, 100), (125, 25, 150, 50)).save(pictures / "planted.png")
    make_picture(4, size=(120, 90)).save(pictures / "scene.png")
    return pictures


@pytest.fixture(scope="module")
def indexed(
    folder: Path, tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> Iterator[Library]:
    library = Library.open(tmp_path_factory.mktemp("explain-library"), embedder=tiny_embedder)
    Indexer(library, tiny_embedder, IndexingOptions(workers=1, show_progress=False)).index([folder])
    yield library
    library.close()


@pytest.fixture
def client(indexed: Library) -> FlaskClient:
    return create_app({"TESTING": True, "LIBRARY": indexed}).test_client()


def image_ids(library: Library) -> dict[str, int]:
    return {hit.image.name: hit.id for hit in library.search("anything", k=10)}


def test_json_explains_the_planted_patch(client: FlaskClient, indexed: Library) -> None:
    ids = image_ids(indexed)
    planted_id = ids["planted.png"]
    response = client.get(f"/api/images/{planted_id}/explain?image_id={planted_id}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["image_id"] == planted_id
    assert (body["width"], body["height"], body["grid"]) == (200, 100, 4)
    assert body["crop_box"] == [50.0, 0.0, 150.0, 100.0]
    assert body["base_score"] == pytest.approx(1.0, abs=1e-4)
    best = max(body["cells"], key=lambda cell: cell["drop"])
    assert best["box"][0] <= 137 < best["box"][2] and best["box"][1] <= 37 < best["box"][3]
    assert len(body["drops"]) == 4 and all(len(row) == 4 for row in body["drops"])


def test_text_query_png_and_json_body(client: FlaskClient, indexed: Library) -> None:
    scene = image_ids(indexed)["scene.png"]
    response = client.get(f"/api/images/{scene}/explain?q=a+red+ball&format=png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    overlay = Image.open(io.BytesIO(response.data))
    assert overlay.size == (120, 90)
    assert overlay.getpixel((60, 45)) != make_picture(4, size=(120, 90)).getpixel((60, 45))
    text = client.get(f"/api/images/{scene}/explain?q=a+red+ball").get_json()
    same = client.post(
        f"/api/images/{scene}/explain", json={"terms": [{"text": "a red ball"}]}
    ).get_json()
    assert same["drops"] == text["drops"]
    weighted = client.post(
        f"/api/images/{scene}/explain",
        json={"q": "a red ball", "terms": [{"text": "at night", "weight": -0.5}]},
    ).get_json()
    assert weighted["drops"] != text["drops"]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/images/999999/explain?q=cat", 404, "not_found"),
        ("/api/images/{id}/explain", 400, "invalid_input"),
        ("/api/images/{id}/explain?q=cat&format=gif", 400, "invalid_input"),
        ("/api/images/{id}/explain?q=%20%20", 400, "invalid_input"),
        ("/api/images/{id}/explain?image_id=999999", 404, "not_found"),
        ("/api/images/{id}/explain?q=cat&image_id={id}", 400, "invalid_input"),
    ],
)
def test_bad_requests_are_4xx(
    client: FlaskClient, indexed: Library, url: str, status: int, code: str
) -> None:
    response = client.get(url.format(id=image_ids(indexed)["scene.png"]))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_a_changed_file_is_404_not_500(
    client: FlaskClient, indexed: Library, folder: Path, tmp_path: Path
) -> None:
    ids = image_ids(indexed)
    path = folder / "scene.png"
    saved = path.read_bytes()
    try:
        make_picture(99, size=(120, 90)).save(path)
        response = client.get(f"/api/images/{ids['scene.png']}/explain?q=something+new")
        assert response.status_code == 404
        assert "changed" in response.get_json()["error"]["message"]
    finally:
        path.write_bytes(saved)


def test_openapi_documents_both_answers(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    get = document["paths"]["/api/images/{image_id}/explain"]["get"]
    names = {(p["name"], p["in"]) for p in get["parameters"]}
    assert {("image_id", "path"), ("q", "query"), ("format", "query")} <= names
    content = get["responses"]["200"]["content"]
    assert content["application/json"]["schema"]["$ref"].endswith("/Explanation")
    assert "image/png" in content
    assert "404" in get["responses"]
    assert "post" in document["paths"]["/api/images/{image_id}/explain"]


def test_cli_writes_a_png(
    indexed: Library,
    folder: Path,
    tiny_spec: ModelSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pixsift.cli.main import main

    # torch (no ONNX export of the tiny model); main writes the backend into the environment,
    # which monkeypatch restores afterwards.
    monkeypatch.setenv("PIXSIFT_BACKEND", "torch")
    library_options = ["--library", str(indexed.directory), "--pretrained", tiny_spec.pretrained]
    library_options += ["--model", tiny_spec.model_name]
    heat = tmp_path / "heat.png"
    scene = image_ids(indexed)["scene.png"]
    runner = CliRunner()
    explain = ["explain"]
    result = runner.invoke(
        main, [*explain, str(scene), "a red ball", "-o", str(heat), *library_options]
    )
    assert result.exit_code == 0, result.output
    assert Image.open(heat).size == (120, 90)
    planted_path = str(folder / "planted.png")
    result = runner.invoke(
        main, [*explain, planted_path, "--json", "--add", planted_path, *library_options]
    )
    assert result.exit_code == 0, result.output
    assert '"grid": 4' in result.output
    result = runner.invoke(main, [*explain, "424242", "cat", *library_options])
    assert result.exit_code == 1
    assert "no indexed image has id 424242" in result.output
    result = runner.invoke(main, [*explain, "no-such-file.png", "cat", *library_options])
    assert result.exit_code == 1
    assert "neither an image id nor an image file" in result.output
    unwritable = str(tmp_path / "missing" / "heat.png")
    result = runner.invoke(main, [*explain, str(scene), "cat", "-o", unwritable, *library_options])
    assert result.exit_code == 1
    assert "cannot write" in result.output and "Traceback" not in result.output


def test_a_video_moment_is_explained_on_its_frame(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder
) -> None:
    from video_samples import write_video

    folder = tmp_path_factory.mktemp("explain-video")
    write_video(folder / "scenes.mp4", codec="libx264")
    library = Library.open(tmp_path_factory.mktemp("explain-video-library"), embedder=tiny_embedder)
    options = IndexingOptions(workers=1, show_progress=False, video_interval_seconds=2)
    Indexer(library, tiny_embedder, options).index([folder])
    ids, _ = library.store.all_embeddings(library.store.model_id() or "")
    records = library.images([int(i) for i in ids])
    moment = next(record for record in records.values() if record.offset_s)
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    body = client.get(f"/api/images/{moment.id}/explain?image_id={moment.id}").get_json()
    assert (body["width"], body["height"]) == (moment.width, moment.height)
    assert body["base_score"] > 0.95  # the frame as indexed (sampled at another scale)
    png = client.get(f"/api/images/{moment.id}/explain?q=a+red+wall&format=png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    library.close()
