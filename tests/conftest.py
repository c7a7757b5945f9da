"""Shared fixtures: a tiny open_clip model with seeded random weights, saved as a checkpoint
file, and folders of generated images. Nothing here downloads anything."""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image, ImageDraw
from postgres_server import TEMPLATE_DATABASE, PostgresServer, PostgresUnavailable, start_server

from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.storage.database import create_database_engine, upgrade_database

TINY_MODEL_NAME = "pixsift-test-tiny"
TINY_MODEL_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def register_tiny_model(config_directory: Path) -> None:
    config_directory.mkdir(parents=True, exist_ok=True)
    (config_directory / f"{TINY_MODEL_NAME}.json").write_text(json.dumps(TINY_MODEL_CONFIG))
    open_clip.add_model_config(config_directory)


def write_tiny_checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_MODEL_NAME, pretrained=None)
    torch.save(model.state_dict(), path)
    return path


#: The source folders, importable only as pixsift.<name> (setup.py's package_dir).
SOURCE_FOLDERS = ("search", "indexer", "web", "cli", "migrations")


@pytest.fixture(autouse=True)
def only_installed_names() -> Iterator[None]:
    """With the checkout on sys.path, ``import search`` would also work, giving a second copy of
    every module (two settings tables, two registries) beside ``pixsift.search``: a test that
    loads a bare name fails."""
    yield
    bare = sorted(set(SOURCE_FOLDERS) & sys.modules.keys())
    assert not bare, f"imported by a bare name, not pixsift.<name>: {bare}"


@pytest.fixture(autouse=True)
def sessions_for_one_query_end_with_their_command() -> Iterator[None]:
    """``pixsift search`` marks its process as one that runs a query and exits (ONNX sessions
    opened without pre-packing); run in-process by CliRunner, the test's process goes on."""
    from pixsift.search.model import loading

    yield
    loading._quick_start = False


@pytest.fixture(scope="session", autouse=True)
def private_cache_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exported towers and checkpoint hashes go to a temporary folder, not the user's cache."""
    directory = tmp_path_factory.mktemp("pixsift-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("PIXSIFT_CACHE_DIR", str(directory))
    # A first `pixsift index` tags before it ends: no background child outlives a test.
    patch.setenv("PIXSIFT_BACKGROUND_TAGGING", "0")
    # Text queries run the exported fp32 tower: the tiny random test models' int8 copies sit at
    # a cosine of ~0.99 to it (a trained model's at 0.9995), too far for tests that compare
    # towers or rankings exactly. The default int8 copy is tested in test_query_tower.py and,
    # for what it retrieves, test_world_quality.py.
    patch.setenv("PIXSIFT_QUERY_TOWER", "fp32")
    # New libraries are embedded by fp32 towers, for the same reason; the default ("auto": int8
    # on a CPU) is tested in test_library_precision.py and test_world_quality.py.
    patch.setenv("PIXSIFT_QUANTIZE", "fp32")
    yield directory
    patch.undo()


@pytest.fixture(scope="session")
def tiny_model_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model-config")
    register_tiny_model(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model_config_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.pt", seed=0)


@pytest.fixture(scope="session")
def tiny_spec(tiny_checkpoint: Path) -> ModelSpec:
    return ModelSpec(model_name=TINY_MODEL_NAME, pretrained=str(tiny_checkpoint))


@pytest.fixture
def cli_args(tmp_path: Path, tiny_spec: ModelSpec) -> list[str]:
    """``pixsift`` options for a new library in the test's folder, on the tiny model."""
    return [
        "--library",
        str(tmp_path / "library"),
        "--model",
        tiny_spec.model_name,
        "--pretrained",
        tiny_spec.pretrained,
    ]


@pytest.fixture(scope="session")
def tiny_embedder(tiny_spec: ModelSpec) -> OpenClipEmbedder:
    torch.manual_seed(0)
    return OpenClipEmbedder.load(tiny_spec, device=torch.device("cpu"))


def make_picture(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A distinct picture per seed: a coloured background with a few shapes."""
    rng = np.random.default_rng(seed)
    background = tuple(int(value) for value in rng.integers(0, 256, 3))
    picture = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(picture)
    for _ in range(4):
        x0, y0 = (int(v) for v in rng.integers(0, min(size) // 2, 2))
        x1, y1 = x0 + int(rng.integers(10, size[0] // 2)), y0 + int(rng.integers(10, size[1] // 2))
        colour = tuple(int(value) for value in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    return picture


def write_pictures(
    folder: Path, count: int, first_seed: int = 0, suffix: str = ".png"
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first_seed, first_seed + count):
        path = folder / f"picture-{seed:04d}{suffix}"
        make_picture(seed).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def picture_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    write_pictures(folder, 12)
    write_pictures(folder / "nested", 4, first_seed=100, suffix=".jpg")
    return folder


# Databases ---------------------------------------------------------------------------------
#: Which databases the library fixtures run on: "sqlite", "postgresql" or "all" (the default).
TEST_DATABASE = os.environ.get("PIXSIFT_TEST_DATABASE", "all")
BACKENDS = [
    pytest.param(name, marks=getattr(pytest.mark, name), id=name)
    for name in ("sqlite", "postgresql")
    if TEST_DATABASE in ("all", name)
]
_database_numbers = itertools.count()

#: A fresh database for one library: None means the library's own SQLite file.
DatabaseFactory = Callable[[], "str | None"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server with a template database already migrated to head. Skipped
    (with the reason) where PostgreSQL is not installed, except in CI, where it must run."""
    if TEST_DATABASE == "sqlite":
        pytest.skip("PIXSIFT_TEST_DATABASE=sqlite: PostgreSQL tests not asked for")
    try:
        server = start_server()
    except PostgresUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {error}")
        pytest.skip(f"PostgreSQL unavailable here: {error}")
    try:
        engine = create_database_engine(server.create_database(TEMPLATE_DATABASE))
        upgrade_database(engine)
        engine.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database (a copy of the migrated template) for one test."""
    name = f"pixsift_{request.node.name[:40].lower()}"
    url = postgres_server.create_database(name, template=TEMPLATE_DATABASE)
    yield url
    postgres_server.drop_databases([name])


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def new_database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[DatabaseFactory]:
    """Makes a fresh database on ``backend`` per call (a PostgreSQL one is a copy of the
    migrated template); the module's databases are dropped at its end."""
    if backend == "sqlite":
        yield lambda: None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    created: list[str] = []

    def create() -> str:
        created.append(f"pixsift_test_{next(_database_numbers)}")
        return server.create_database(created[-1], template=TEMPLATE_DATABASE)

    yield create
    server.drop_databases(created)


@pytest.fixture
def library(
    tmp_path: Path, tiny_embedder: OpenClipEmbedder, new_database_url: DatabaseFactory
) -> Library:
    opened = Library.open(
        tmp_path / "library", database_url=new_database_url(), embedder=tiny_embedder
    )
    yield opened
    opened.close()


def reopen(library: Library, **options: object) -> Library:
    """Open ``library`` again (as another process would): same directory, same database."""
    url = library.store.engine.url.render_as_string(hide_password=False)
    return Library.open(library.directory, database_url=url, **options)
