"""open_clip's CoCa as a captioner: its image tower and text decoder, batched greedy decoding
with a key/value cache (search.caption.decode).

Loaded like the towers (search.model.weights): a published tag from the cache, else downloaded
once, or a local checkpoint file; never random weights. A model config file (``.json``) may name
a local Hugging Face tokenizer folder (``text_cfg.hf_tokenizer_name``) relative to itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import open_clip
import torch
from PIL import Image

from pixsift.search.caption.decode import SpecialTokens, greedy
from pixsift.search.caption.protocol import CaptionerSpec
from pixsift.search.errors import InvalidInputError, WeightsUnavailableError
from pixsift.search.model.spec import ModelSpec, is_model_config_path
from pixsift.search.model.weights import check_model_name, open_clip_model_name, resolve_weights

#: Words per description at most (a sentence; CoCa's COCO captions are ~10 tokens).
MAX_TOKENS = 30
CAPTION_FLAGS = "--caption-pretrained FILE (or PIXSIFT_CAPTION_PRETRAINED)"


class CocaCaptioner:
    """An open_clip CoCa model ready to describe pictures."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, captioner_id: str) -> None:
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.captioner_id = captioner_id
        start, end = _special_ids(tokenizer)
        self.special = SpecialTokens(start, end, int(getattr(model, "pad_id", 0)))
        # The text tower appends a CLS token: prompt + generated tokens stay one below its context.
        self.max_tokens = min(MAX_TOKENS, int(model.context_length) - 2)

    @classmethod
    def load(cls, spec: CaptionerSpec) -> CocaCaptioner:
        """Load ``spec``'s CoCa; raises WeightsUnavailableError (what to fetch, and where to
        pass it) when its weights are not here, InvalidInputError for a model that is not CoCa."""
        name, config, (checkpoint, preprocessing, captioner_id) = check_captioner(spec)
        overrides, tokenizer = _tokenizer(spec.model_name, name, config)
        model, _, preprocess = open_clip.create_model_and_transforms(
            name,
            pretrained=str(checkpoint),
            device=torch.device("cpu"),
            image_mean=preprocessing.get("mean"),
            image_std=preprocessing.get("std"),
            image_interpolation=preprocessing.get("interpolation"),
            image_resize_mode=preprocessing.get("resize_mode"),
            **overrides,
        )
        return cls(model, preprocess, tokenizer, captioner_id)

    def describe(self, images: Sequence[Image.Image]) -> list[str]:
        """One description per picture, decoded greedily for the whole batch at once."""
        if not images:
            return []
        pixels = torch.stack([self.preprocess(image.convert("RGB")) for image in images])
        return [self._text(ids) for ids in self.generate(pixels)]

    def generate(self, pixels: torch.Tensor) -> list[list[int]]:
        """The generated token ids of each picture (without start, end and padding), decoded
        greedily with a key/value cache (search.caption.decode)."""
        return greedy(self.model, pixels, self.special, self.max_tokens)

    def _text(self, ids: list[int]) -> str:
        inner = getattr(self.tokenizer, "tokenizer", None)  # open_clip's HFTokenizer wraps one
        if inner is not None:
            text = inner.decode(ids, skip_special_tokens=True)
        else:
            text = self.tokenizer.decode(ids)
        text = " ".join(text.replace(" ,", ",").replace(" .", ".").split())
        return text.rstrip(" .")


def check_captioner(spec: CaptionerSpec) -> tuple[str, dict, tuple[Path, dict[str, Any], str]]:
    """(open_clip name, config, (checkpoint, preprocessing, captioner id)) of ``spec``, without
    building the model; raises what :meth:`CocaCaptioner.load` would."""
    check_model_name(spec.model_name)
    name = open_clip_model_name(spec.model_name)
    config = open_clip.get_model_config(name) or {}
    if "multimodal_cfg" not in config:
        raise InvalidInputError(
            f"{name} is not a captioning model: --caption-model takes an open_clip CoCa "
            "model (coca_ViT-B-32, coca_ViT-L-14, or a CoCa config file)"
        )
    model_spec = ModelSpec(model_name=spec.model_name, pretrained=spec.pretrained)
    try:
        return name, config, resolve_weights(model_spec)
    except WeightsUnavailableError as error:
        raise WeightsUnavailableError(
            f"captioner {name}: {error.message}. For the captioner, pass the file with "
            f"{CAPTION_FLAGS}"
        ) from error


def _special_ids(tokenizer: Any) -> tuple[int, int]:
    """The start and end token ids of open_clip's BPE tokenizer or a Hugging Face one."""
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None:
        start = inner.bos_token_id if inner.bos_token_id is not None else inner.cls_token_id
        end = inner.eos_token_id if inner.eos_token_id is not None else inner.sep_token_id
        return int(start), int(end)
    return int(tokenizer.sot_token_id), int(tokenizer.eot_token_id)


def _tokenizer(model_name: str, name: str, config: dict) -> tuple[dict[str, Any], Any]:
    """(create_model overrides, tokenizer): a config file's local tokenizer folder is read
    relative to the file, so the pair loads from any working folder without the hub."""
    text_cfg = dict(config.get("text_cfg", {}))
    folder = text_cfg.get("hf_tokenizer_name")
    if not (folder and is_model_config_path(model_name)):
        return {}, open_clip.get_tokenizer(name)
    local = (Path(model_name).expanduser().parent / str(folder)).resolve()
    if not local.is_dir():
        raise WeightsUnavailableError(
            f"the tokenizer folder {local} named by {model_name} is missing; copy it next to "
            "the config file"
        )
    text_cfg["hf_tokenizer_name"] = str(local)
    tokenizer = open_clip.tokenizer.HFTokenizer(
        str(local), context_length=int(text_cfg.get("context_length", 77))
    )
    return {"text_cfg": text_cfg}, tokenizer
