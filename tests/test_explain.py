"""Match explanations (coarse-to-fine insertion heatmaps) with the tiny random-weights model: the maximum lands
on a planted patch, cells map onto landscape, portrait and EXIF-rotated pictures exactly, and the
top-ranked cells matter more than random ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_picture
from PIL import Image

from pixsift.search.errors import InvalidInputError, NotFoundError
from pixsift.search.explain.geometry import CropGeometry
from pixsift.search.explain.occlusion import Mask, masked_scores, median_fill
from pixsift.search.explain.service import Explainer, model_plan
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec
from pixsift.search.model.loading import load_embedder
from pixsift.search.model.ort import OnnxEmbedder
from pixsift.search.model.pixels import PixelPlan
from pixsift.search.model.spec import Runtime
from pixsift.search.query.request import QueryTerm

#: open_clip's preprocessing mean (OpenAI's) as a colour: flat grey the model input holds as
#: zeros, so only the planted patch carries anything (a random-weights tower is otherwise
#: more sensitive to some positions than to any content).
GREY = (123, 117, 104)


def planted(
    size: tuple[int, int], patch_box: tuple[int, int, int, int], seed: int = 0
) -> Image.Image:
    """Flat grey with one box of seeded colour noise."""
    pixels = np.full((size[1], size[0], 3), GREY, dtype=np.uint8)
    left, top, right, bottom = patch_box
    rng = np.random.default_rng(seed)
    pixels[top:bottom, left:right] = rng.integers(0, 256, (bottom - top, right - left, 3))
    return Image.fromarray(pixels, "RGB")


def explain_own(library: Library, path: Path):
    explainer = Explainer(library)
    return explainer.explain(explainer.picture(path), [QueryTerm(image_path=path)])


def top_cell_contains(explanation, point: tuple[float, float]) -> bool:
    best = explanation.ranked_cells()[0]
    left, top, right, bottom = best.box
    return left <= point[0] < right and top <= point[1] < bottom


def test_planted_patch_gets_the_maximum(library: Library, tmp_path: Path) -> None:
    # 128 x 128 on a 32-pixel model with 8-pixel patches: 4 x 4 cells of 32 original pixels.
    path = tmp_path / "planted.png"
    planted((128, 128), (64, 32, 96, 64)).save(path)
    explanation = explain_own(library, path)
    assert explanation.grid == 4
    assert explanation.crop_box == (0.0, 0.0, 128.0, 128.0)
    best = explanation.ranked_cells()[0]
    assert (best.row, best.col) == (1, 2)
    assert best.box == (64.0, 32.0, 96.0, 64.0)
    assert explanation.drops[1][2] == best.drop > 0
    assert explanation.base_score == pytest.approx(1.0, abs=1e-4)  # its own embedding


@pytest.mark.parametrize(
    ("size", "patch", "crop"),
    [
        # landscape 200 x 100 -> 64 x 32, crop x 16..48 -> 50..150 on the picture
        ((200, 100), (125, 25, 150, 50), (50.0, 0.0, 150.0, 100.0)),
        # portrait 100 x 200 -> 32 x 64, crop y 16..48 -> 50..150
        ((100, 200), (0, 125, 25, 150), (0.0, 50.0, 100.0, 150.0)),
    ],
)
def test_cells_map_onto_non_square_pictures(
    library: Library,
    tmp_path: Path,
    size: tuple[int, int],
    patch: tuple[int, int, int, int],
    crop: tuple[float, float, float, float],
) -> None:
    path = tmp_path / "picture.png"
    planted(size, patch, seed=3).save(path)
    explanation = explain_own(library, path)
    assert (explanation.width, explanation.height) == size
    assert explanation.crop_box == crop
    centre = ((patch[0] + patch[2]) / 2, (patch[1] + patch[3]) / 2)
    assert top_cell_contains(explanation, centre)
    cell_width = (crop[2] - crop[0]) / 4
    assert all(cell.box[2] - cell.box[0] == pytest.approx(cell_width) for cell in explanation.cells)


def test_cells_map_onto_an_exif_rotated_jpeg(library: Library, tmp_path: Path) -> None:
    # Shown 240 x 120 (landscape); stored 120 x 240 with orientation 6 (rotate to show), and a
    # JPEG, which the reader decodes at a reduced scale: the map must undo both.
    shown = planted((240, 120), (150, 30, 180, 60), seed=5)
    stored = shown.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif)
    explanation = explain_own(library, path)
    assert (explanation.width, explanation.height) == (240, 120)
    assert explanation.crop_box == (60.0, 0.0, 180.0, 120.0)
    assert top_cell_contains(explanation, (165, 45))


def test_geometry_matches_the_pixel_plan_crop() -> None:
    plan = PixelPlan(size=224, resampling=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    geometry = CropGeometry.of(plan, (1000, 667), (4000, 2668))  # a JPEG decoded at 1/4
    # 1000 x 667 -> 335 x 224 (int), crop left round(55.5) = 56
    assert geometry.scale_x == pytest.approx(4000 / 335)
    assert geometry.crop_box == pytest.approx((56 * 4000 / 335, 0, 280 * 4000 / 335, 2668))


@pytest.mark.parametrize("seed", [1, 3])
def test_top_cells_alone_score_more_than_random_cells_alone(
    library: Library, tmp_path: Path, seed: int
) -> None:
    path = tmp_path / "scene.png"
    make_picture(seed, size=(128, 128)).save(path)
    explanation = explain_own(library, path)
    embedder = library.embedder
    plan = model_plan(embedder)
    pixels = plan.model_input(plan.resize_and_crop(Image.open(path).convert("RGB"))[None])[0]
    query = library.embed_image_file(path)
    ranked = [(cell.row, cell.col) for cell in explanation.ranked_cells()]
    rng = np.random.default_rng(11)
    for count in (2, 4):
        random_masks = [
            [ranked[i] for i in rng.choice(16, count, replace=False)] for _ in range(20)
        ]
        masks = [ranked[:count], ranked[-count:], *random_masks]
        shown = [Mask(tuple(cells), keep=True) for cells in masks]
        scores = masked_scores(embedder, pixels, query, 4, shown, fill=median_fill(pixels))
        top, bottom, random = scores[0], scores[1], scores[2:].mean()
        assert top > random > bottom, (count, top, random, bottom)


def test_explanations_are_cached_per_image_and_query(library: Library, tmp_path: Path) -> None:
    path = tmp_path / "scene.png"
    make_picture(8, size=(96, 96)).save(path)
    explainer = Explainer(library)
    picture = explainer.picture(path)
    first = explainer.explain(picture, [QueryTerm(text="a red square")])
    files = list((library.directory / "explanations").rglob("*.json"))
    assert len(files) == 1
    assert explainer.explain(picture, [QueryTerm(text="a red square")]) == first
    other = explainer.explain(picture, [QueryTerm(text="a blue circle")])
    assert other.drops != first.drops
    assert len(list((library.directory / "explanations").rglob("*.json"))) == 2


def test_refusals(library: Library, tmp_path: Path) -> None:
    explainer = Explainer(library)
    with pytest.raises(NotFoundError):
        explainer.picture(12345)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(InvalidInputError, match="cannot explain"):
        explainer.picture(broken)
    path = tmp_path / "scene.png"
    make_picture(9).save(path)
    with pytest.raises(InvalidInputError, match="empty"):
        explainer.explain(explainer.picture(path), [])


def test_onnx_towers_explain_as_torch_does(
    library: Library, tmp_path: Path, tiny_spec: ModelSpec
) -> None:
    onnx = load_embedder(tiny_spec, Runtime(backend="onnx", threads=1))
    assert isinstance(onnx, OnnxEmbedder)
    assert onnx.patch_grid == library.embedder.patch_grid == 4  # recorded when exported
    path = tmp_path / "scene.png"
    make_picture(2, size=(160, 120)).save(path)
    by_torch = explain_own(library, path)
    with Library.open(tmp_path / "onnx-library", embedder=onnx) as onnx_library:
        by_onnx = explain_own(onnx_library, path)
    assert_same_explanation(by_onnx, by_torch)


#: Float results differ across CPUs (kernels, instruction sets, ONNX Runtime's graph rewrites):
#: the drops of this tiny model are about 1e-3 and agree to ~1e-6 between backends, so 2e-5 is
#: loose enough for any machine and tight enough to catch a cell whose drop is wrong.
DROP_TOLERANCE = 2e-5


def assert_same_explanation(actual, expected) -> None:
    """The same grid, the same boxes, the same drops (within DROP_TOLERANCE), and a top cell
    that is the expected one or tied with it within that tolerance: never exact float equality."""
    assert (actual.grid, actual.crop_box) == (expected.grid, expected.crop_box)
    assert [(c.row, c.col, c.box) for c in actual.cells] == [
        (c.row, c.col, c.box) for c in expected.cells
    ]
    actual_drops, expected_drops = np.asarray(actual.drops), np.asarray(expected.drops)
    np.testing.assert_allclose(actual_drops, expected_drops, rtol=0, atol=DROP_TOLERANCE)
    best = expected.ranked_cells()[0]
    assert actual_drops[best.row, best.col] >= actual_drops.max() - DROP_TOLERANCE
    assert actual.base_score == pytest.approx(expected.base_score, abs=DROP_TOLERANCE)
