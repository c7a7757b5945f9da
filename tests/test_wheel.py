"""The package as a user installs it: the sdist and the wheel built by the tools from the tracked
source, checked (twine; the wheel's packages and data against the source tree), the wheel
installed into a fresh virtual environment WITHOUT torch, and pixsift run there on model packs
exported here: index, search, serve with one API search, explain, tags, failures, the vectors
(equal to torch's here), and the one-line message of what needs torch.

It installs the core's dependencies from PyPI (pip's cache makes later runs fast): outside CI it
is skipped where PyPI cannot be reached; in CI it must run. ``-m "not wheel"`` leaves it out.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
import open_clip
import pytest
from click.testing import CliRunner
from conftest import TINY_MODEL_CONFIG, TINY_MODEL_NAME, make_picture, write_pictures
from immich_pack import write_immich_pack
from servers import free_port, wait_until_up

from pixsift.cli.main import main
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder

pytestmark = pytest.mark.wheel
SOURCE = Path(__file__).resolve().parents[1]
#: Bounds for a loaded 2-core machine: the install downloads ~150 MB the first time.
INSTALL_SECONDS, COMMAND_SECONDS = 900, 300
TEXTS = ["a photo", "a red bicycle leaning on a wall next to a green door"]
PROBE = """
import json, sys
from PIL import Image
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.spec import ModelSpec
from pixsift import search
assert "site-packages" in search.__file__, search.__file__  # the wheel's code, not the source's
embedder = load_embedder(ModelSpec(model_name=sys.argv[1]))
pictures = [Image.open(path).convert("RGB") for path in sys.argv[3:]]
vectors = [*embedder.embed_images(pictures), *embedder.embed_texts(json.loads(sys.argv[2]))]
print(json.dumps([[float(value) for value in row] for row in vectors]))
"""


def run(command: list[str], timeout: float = COMMAND_SECONDS, **kwargs: Any) -> str:
    # Not from the source tree: ``python -c`` would import its packages instead of the wheel's.
    kwargs.setdefault("cwd", tempfile.gettempdir())
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    assert completed.returncode == 0, f"{command}:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


def tracked_source(target: Path) -> Path:
    """A copy of the files git tracks (a build from the work tree could take leftovers)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=SOURCE, capture_output=True, check=False, timeout=60
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    for name in listed.stdout.decode().split("\0"):
        if name and (SOURCE / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(SOURCE / name, target / name)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(source copy, sdist, wheel): the sdist built from the tracked files, the wheel from it."""
    root = tmp_path_factory.mktemp("wheel")
    source = tracked_source(root / "source")
    dist = root / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)])
    (sdist,), (wheel,) = dist.glob("*.tar.gz"), dist.glob("*.whl")
    return source, sdist, wheel


def test_twine_passes_the_sdist_and_the_wheel(built: tuple[Path, Path, Path]) -> None:
    _, sdist, wheel = built
    output = run([sys.executable, "-m", "twine", "check", str(sdist), str(wheel)])
    assert output.count("PASSED") == 2, output


def test_the_wheel_holds_every_package_and_data_file_of_the_source(
    built: tuple[Path, Path, Path],
) -> None:
    source, _, wheel = built
    # setup.py's FOLDERS: the source folders installed under the pixsift package.
    tree = ast.parse((source / "setup.py").read_text())
    (folders,) = (
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FOLDERS"
    )
    # Every tracked file under those folders, modules and data alike, at its installed name.
    expected = {
        "pixsift/" + path.relative_to(source).as_posix()
        for name in folders
        for path in (source / name).rglob("*")
        if path.is_file()
    }
    with zipfile.ZipFile(wheel) as opened:
        shipped = {name for name in opened.namelist() if ".dist-info/" not in name}
    assert "pixsift/search/explain/service.py" in shipped
    assert "pixsift/search/tags/vocabulary.txt" in shipped
    assert shipped == expected, (sorted(expected - shipped), sorted(shipped - expected))
    # One top-level name: nothing another distribution could own or overwrite.
    assert {name.split("/")[0] for name in shipped} == {"pixsift"}


def pypi_reachable() -> bool:
    try:
        with urlopen("https://pypi.org/simple/pip/", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def core_venv(built: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and the core's dependencies: no torch."""
    if not pypi_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("the wheel test installs from PyPI, which CI must reach")
        pytest.skip("PyPI unreachable: the wheel's dependencies cannot be installed")
    venv = tmp_path_factory.mktemp("venv") / "core"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--prefer-binary"]
    run([*pip, "--disable-pip-version-check", str(built[2])], timeout=INSTALL_SECONDS)
    return venv


@pytest.fixture(scope="module")
def packs(
    tiny_spec: ModelSpec, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """pixsift's own pack of the tiny model, exported here with torch, and one in Immich's
    layout of the same weights."""
    root = tmp_path_factory.mktemp("packs")
    result = CliRunner().invoke(
        main,
        ["models", "export", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained,
         "-o", str(root / "tiny.tar")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model = open_clip.create_model(TINY_MODEL_NAME, pretrained=str(tiny_checkpoint)).eval()
    immich = write_immich_pack(model, TINY_MODEL_CONFIG, root / "immich")
    return {"pixsift": root / "tiny.tar", "immich": immich}


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("home")
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("PIXSIFT_")},
        "PIXSIFT_CACHE_DIR": str(root / "cache"),
        "PIXSIFT_MODELS_DIR": str(root / "models"),
        # Tags inline, so that the commands below see them and no process outlives the test
        # (tagging in the background after a model's first run has its own tests).
        "PIXSIFT_BACKGROUND_TAGGING": "0",
    }


def pixsift(venv: Path, environment: dict[str, str], *arguments: str) -> str:
    return run([str(venv / "bin" / "pixsift"), *arguments], env=environment)


def test_the_core_install_has_no_torch(core_venv: Path) -> None:
    probe = (
        "import importlib.util as u; print([m for m in ('torch', 'open_clip') if u.find_spec(m)])"
    )
    assert run([str(core_venv / "bin" / "python"), "-c", probe]).strip() == "[]"


@pytest.mark.parametrize("layout", ["pixsift", "immich"])
def test_vectors_without_torch_equal_torchs(
    core_venv: Path,
    packs: dict[str, Path],
    environment: dict[str, str],
    tiny_embedder: OpenClipEmbedder,
    tmp_path: Path,
    layout: str,
) -> None:
    pictures = write_pictures(tmp_path, 3)

    def vectors_without_torch(query_tower: str) -> np.ndarray:
        output = run(
            [str(core_venv / "bin" / "python"), "-c", PROBE, str(packs[layout]),
             json.dumps(TEXTS), *map(str, pictures)],
            env={**environment, "PIXSIFT_QUERY_TOWER": query_tower},
        )  # fmt: skip
        return np.asarray(json.loads(output), dtype=np.float32)

    with_torch = np.concatenate(
        [
            tiny_embedder.embed_images([make_picture(seed) for seed in range(3)]),
            tiny_embedder.embed_texts_full_context(TEXTS),
        ]
    )
    # The pack's exported towers, text queries through its fp32 text tower: torch's vectors.
    difference = float(np.abs(vectors_without_torch("fp32") - with_torch).max())
    print(f"{layout} pack without torch vs torch: max |difference| {difference:.2e}")
    assert difference <= 1e-5
    if layout == "pixsift":
        # By default a pixsift pack's text queries run the int8 copy it ships (no onnx package
        # needed to use it): close to torch's text vectors, images unchanged.
        default = vectors_without_torch("auto")
        assert float(np.abs(default[:3] - with_torch[:3]).max()) <= 1e-5
        assert float(np.sum(default[3:] * with_torch[3:], axis=1).min()) >= 0.99
        assert float(np.abs(default[3:] - with_torch[3:]).max()) > 1e-4  # the int8 copy ran


@pytest.fixture(scope="module")
def indexed(
    core_venv: Path,
    packs: dict[str, Path],
    environment: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("indexed")
    pictures, library = root / "pictures", root / "library"
    write_pictures(pictures, 6)
    (pictures / "broken.jpg").write_bytes(b"\xff\xd8\xff not a picture")
    output = pixsift(
        core_venv, environment, "index", str(pictures), "--library", str(library),
        "--model", str(packs["pixsift"]), "--workers", "1", "--no-progress",
    )  # fmt: skip
    assert "added 6" in output and "failed 1" in output, output
    yield pictures, library


def test_index_search_explain_tags_failures_without_torch(
    core_venv: Path, environment: dict[str, str], indexed: tuple[Path, Path]
) -> None:
    pictures, library = indexed
    at = ["--library", str(library)]
    hits = pixsift(core_venv, environment, "search", "--image", str(pictures / "picture-0002.png"),
                   "-k", "3", *at).splitlines()  # fmt: skip
    assert len(hits) == 3 and hits[0].split()[1].endswith("picture-0002.png")
    explained = json.loads(pixsift(core_venv, environment, "explain", "1", "a red circle",
                                   "--json", *at))  # fmt: skip
    grid = TINY_MODEL_CONFIG["vision_cfg"]["image_size"] // 8  # the tiny model's patch grid
    assert explained["grid"] == grid and len(explained["drops"]) == grid
    # Random weights tag some pictures and not others; each of the six is looked at.
    assert " of 6 images: " in pixsift(core_venv, environment, "tags", "recompute", *at)
    counts = pixsift(core_venv, environment, "tags", "--json", *at)
    assert all(row["images"] >= 1 for row in json.loads(counts))
    failures = pixsift(core_venv, environment, "failures", *at)
    assert "broken.jpg" in failures


def test_serve_answers_an_api_search_without_torch(
    core_venv: Path, environment: dict[str, str], indexed: tuple[Path, Path]
) -> None:
    _, library = indexed
    port = free_port()
    command = [str(core_venv / "bin" / "pixsift"), "serve", "--library", str(library),
               "--port", str(port), "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/api/health", process)
        with urlopen(f"http://127.0.0.1:{port}/api/search?q=a+red+square&k=2", timeout=60) as r:
            body = json.loads(r.read())
    finally:
        process.terminate()
        process.communicate(timeout=60)
    assert len(body["results"]) == 2, body


def test_what_needs_torch_says_what_to_install(
    core_venv: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    write_pictures(tmp_path / "pictures", 1)
    commands = [
        ["models", "export", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k", "-o", "pack"],
        ["index", str(tmp_path / "pictures"), "--library", str(tmp_path / "library")],
    ]
    for arguments in commands:
        completed = subprocess.run(
            [str(core_venv / "bin" / "pixsift"), *arguments], capture_output=True, text=True,
            env=environment, timeout=COMMAND_SECONDS, check=False, cwd=tmp_path,
        )  # fmt: skip
        lines = completed.stderr.strip().splitlines()
        print(f"pixsift {' '.join(arguments[:2])}: {lines[-1] if lines else ''}")
        assert completed.returncode == 1 and len(lines) == 1, completed.stderr
        assert "needs torch" in lines[0] and "pip install 'pixsift[torch]'" in lines[0]


def owner_of_web(target: Path) -> Path:
    """A wheel of another distribution that owns a top-level ``web`` package with an ``app``
    module, as a small Flask project might."""
    import base64
    import hashlib

    files = {
        "web/__init__.py": b"OWNER = 'webowner'\n",
        "web/app.py": b"def main() -> None:\n    print('webowner')\n",
        "webowner-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: webowner\nVersion: 1.0\n",
        "webowner-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }  # fmt: skip

    def digest(data: bytes) -> str:
        encoded = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"sha256={encoded}"

    record = "".join(f"{name},{digest(data)},{len(data)}\n" for name, data in files.items())
    wheel = target / "webowner-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as opened:
        for name, data in files.items():
            opened.writestr(name, data)
        opened.writestr(
            "webowner-1.0.dist-info/RECORD", record + "webowner-1.0.dist-info/RECORD,,\n"
        )
    return wheel


def test_beside_a_package_owning_web_pixsift_still_serves(
    core_venv: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    python = str(core_venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(owner_of_web(tmp_path))])
    try:
        # Both live side by side: ``web`` is the other distribution's, pixsift's is its own.
        probe = "import web, pixsift.web.app as ours; print(web.OWNER, ours.create_app.__name__)"
        assert run([python, "-c", probe], env=environment).split() == ["webowner", "create_app"]
        assert "serve" in run([str(core_venv / "bin" / "pixsift"), "--help"], env=environment)
        # Removing the other distribution leaves every pixsift file in place.
        run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "webowner"])
        run([python, "-c", "from pixsift.web import create_app"], env=environment)
    finally:  # the venv as the other tests found it
        run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "webowner"])
