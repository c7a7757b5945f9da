"""What the indexer needs from a captioner, importable without torch (tests pass fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from pixsift.search.settings import CAPTION_MODEL, CAPTION_PRETRAINED

#: open_clip's CoCa ViT-B/32 fine-tuned on MS-COCO captions (MIT): plain one-sentence captions.
DEFAULT_CAPTION_MODEL = str(CAPTION_MODEL.default)
DEFAULT_CAPTION_PRETRAINED = str(CAPTION_PRETRAINED.default)


class Captioner(Protocol):
    """Turns pictures into one-sentence descriptions."""

    #: Names the model and its weights (stored with every description it writes).
    captioner_id: str

    def describe(self, images: Sequence[Image.Image]) -> list[str]:
        """One description per picture, in order."""
        ...


@dataclass(frozen=True)
class CaptionerSpec:
    """Which captioner to run: an open_clip CoCa architecture (a registry name or the path of
    a config file) and its weights (a published tag or a local checkpoint file)."""

    model_name: str = DEFAULT_CAPTION_MODEL
    pretrained: str = DEFAULT_CAPTION_PRETRAINED
