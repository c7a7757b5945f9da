"""benchmarks/world/train.py --swap-twins: a scene beside its colour-swap twin (the same shapes,
places and background, two objects' colours exchanged), each captioned by a swapped object alone,
so that "a red star" is a positive on the scene and a negative on the twin that holds a red
diamond and a blue star: a hard negative only binding colour to shape can tell apart."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.world.batches import batches, label_matrix
from benchmarks.world.render import render
from benchmarks.world.scenes import COLOURS, Scene, Thing, colour_swap, swap_options

RED_STAR = Thing("star", "red", "big", 0.27, 0.5, 0.0)
BLUE_DIAMOND = Thing("diamond", "blue", "big", 0.73, 0.5, 0.0)
SCENE = Scene((RED_STAR, BLUE_DIAMOND), "striped", (120, 120, 120), None, None, "to the left of", 7)


def _pixel(picture, thing: Thing) -> tuple[int, int, int]:
    side = picture.size[0]
    return picture.getpixel((int(thing.x * side), int(thing.y * side)))


def test_the_twin_exchanges_the_two_objects_colours_and_keeps_everything_else() -> None:
    assert swap_options(SCENE) == [(0, 1)]
    twin = colour_swap(SCENE, 0, 1)
    assert [(t.colour, t.shape) for t in twin.things] == [("blue", "star"), ("red", "diamond")]
    assert [(t.x, t.y, t.size, t.turn) for t in twin.things] == [
        (t.x, t.y, t.size, t.turn) for t in SCENE.things
    ]
    assert (twin.background, twin.tone, twin.seed, twin.relation) == (
        SCENE.background, SCENE.tone, SCENE.seed, SCENE.relation)  # fmt: skip
    # Drawn by the scene generator's own renderer: the star's middle is now blue, the diamond's red,
    # and the background is the same pixels.
    picture, swapped = render(SCENE, (128, 128)), render(twin, (128, 128))
    assert _pixel(picture, RED_STAR) == COLOURS["red"] == _pixel(swapped, BLUE_DIAMOND)
    assert _pixel(swapped, RED_STAR) == COLOURS["blue"] == _pixel(picture, BLUE_DIAMOND)
    assert picture.getpixel((3, 3)) == swapped.getpixel((3, 3))


def test_objects_of_one_colour_or_one_shape_are_not_swapped() -> None:
    red_diamond = Thing("diamond", "red", "small", 0.73, 0.5, 0.0)
    blue_star = Thing("star", "blue", "small", 0.73, 0.5, 0.0)
    assert (
        swap_options(Scene((RED_STAR, red_diamond), "plain", (9, 9, 9), None, None, "above", 1))
        == []
    )
    assert (
        swap_options(Scene((RED_STAR, blue_star), "plain", (9, 9, 9), None, None, "above", 1)) == []
    )


def test_a_swapped_objects_two_word_text_is_a_negative_on_the_other_picture() -> None:
    twin = colour_swap(SCENE, 0, 1)
    texts = ["a red star", "a blue star", "a red diamond", "a blue diamond", "a small red star"]
    assert label_matrix(texts, [SCENE, twin]).tolist() == [
        [1, -1, -1, 1, -1],
        [-1, 1, 1, -1, -1],
    ]


def _stream(swaps: float):
    return batches(0, 32, lambda image: torch.from_numpy(np.array(image)).float(), lambda t: t,
                   size=16, twins=0.25, short_twins=True, swap_twins=swaps)  # fmt: skip


def test_training_batches_end_in_swap_pairs_each_texts_negative_on_the_other() -> None:
    """--swap-twins 0.25 of a batch of 32: 4 pairs, last; each pair's texts name the same
    object, positive on their own picture and negative on the other (which holds the same
    colours and the same shapes), and the two pictures differ only in the objects' pixels."""
    stream = _stream(0.25)
    for _ in range(2):
        images, texts, labels = next(stream)
        assert images.shape[0] == len(texts) == 32 and labels.shape == (32, 32)
        for position in range(24, 32, 2):
            scene_labels, twin_labels = labels[position], labels[position + 1]
            assert (scene_labels[position], twin_labels[position + 1]) == (1, 1)
            assert (scene_labels[position + 1], twin_labels[position]) == (-1, -1)
            assert len(texts[position].split()) in (3, 4)
            assert texts[position] != texts[position + 1]
            assert texts[position].split()[-1] == texts[position + 1].split()[-1]  # one shape
            differ = (images[position] != images[position + 1]).any(dim=-1)
            assert 0 < int(differ.sum()) < differ.numel() // 4  # the objects, not the background


def test_the_swaps_take_places_of_plain_scenes_and_leave_the_rest_as_they_were() -> None:
    """The seed's own scenes come first as without the option (16 + 4 pairs' twins = 20 of a
    batch of 32 with swaps, 28 without), then the shape twins, then the swap pairs."""
    (swapped, _, _), (plain, _, _) = next(_stream(0.25)), next(_stream(0.0))
    assert torch.equal(swapped[:20], plain[:20])
    assert torch.equal(swapped[20:24], plain[28:32])  # the same 4 shape twins
    assert not torch.equal(swapped[24:], plain[20:28])
