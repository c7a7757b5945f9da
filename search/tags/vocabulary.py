"""The tag vocabulary shipped with pixsift (vocabulary.txt, written by
benchmarks/make_tag_vocabulary.py) and the prompt templates its labels are embedded with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from open_clip.zero_shot_metadata import SIMPLE_IMAGENET_TEMPLATES

#: The templates of CLIP's prompt-ensembling study that open_clip ships (7 prompts per label).
TEMPLATES: tuple[str, ...] = tuple(template("{}") for template in SIMPLE_IMAGENET_TEMPLATES)


@dataclass(frozen=True)
class Vocabulary:
    labels: tuple[str, ...]

    @property
    def digest(self) -> str:
        """Names the labels and the templates: a cached embedding of another vocabulary (or
        other templates) is never used for this one."""
        text = "\n".join((*self.labels, "--", *TEMPLATES))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def prompts(self, label: str) -> list[str]:
        return [template.format(label) for template in TEMPLATES]


@cache
def default_vocabulary() -> Vocabulary:
    raw = resources.files("search.tags").joinpath("vocabulary.txt").read_text(encoding="utf-8")
    labels = [line.strip() for line in raw.splitlines()]
    return Vocabulary(tuple(label for label in labels if label and not label.startswith("#")))
