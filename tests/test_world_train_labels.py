"""benchmarks/world/train.py's multi-positive sigmoid labels: a text is a positive for every
picture of the batch it is true of, and the loss on those labels is open_clip's SigLipLoss."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import open_clip
import pytest
import torch

from benchmarks.world.batches import batches, label_matrix
from benchmarks.world.scenes import Scene, Thing, scenes
from benchmarks.world.train import MultiPositiveSigLipLoss


def _scene(*things: Thing, background: str = "plain", word: str | None = None,
           place: str | None = None, relation: str | None = None, seed: int = 1) -> Scene:  # fmt: skip
    return Scene(things, background, (120, 120, 120), word, place, relation, seed)


SMALL_RED_STAR = Thing("star", "red", "small", 0.3, 0.3, 0.0)
BIG_BLUE_CIRCLE = Thing("circle", "blue", "big", 0.7, 0.7, 0.0)
BIG_RED_STAR = Thing("star", "red", "big", 0.25, 0.5, 5.0)
SMALL_RED_CIRCLE = Thing("circle", "red", "small", 0.5, 0.5, 0.0)

PICTURES = [
    _scene(SMALL_RED_STAR, BIG_BLUE_CIRCLE, relation="above"),  # 0
    _scene(BIG_RED_STAR, background="striped", word="cat", place="left"),  # 1
    _scene(SMALL_RED_CIRCLE, place="centre"),  # 2
    # Another picture (its own texture seed, objects moved) with the same caption as 0.
    _scene(replace(SMALL_RED_STAR, x=0.35), BIG_BLUE_CIRCLE, relation="above", seed=9),  # 3
]
TEXTS = [
    PICTURES[0].caption,
    "a red star",
    "a small red star",
    "a red star on a plain background",
    "the word cat",
    "a red circle",
    "a big red star",
    PICTURES[1].caption,
    "a blue circle",
]
#: Pictures (rows) x texts (columns), written out by hand: 1 where the text is true.
EXPECTED = [
    [1, 1, 1, 1, 0, 0, 0, 0, 1],
    [0, 1, 0, 0, 1, 0, 1, 1, 0],
    [0, 0, 0, 0, 0, 1, 0, 0, 0],
    [1, 1, 1, 1, 0, 0, 0, 0, 1],
]


def test_the_label_matrix_marks_every_picture_a_text_is_true_of() -> None:
    labels = label_matrix(TEXTS, PICTURES)
    assert labels.shape == (len(PICTURES), len(TEXTS))
    assert labels.tolist() == [[1.0 if v else -1.0 for v in row] for row in EXPECTED]


def test_on_diagonal_labels_the_loss_is_open_clips_siglip_loss() -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.nn.functional.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    scale, bias = torch.tensor(10.0), torch.tensor(-10.0)
    diagonal = 2 * torch.eye(6) - 1
    reference = open_clip.loss.SigLipLoss()(image, text, scale, bias)
    ours = MultiPositiveSigLipLoss()
    assert ours(image, text, scale, bias, diagonal).item() == pytest.approx(reference.item(), 1e-6)
    # Picture 1 made a positive of text 0: that pair's term -logsigmoid(-z) = softplus(z)
    # becomes -logsigmoid(z) = softplus(-z), a change of -z over the batch of 6.
    labels = diagonal.clone()
    labels[1, 0] = 1.0
    logit = 10.0 * float(image[1] @ text[0]) - 10.0
    expected = reference.item() - logit / 6
    assert ours(image, text, scale, bias, labels).item() == pytest.approx(expected, 1e-5)


def test_the_loss_refuses_labels_of_another_shape() -> None:
    image = torch.nn.functional.normalize(torch.ones(3, 4), dim=-1)
    with pytest.raises(ValueError, match="labels"):
        MultiPositiveSigLipLoss()(
            image, image, torch.tensor(1.0), torch.tensor(0.0), torch.ones(2, 3)
        )


def test_training_batches_label_each_text_true_of_its_own_picture_and_of_others() -> None:
    """Every text the generator writes (full captions, variants, short twin captions) is true
    of its own picture, and short twin captions are true of other pictures of the batch too."""
    stream = batches(0, 32, lambda image: torch.zeros(1), lambda texts: texts, size=8, twins=0.5,
                     short_twins=True)  # fmt: skip
    shared = 0
    for _ in range(3):
        _, texts, labels = next(stream)
        assert labels.shape == (32, 32)
        assert bool((labels.diagonal() == 1).all())
        assert set(labels.unique().tolist()) <= {-1.0, 1.0}
        positives = (labels > 0).sum(dim=0)
        shared += int((positives > 1).sum())
        # The twins (24..31, of pictures 0..7) are captioned by the changed object alone.
        assert all(len(text.split()) in (3, 4) for text in texts[:8] + texts[24:])
        assert all(texts[p] != texts[24 + p] for p in range(8))
    assert shared > 0


def test_a_shape_alone_is_true_of_every_picture_holding_that_shape_whatever_its_colour() -> None:
    labels = label_matrix(["a star", "a circle", "a heart"], PICTURES)
    # Stars: 0 (small red), 1 (big red), 3; circles: 0 (blue), 2 (red), 3; hearts: none.
    assert labels.tolist() == [[1, 1, -1], [1, -1, -1], [-1, 1, -1], [1, 1, -1]]


def test_shape_words_turn_some_texts_into_a_shape_alone_and_leave_the_rest_as_they_were() -> None:
    """--shape-words: the same pictures, the same twin texts; a share of the other texts become
    "a <shape>" of their own picture, labelled +1 on exactly the pictures holding that shape."""
    size, pairs = 32, 8

    def stream(words: float):
        return batches(0, size, lambda image: torch.from_numpy(np.array(image)).float(), lambda t: t,
                       size=8, twins=0.5, short_twins=True, shape_words=words)  # fmt: skip

    drawn = scenes(0, 3 * size, allow_held_out=False)  # the first batches' own scenes, in order
    changed = 0
    plain_stream, word_stream = stream(0.0), stream(0.5)
    for batch in range(2):
        (plain_images, plain, _), (images, texts, labels) = next(plain_stream), next(word_stream)
        assert torch.equal(images, plain_images)
        own = drawn[batch * (size - pairs) : (batch + 1) * (size - pairs)]
        for position, text in enumerate(texts):
            if text == plain[position]:
                continue
            assert pairs <= position < size - pairs  # never a twin's text
            changed += 1
            shape = text.removeprefix("a ")
            assert shape in {t.shape for t in own[position].things}
            column = labels[: size - pairs, position].tolist()
            assert column == [1.0 if shape in {t.shape for t in s.things} else -1.0 for s in own]
    # About half of the 16 other texts a batch, of two batches.
    assert 8 <= changed <= 24
