"""Training batches of the world CLIP (benchmarks/world/train.py): fresh scenes from the seed,
their texts, and the multi-positive sigmoid labels, pictures x texts."""

from __future__ import annotations

import random

import numpy as np
import torch

from benchmarks.world.render import render
from benchmarks.world.scenes import (
    Scene,
    caption_variants,
    colour_swap,
    iter_scenes,
    object_captions,
    shape_captions,
    shape_twin,
    swap_options,
)

TRAIN_RENDER_SIZE = 64  # drawn a bit larger than the model's 48 px; the transform crops/resizes


def label_matrix(texts: list[str], pictures: list[Scene]) -> torch.Tensor:
    """Sigmoid-loss labels for a batch, pictures x texts (the layout of open_clip's SigLipLoss
    logits, image @ text.T): +1 where the text is a true caption of the picture, else -1. A
    text is true of a picture when the picture's own captions (``caption_variants``, which
    every training text is drawn from) hold it: "a red star" for every picture holding a red
    star, "a small red star" only for a small one, "... on a plain background" only there, a
    full caption for its own scene (or one with the identical caption). open_clip's
    SigLipLoss labels all but the diagonal -1, so "a red star" was a negative on the ~2
    other pictures of a batch holding one (section 36: 0.32 of such labels positive).
    A shape alone ("a star", ``shape_captions``; only --shape-words writes it) is true of
    every picture holding that shape."""
    true = [set(caption_variants(picture)) | set(shape_captions(picture)) for picture in pictures]
    labels = [[1.0 if text in held else -1.0 for text in texts] for held in true]
    return torch.tensor(labels, dtype=torch.float32)


class SceneBatches(torch.utils.data.IterableDataset):
    """(images, tokens, labels) batches of fresh training scenes, drawn in one loader worker process
    (one stream, so the order is the seed's whatever the machine) while the model trains."""

    def __init__(self, seed: int, batch_size: int, transform, tokenizer, **options) -> None:
        self.seed, self.batch_size, self.transform, self.tokenizer = (
            seed,
            batch_size,
            transform,
            tokenizer,
        )
        self.options = options  # batches()'s keyword options

    def __iter__(self):
        return batches(self.seed, self.batch_size, self.transform, self.tokenizer, **self.options)


def batches(seed: int, batch_size: int, transform, tokenizer, *, size: int = TRAIN_RENDER_SIZE,
            twins: float = 0.0, short_twins: bool = False, shape_words: float = 0.0,
            swap_twins: float = 0.0):  # fmt: skip
    """(images, tokens, labels) batches of fresh training scenes, each with one of its true
    captions; ``labels`` is ``label_matrix`` of the batch (used by --multi-positive).
    A share ``twins`` of each batch is pairs of a scene and its shape twin (one object drawn as
    another shape), both captioned by a text naming that object: contrasting them is only
    possible by shape, which plain batches let the model skip (it ranked "a red star" by colour).
    A share ``shape_words`` of the other scenes' texts become one object's shape alone ("a
    star"; with --multi-positive a positive on every picture holding a star), drawn from their
    own generator so that the scenes and every other text stay as without it.
    A share ``swap_twins`` is pairs of a scene and its colour-swap twin (``colour_swap``), last in
    the batch, each captioned by one swapped object alone: "a red star" on the scene, "a blue
    star" on the twin, each a negative on the other picture (section 39: every wrong two-word
    result held the colour and the shape on different objects)."""
    stream = iter_scenes(seed, allow_held_out=False)
    rng = random.Random(seed)
    twin_rng = np.random.default_rng(seed + 1)
    word_rng = random.Random(seed + 2)
    swaps = swap_pairs(seed + 3)
    pairs, swap_count = int(batch_size * twins) // 2, int(batch_size * swap_twins) // 2
    while True:
        chunk = [next(stream) for _ in range(batch_size - pairs - 2 * swap_count)]
        texts = [
            s.caption if rng.random() < 0.5 else rng.choice(caption_variants(s)) for s in chunk
        ]
        if shape_words:
            for position in range(pairs, len(chunk)):
                if word_rng.random() < shape_words:
                    texts[position] = word_rng.choice(shape_captions(chunk[position]))
        for position in range(pairs):
            twin, index = shape_twin(chunk[position], twin_rng)
            # The same kind of caption for both, naming the object (short: the object alone).
            kind = rng.randrange(1, 3) if short_twins else rng.randrange(4)
            texts[position] = object_captions(chunk[position], index)[kind]
            chunk.append(twin)
            texts.append(object_captions(twin, index)[kind])
        for _ in range(swap_count):
            pictures, captions = next(swaps)
            chunk += pictures
            texts += captions
        images = torch.stack([transform(render(s, (size, size))) for s in chunk])
        yield images, tokenizer(texts), label_matrix(texts, chunk)


def swap_pairs(seed: int):
    """Endless ([scene, its colour-swap twin], [a text for each]) from their own scene stream
    (scenes with no two objects to swap are passed over): the swapped object alone, with or
    without its size ("a red star" / "a small blue star"), the same kind for both."""
    stream = iter_scenes(seed, allow_held_out=False)
    rng = random.Random(seed)
    while True:
        scene = next(stream)
        options = swap_options(scene)
        if not options:
            continue
        first, second = rng.choice(options)
        named = rng.choice((first, second))
        twin = colour_swap(scene, first, second)
        kind = rng.randrange(1, 3)
        texts = [object_captions(scene, named)[kind], object_captions(twin, named)[kind]]
        yield [scene, twin], texts
