"""Model packs: a model exported once (with torch) into a folder or archive that runs without
torch, in pixsift's layout or Immich's, checked, imported and named by --model everywhere; and
the one-line message of each thing that needs torch when torch is missing."""

from __future__ import annotations

import json
import shutil
import sys
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_MODEL_CONFIG, TINY_MODEL_NAME, make_picture
from immich_pack import write_immich_pack

from pixsift.cli.main import main
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.model.immich import ImmichEmbedder
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.pack_files import HUB_FILES
from pixsift.search.model.weights import model_id_for

TEXTS = ["a photo", "a red bicycle leaning on a wall next to a green door", "Ça va? 3.14"]
#: Vectors from ONNX Runtime and torch on the same weights (float32 rounding only).
TOLERANCE = 1e-5


@pytest.fixture(autouse=True)
def models_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("PIXSIFT_MODELS_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def pack(tiny_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("packs") / "tiny-pack"
    result = CliRunner().invoke(
        main,
        ["models", "export", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained,
         "-o", str(target)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cosine with torch: image 1.0000" in result.output
    return target


@pytest.fixture(scope="module")
def immich_pack(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = open_clip.create_model(TINY_MODEL_NAME, pretrained=str(tiny_checkpoint)).eval()
    return write_immich_pack(model, TINY_MODEL_CONFIG, tmp_path_factory.mktemp("immich") / "m")


def torch_vectors(embedder: OpenClipEmbedder) -> np.ndarray:
    pictures = [make_picture(seed) for seed in range(3)]
    return np.concatenate(
        [embedder.embed_images(pictures), embedder.embed_texts_full_context(TEXTS)]
    )


def pack_vectors(
    model: str, monkeypatch: pytest.MonkeyPatch, query_tower: str = "fp32"
) -> np.ndarray:
    """The pack's image vectors and its text vectors, from its fp32 text tower unless told."""
    monkeypatch.setenv("PIXSIFT_QUERY_TOWER", query_tower)
    embedder = load_embedder(ModelSpec(model_name=model))
    pictures = [make_picture(seed) for seed in range(3)]
    return np.concatenate([embedder.embed_images(pictures), embedder.embed_texts(TEXTS)])


def test_a_pack_holds_towers_tokenizer_plan_checksums_and_licence(pack: Path) -> None:
    names = {path.name for path in pack.iterdir()}
    # `pixsift models download REPO` fetches only these names from a hub repository.
    assert [n for n in names if not any(fnmatch(n, pattern) for pattern in HUB_FILES)] == []
    assert {"pack.json", "towers.json", "image.onnx", "text.onnx", "clip-bpe-merges.txt"} <= names
    # What its text queries run by default, its weights in a file of their own.
    assert {"text-int8.onnx", "text-int8.onnx.data"} <= names
    info = json.loads((pack / "pack.json").read_text())
    assert info["dimension"] == TINY_MODEL_CONFIG["embed_dim"]
    assert set(info["files"]) == names - {"pack.json"}
    assert min(info["agreement"].values()) >= 0.99999
    assert "licence" in (pack / "LICENCE.txt").read_text().lower()
    towers = json.loads((pack / "towers.json").read_text())
    assert towers["pixels"]["size"] == 32 and towers["tokenizer"]["kind"] == "clip_bpe"


def test_a_packs_vectors_are_torchs(
    pack: Path, tiny_embedder: OpenClipEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(load_embedder(ModelSpec(model_name=str(pack))), OnnxEmbedder)
    exact = torch_vectors(tiny_embedder)
    assert np.abs(pack_vectors(str(pack), monkeypatch) - exact).max() <= TOLERANCE
    # By default text queries run the int8 copy the pack ships: close to torch's, not equal;
    # images stay exact.
    default = pack_vectors(str(pack), monkeypatch, "auto")
    assert np.abs(default[:3] - exact[:3]).max() <= TOLERANCE
    assert np.abs(default[3:] - exact[3:]).max() > 1e-4
    assert np.sum(default[3:] * exact[3:], axis=1).min() >= 0.99
    # The vectors are stored under the exported model's id: a library indexed with torch
    # searches with the pack.
    assert model_id_for(ModelSpec(model_name=str(pack))) == tiny_embedder.model_id


def test_an_immich_layout_pack_gives_torchs_vectors(
    immich_pack: Path, tiny_embedder: OpenClipEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = load_embedder(ModelSpec(model_name=str(immich_pack)))
    assert isinstance(embedder, ImmichEmbedder) and embedder.patch_grid == 4
    assert model_id_for(ModelSpec(model_name=str(immich_pack))).startswith("immich:sha256-")
    assert (
        np.abs(pack_vectors(str(immich_pack), monkeypatch) - torch_vectors(tiny_embedder)).max()
        <= TOLERANCE
    )


def test_verify_checks_every_file(pack: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["models", "verify", str(pack)])
    assert result.exit_code == 0, result.output
    files = len(list(pack.iterdir())) - 1  # all but pack.json
    assert f"{files} files match their checksums" in result.output
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in pack.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    tokenizer = broken / "clip-bpe-merges.txt"
    tokenizer.write_text(tokenizer.read_text().replace("i n", "i m", 1))
    result = runner.invoke(main, ["models", "verify", str(broken)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {broken}: clip-bpe-merges.txt does not match its checksum"
    )


def test_import_list_and_a_pack_name_index_and_search(
    pack: Path, immich_pack: Path, models_folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    for source, name in ((pack, None), (immich_pack, "immich-tiny")):
        arguments = ["models", "import", str(source), *(["--name", name] if name else [])]
        result = runner.invoke(main, arguments)
        assert result.exit_code == 0, result.output
    listing = runner.invoke(main, ["models", "list"]).output
    assert "tiny-pack\tpixsift" in listing and "immich-tiny\timmich" in listing
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for seed in range(5):
        make_picture(seed).save(pictures / f"p{seed}.png")
    for name in ("tiny-pack", "immich-tiny"):
        library = ["--library", str(tmp_path / name)]
        result = runner.invoke(
            main, ["index", str(pictures), "--model", name, "--workers", "1", *library]
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(main, ["search", "--image", str(pictures / "p3.png"), *library])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[0].split()[1].endswith("p3.png")


def test_a_pack_without_the_int8_copy_runs_its_fp32_tower_and_is_not_written_to(
    pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pack exported before packs shipped the copy runs as it is: no file added to it."""
    older = tmp_path / "older-pack"
    shutil.copytree(pack, older)
    (older / "text-int8.onnx").unlink()
    before = sorted(path.name for path in older.iterdir())
    exact = pack_vectors(str(pack), monkeypatch)
    np.testing.assert_array_equal(pack_vectors(str(older), monkeypatch, "auto"), exact)
    assert sorted(path.name for path in older.iterdir()) == before


@pytest.mark.parametrize("suffix", [".tar", ".zip"])
def test_an_archived_pack_runs_as_it_is(
    pack: Path,
    tiny_embedder: OpenClipEmbedder,
    tmp_path: Path,
    suffix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pixsift.search.model.pack_files import archive_pack

    archive = tmp_path / f"tiny{suffix}"
    archive_pack(pack, archive)
    assert (
        np.abs(pack_vectors(str(archive), monkeypatch) - torch_vectors(tiny_embedder)).max()
        <= TOLERANCE
    )


def test_download_offline_says_which_files_to_copy_where(models_folder: Path) -> None:
    from pixsift.search.errors import WeightsUnavailableError
    from pixsift.search.model.pack_files import download_pack

    with pytest.raises(WeightsUnavailableError) as caught:
        download_pack("ViT-B-32__openai", offline=True)
    message = caught.value.message
    assert "https://huggingface.co/immich-app/ViT-B-32__openai" in message
    assert "pixsift models import ViT-B-32__openai" in message
    assert str(models_folder / "ViT-B-32__openai") in message


@pytest.fixture
def without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as an install without pixsift[torch]: torch and open_clip cannot be found."""
    for name in ("torch", "torchvision", "open_clip"):
        monkeypatch.setitem(sys.modules, name, None)
    # `pixsift --backend torch` writes PIXSIFT_BACKEND for its server's workers: undone after.
    monkeypatch.setenv("PIXSIFT_BACKEND", "auto")


@pytest.mark.parametrize(
    ("command", "needs"),
    [
        (["models", "export", TINY_MODEL_NAME, "--pretrained", "x.pt", "-o", "out"],
         "pixsift models export needs torch"),
        (["index", "{pictures}", "--model", "ViT-B-32", "--library", "{library}"],
         "exporting ViT-B-32's towers to ONNX (first use) needs torch"),
        (["--backend", "torch", "index", "{pictures}", "--model", "ViT-B-32", "--library",
          "{library}"],
         "running ViT-B-32 without exported towers needs torch"),
    ],
)  # fmt: skip
def test_without_torch_what_needs_it_says_what_to_install(
    without_torch: None, command: list[str], needs: str, tmp_path: Path, picture_folder: Path
) -> None:
    places = {"{pictures}": str(picture_folder), "{library}": str(tmp_path / "library")}
    result = CliRunner().invoke(main, [places.get(part, part) for part in command])
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: {needs}") and "pip install 'pixsift[torch]'" in last, last


def test_without_torch_a_pack_indexes_and_searches(
    without_torch: None, pack: Path, picture_folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    library = ["--library", str(tmp_path / "library")]
    result = runner.invoke(main, ["index", str(picture_folder), "--model", str(pack), *library])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["search", "a red square", "-k", "2", *library])
    assert result.exit_code == 0 and len(result.stdout.strip().splitlines()) == 2, result.output
    assert torch is not None  # the module itself stays loaded; only new imports are refused
