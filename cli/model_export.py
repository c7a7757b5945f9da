"""The torch half of ``pixsift models export`` (imported only there, after torch is found)."""

from __future__ import annotations

from pathlib import Path

from pixsift.search.errors import InvalidInputError
from pixsift.search.model.packs import PackInfo, write_pack_info
from pixsift.search.model.spec import ModelSpec


def export_pack(spec: ModelSpec, folder: Path, name: str, licence: str | None) -> PackInfo:
    """Export ``spec``'s towers into ``folder`` (checked against torch) and make it a pack."""
    import torch

    from pixsift.search.model.embedder import OpenClipEmbedder
    from pixsift.search.model.export import export_towers

    embedder = OpenClipEmbedder.load(spec, device=torch.device("cpu"))
    towers = export_towers(embedder, folder)
    if towers.tokenizer is None or towers.pixels is None:
        raise InvalidInputError(
            f"{spec.model_name} cannot be packed: its tokenizer or image preprocessing runs only "
            "in open_clip (use it with pixsift[torch] instead)"
        )
    weights = Path(spec.pretrained).name if Path(spec.pretrained).exists() else spec.pretrained
    return write_pack_info(
        folder,
        name=name,
        towers=towers,
        source={"model_name": spec.model_name, "pretrained": weights},
        licence=licence or _licence_note(spec.model_name, weights),
    )


def _licence_note(model_name: str, weights: str) -> str:
    return (
        f"Model pack of the open_clip model {model_name} with the weights {weights}, exported to "
        "ONNX by pixsift.\n\nThe weights keep the licence of their source: for published open_clip "
        "weights, the model card of the tag on the Hugging Face hub (e.g. MIT for OpenAI's, the "
        "LAION terms for LAION's); for a checkpoint file, whatever its author gave it. Check it "
        "before you share this pack. pixsift itself is Apache-2.0.\n"
    )
