"""The torch-free worker preprocessing equals open_clip's own transform."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from conftest import make_picture
from PIL import Image

from pixsift.search.model.pixels import pixel_plan_for


def eval_transform(interpolation: str = "bicubic"):
    return open_clip.image_transform(224, is_train=False, interpolation=interpolation)


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize(
    "size", [(96, 72), (72, 96), (224, 224), (225, 224), (1000, 333), (31, 47)]
)
def test_plan_equals_the_open_clip_transform(interpolation: str, size: tuple[int, int]) -> None:
    preprocess = eval_transform(interpolation)
    plan = pixel_plan_for(preprocess)
    assert plan is not None and plan.size == 224
    picture = make_picture(3, size=size)
    expected = preprocess(picture).numpy()
    actual = plan.model_input(plan.resize_and_crop(picture)[None])[0]
    np.testing.assert_allclose(actual, expected, atol=1e-6)


def test_unknown_transforms_fall_back_to_none() -> None:
    assert pixel_plan_for(lambda image: torch.zeros(3)) is None
    import torchvision.transforms as transforms

    squash = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])
    assert pixel_plan_for(squash) is None


def test_plan_handles_grey_input() -> None:
    plan = pixel_plan_for(eval_transform())
    grey = Image.new("L", (300, 200), 128)
    assert plan.resize_and_crop(grey).shape == (224, 224, 3)
