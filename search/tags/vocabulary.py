"""The tag vocabulary shipped with pixsift (vocabulary.txt, written by
benchmarks/make_tag_vocabulary.py): its labels and the prompt templates they are embedded with
(open_clip's, copied into the file so that reading it imports neither open_clip nor torch)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

TEMPLATE_PREFIX = "template: "
#: Used when a vocabulary names no templates.
PLAIN_TEMPLATES = ("a photo of {}.",)


@dataclass(frozen=True)
class Vocabulary:
    labels: tuple[str, ...]
    #: Prompt templates, each with one ``{}`` for the label; the label's embedding is the
    #: normalised mean of its prompts' (prompt ensembling).
    templates: tuple[str, ...] = PLAIN_TEMPLATES

    @property
    def digest(self) -> str:
        """Names the labels and the templates: a cached embedding of another vocabulary (or
        other templates) is never used for this one."""
        text = "\n".join((*self.labels, "--", *self.templates))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def prompts(self, label: str) -> list[str]:
        return [template.format(label) for template in self.templates]


@cache
def default_vocabulary() -> Vocabulary:
    raw = resources.files(__package__).joinpath("vocabulary.txt").read_text(encoding="utf-8")
    lines = [line.strip() for line in raw.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    templates = [
        line.removeprefix(TEMPLATE_PREFIX) for line in lines if line.startswith(TEMPLATE_PREFIX)
    ]
    labels = [line for line in lines if not line.startswith(TEMPLATE_PREFIX)]
    return Vocabulary(tuple(labels), tuple(templates) or PLAIN_TEMPLATES)
