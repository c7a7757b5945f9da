"""benchmarks/world_regions.py's helpers: the windows it cuts and the figures it reports."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.world_region_figures import mean_average_precision, pair_figures, scored
from benchmarks.world_regions import grid, region_picture


def test_grid_spreads_windows_edge_to_edge():
    boxes = grid(3, 0.5)
    assert len(boxes) == 9
    assert sorted({box[0] for box in boxes}) == pytest.approx([0.0, 0.25, 0.5])
    assert max(box[2] for box in boxes) == pytest.approx(1.0)
    assert grid(2, 0.5)[3] == pytest.approx((0.5, 0.5, 1.0, 1.0))


def _two_halves() -> Image.Image:
    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[:, :20] = (200, 10, 10)  # left half red, right half black: the median is one of them
    pixels[:, 20:] = (0, 0, 0)
    pixels[0, 0] = (0, 0, 0)  # more black than red
    return Image.fromarray(pixels)


def test_crop_cuts_the_window_out():
    piece = region_picture(_two_halves(), (0.0, 0.0, 0.5, 0.5), "crop")
    assert piece.size == (20, 20)
    assert piece.getpixel((10, 10)) == (200, 10, 10)


def test_mask_keeps_the_canvas_and_paints_the_rest():
    piece = np.asarray(region_picture(_two_halves(), (0.0, 0.5, 0.5, 1.0), "mask"))
    assert piece.shape == (40, 40, 3)
    assert tuple(piece[30, 10]) == (200, 10, 10)  # inside the window: as drawn
    assert tuple(piece[10, 10]) == (0, 0, 0)  # outside: the median colour
    with pytest.raises(ValueError, match="crop or mask"):
        region_picture(_two_halves(), (0.0, 0.0, 1.0, 1.0), "blur")


def test_max_scores_a_picture_by_its_best_vector():
    query = np.array([[1.0, 0.0]])
    whole = np.array([[0.0, 1.0], [0.6, 0.8]])
    regions = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    probabilities = scored((10.0, -5.0), query, whole, regions)
    expected_best = 1 / (1 + np.exp(-(10.0 * np.array([1.0, 0.6]) - 5.0)))
    assert probabilities["max"][0] == pytest.approx(expected_best, rel=1e-6)
    assert probabilities["whole"][0] == pytest.approx(
        1 / (1 + np.exp(-(10.0 * np.array([0.0, 0.6]) - 5.0)))
    )


def test_pair_figures_count_what_a_threshold_shows():
    probability = np.array([[0.9, 0.6, 0.2, 0.1], [0.3, 0.55, 0.7, 0.05]])
    truth = np.array([[True, False, True, False], [False, False, True, False]])
    colour_only = np.array([[False, True, False, False], [True, False, False, False]])
    objects = np.array([1, 2, 3, 1])
    absent = np.array([[0.52, 0.1, 0.1, 0.1]])
    figures = pair_figures(probability, truth, colour_only, objects, absent)
    at = figures["at_0.5"]
    # The figures are rounded to 4 places.
    assert at["recall"] == pytest.approx(2 / 3, abs=1e-4)  # 0.9 and 0.7 kept, 0.2 missed
    assert at["precision"] == pytest.approx(2 / 4, abs=1e-4)  # 0.6 and 0.55 shown too
    assert at["absent_shown_per_pair"] == 1
    assert figures["lowest_showing_no_absent"]["threshold"] == pytest.approx(0.53)
    assert figures["best_colour_only_p_median"] == pytest.approx((0.6 + 0.3) / 2)
    assert figures["true_p_median_by_objects"]["3"] == pytest.approx((0.2 + 0.7) / 2)


def test_mean_average_precision():
    probability = np.array([[0.9, 0.8, 0.1], [0.9, 0.8, 0.1]])
    truth = np.array([[True, False, True], [False, True, False]])
    assert mean_average_precision(probability, truth) == pytest.approx(
        ((1 + 2 / 3) / 2 + 0.5) / 2, abs=1e-4
    )
