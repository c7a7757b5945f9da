"""Scenes and their captions: one to three objects (shape, colour, size, place), a relation
between two, a background and an optional printed word. Everything is drawn from a seeded
``numpy`` generator, so a seed names a scene list exactly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "ring", "cross",
    "diamond", "hexagon", "pentagon", "crescent", "arrow", "heart",
)  # fmt: skip
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 35),
    "orange": (245, 140, 20),
    "yellow": (245, 225, 30),
    "green": (40, 170, 60),
    "blue": (35, 70, 225),
    "purple": (130, 45, 175),
    "pink": (250, 130, 190),
    "brown": (120, 70, 30),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
SIZES: dict[str, float] = {"small": 0.085, "big": 0.15}  # radius, share of the square's side
PLACES: dict[str, tuple[float, float]] = {
    "left": (0.25, 0.5), "right": (0.75, 0.5), "top": (0.5, 0.25),
    "bottom": (0.5, 0.75), "centre": (0.5, 0.5),
}  # fmt: skip
PLACE_PHRASES = {
    "left": "on the left", "right": "on the right", "top": "at the top",
    "bottom": "at the bottom", "centre": "in the centre",
}  # fmt: skip
RELATIONS: tuple[str, ...] = ("to the left of", "to the right of", "above", "below")
BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "noisy", "striped", "checkered", "dotted")
WORDS: tuple[str, ...] = ("cat", "sun", "tree", "boat", "moon", "fish", "bird", "home")
#: Colour-shape pairs never drawn in training scenes: retrieval of these measures composition.
HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("green", "triangle"), ("yellow", "circle"), ("purple", "square"),
        ("orange", "heart"), ("pink", "cross"), ("white", "diamond"),
        ("brown", "hexagon"), ("black", "arrow"),
    }
)  # fmt: skip


@dataclass(frozen=True)
class Thing:
    """One object: its shape, colour, size word, centre (x, y in the central square, 0..1)
    and a turn in degrees (drawn, never named)."""

    shape: str
    colour: str
    size: str
    x: float
    y: float
    turn: float

    @property
    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A picture's content. ``relation`` relates things[0] to things[1] (two-object scenes);
    ``place`` is the single object's place word; ``seed`` fixes the background's texture."""

    things: tuple[Thing, ...]
    background: str
    tone: tuple[int, int, int]
    word: str | None
    place: str | None
    relation: str | None
    seed: int

    @property
    def caption(self) -> str:
        return full_caption(self)

    @property
    def held_out(self) -> bool:
        return any((t.colour, t.shape) in HELD_OUT_PAIRS for t in self.things)


def full_caption(scene: Scene) -> str:
    """The grammar: objects (with their place or relation), background, printed word."""
    things = scene.things
    if len(things) == 1:
        subject = f"{things[0].phrase} {PLACE_PHRASES[scene.place or 'centre']}"
    elif len(things) == 2:
        subject = f"{things[0].phrase} {scene.relation} {things[1].phrase}"
    else:
        subject = f"{things[0].phrase}, {things[1].phrase} and {things[2].phrase}"
    text = f"{subject} on a {scene.background} background"
    return f"{text} with the word {scene.word}" if scene.word else text


def caption_variants(scene: Scene) -> list[str]:
    """Shorter true captions of ``scene`` (training samples among them): each object alone,
    without its size, with the background, and the full caption."""
    variants = [scene.caption]
    for thing in scene.things:
        bare = f"a {thing.colour} {thing.shape}"
        variants += [thing.phrase, bare, f"{bare} on a {scene.background} background"]
    if scene.word:
        variants.append(f"the word {scene.word}")
    return variants


def shape_captions(scene: Scene) -> list[str]:
    """Each object's shape alone ("a star"): true of any picture holding that shape, whatever its
    colour. Not among ``caption_variants``, which plain training draws from; train.py's
    --shape-words writes them, so that a text is ranked by shape with colour out of the way."""
    return [f"a {thing.shape}" for thing in scene.things]


def shape_twin(scene: Scene, rng: np.random.Generator) -> tuple[Scene, int]:
    """``scene`` with one object (its index returned) drawn as another shape: everything else,
    the background's texture included, stays. Training pairs a scene with its twin so that
    telling them apart takes the shape, which colour, place and background cannot stand in for.
    Never makes a held-out colour-shape pair."""
    index = int(rng.integers(len(scene.things)))
    thing = scene.things[index]
    while True:
        shape = SHAPES[rng.integers(len(SHAPES))]
        if shape != thing.shape and (thing.colour, shape) not in HELD_OUT_PAIRS:
            break
    things = list(scene.things)
    things[index] = replace(thing, shape=shape)
    return replace(scene, things=tuple(things)), index


def swap_options(scene: Scene) -> list[tuple[int, int]]:
    """Pairs of objects of ``scene`` (indices) whose colours ``colour_swap`` can exchange: of
    different colours and different shapes (else the swap changes no colour-shape pair), and
    neither exchange makes a held-out pair."""
    things = scene.things
    return [
        (first, second)
        for first in range(len(things))
        for second in range(first + 1, len(things))
        if things[first].colour != things[second].colour
        and things[first].shape != things[second].shape
        and (things[second].colour, things[first].shape) not in HELD_OUT_PAIRS
        and (things[first].colour, things[second].shape) not in HELD_OUT_PAIRS
    ]


def colour_swap(scene: Scene, first: int, second: int) -> Scene:
    """``scene`` with the colours of objects ``first`` and ``second`` exchanged: the same shapes,
    sizes, places, background and texture. A red star beside a blue diamond becomes a blue star
    beside a red diamond, so "a red star" is true of one and false of the other although both
    hold red, blue, a star and a diamond: only binding colour to shape tells them apart."""
    things = list(scene.things)
    things[first] = replace(scene.things[first], colour=scene.things[second].colour)
    things[second] = replace(scene.things[second], colour=scene.things[first].colour)
    return replace(scene, things=tuple(things))


def object_captions(scene: Scene, index: int) -> list[str]:
    """True captions of ``scene`` that name its object ``index``: the full caption and the
    object alone (with and without its size, with the background)."""
    thing = scene.things[index]
    bare = f"a {thing.colour} {thing.shape}"
    return [scene.caption, thing.phrase, bare, f"{bare} on a {scene.background} background"]


def _thing(rng: np.random.Generator, x: float, y: float, allow_held_out: bool) -> Thing:
    while True:
        shape = SHAPES[rng.integers(len(SHAPES))]
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        if allow_held_out or (colour, shape) not in HELD_OUT_PAIRS:
            break
    size = list(SIZES)[rng.integers(len(SIZES))]
    jitter = rng.uniform(-0.04, 0.04, size=2)
    return Thing(shape, colour, size, float(x + jitter[0]), float(y + jitter[1]),
                 float(rng.uniform(-20, 20)))  # fmt: skip


def _layout(
    rng: np.random.Generator, count: int
) -> tuple[list[tuple[float, float]], str | None, str | None]:
    """Centres for ``count`` objects, with the place word (one) or relation (two)."""
    if count == 1:
        place = list(PLACES)[rng.integers(len(PLACES))]
        return [PLACES[place]], place, None
    if count == 2:
        relation = RELATIONS[rng.integers(len(RELATIONS))]
        near, far = 0.27, 0.73
        across = rng.uniform(0.3, 0.7, size=2)
        if relation in ("to the left of", "to the right of"):
            first, second = (near, far) if relation == "to the left of" else (far, near)
            return [(first, across[0]), (second, across[1])], None, relation
        first, second = (near, far) if relation == "above" else (far, near)
        return [(across[0], first), (across[1], second)], None, relation
    row = rng.uniform(0.3, 0.7)
    return [(0.2, row), (0.5, 1 - row), (0.8, row)], None, None


def sample_scene(rng: np.random.Generator, *, allow_held_out: bool, seed: int) -> Scene:
    count = int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
    centres, place, relation = _layout(rng, count)
    things = tuple(_thing(rng, x, y, allow_held_out) for x, y in centres)
    background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    tone = tuple(int(v) for v in rng.integers(95, 175, size=3))
    word = WORDS[rng.integers(len(WORDS))] if rng.random() < 0.2 else None
    return Scene(things, background, tone, word, place, relation, seed)  # type: ignore[arg-type]


def scenes(seed: int, count: int, *, allow_held_out: bool = True) -> list[Scene]:
    """``count`` scenes from ``seed`` (the same list every time)."""
    return list(iter_scenes(seed, allow_held_out=allow_held_out, count=count))


def iter_scenes(seed: int, *, allow_held_out: bool, count: int | None = None) -> Iterator[Scene]:
    rng = np.random.default_rng(seed)
    made = 0
    while count is None or made < count:
        yield sample_scene(rng, allow_held_out=allow_held_out, seed=int(rng.integers(2**31)))
        made += 1
