"""Text->image recall on world scenes, two ways over the same files:

- pixsift: the files indexed by pixsift's indexer (its decode path: draft JPEG decoding,
  reduction, EXIF orientation, transparency on white, its pixel plan or ONNX towers) and
  searched through ``Library.search``;
- the reference: open_clip's own pipeline on the same checkpoint
  (``create_model_and_transforms``, its eval transform on the upright pixels a plain Pillow read
  gives, exact search in memory).

A query is a distinct full caption; its relevant pictures are every scene with that caption
(identical captions happen in a large scene list, and either picture is a right answer)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.world.files import upright_pixels

REPOSITORY = Path(__file__).resolve().parents[2]
WORLD_DATA = REPOSITORY / "tests/data/world"
CONFIG = WORLD_DATA / "pixsift-world-vit.json"
CHECKPOINT = WORLD_DATA / "pixsift-world-vit.safetensors"
#: Evaluation scenes: a seed no training run uses (training draws from its --seed, 0..).
EVAL_SEED = 20_261_206


@dataclass(frozen=True)
class Recall:
    queries: int
    r1: float
    r5: float

    def as_dict(self) -> dict[str, float]:
        return {"queries": self.queries, "r1": round(self.r1, 4), "r5": round(self.r5, 4)}


def read_manifest(folder: Path) -> list[dict[str, Any]]:
    with open(folder / "manifest.jsonl", encoding="utf-8") as manifest:
        return [json.loads(line) for line in manifest]


def queries_of(manifest: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    """Each distinct caption -> the file names of the scenes it describes."""
    relevant: dict[str, set[str]] = defaultdict(set)
    for entry in manifest:
        relevant[entry["caption"]].add(entry["file"])
    return dict(relevant)


def recall_from_rankings(rankings: dict[str, list[str]], relevant: dict[str, set[str]]) -> Recall:
    """R@1 and R@5 from each query's top file names."""
    first = [bool(set(rankings[q][:1]) & relevant[q]) for q in relevant]
    five = [bool(set(rankings[q][:5]) & relevant[q]) for q in relevant]
    return Recall(len(relevant), float(np.mean(first)), float(np.mean(five)))


# The reference ------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def reference_model(config: Path = CONFIG, checkpoint: Path = CHECKPOINT) -> tuple[Any, Any, Any]:
    """open_clip's own (model, eval transform, tokenizer) for the checkpoint."""
    import open_clip
    import torch

    open_clip.add_model_config(config)
    model, _, preprocess = open_clip.create_model_and_transforms(
        config.stem, pretrained=str(checkpoint), device=torch.device("cpu")
    )
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(config.stem)


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def reference_recall(folder: Path, config: Path = CONFIG, checkpoint: Path = CHECKPOINT) -> Recall:
    import torch

    model, preprocess, tokenizer = reference_model(config, checkpoint)
    manifest = read_manifest(folder)
    relevant = queries_of(manifest)
    names = [entry["file"] for entry in manifest]
    with torch.no_grad():
        images = torch.cat([
            model.encode_image(torch.stack([preprocess(upright_pixels(folder / n)) for n in chunk]))
            for chunk in _batched(names, 128)
        ])  # fmt: skip
        captions = list(relevant)
        texts = torch.cat([model.encode_text(tokenizer(list(c))) for c in _batched(captions, 256)])
    images = torch.nn.functional.normalize(images, dim=-1)
    texts = torch.nn.functional.normalize(texts, dim=-1)
    order = (texts @ images.T).topk(5, dim=1).indices.numpy()
    rankings = {c: [names[i] for i in order[row]] for row, c in enumerate(captions)}
    return recall_from_rankings(rankings, relevant)


# pixsift ----------------------------------------------------------------------------------


class InProcessDecodeStage:
    """Decodes in this process with the decode workers' own function (``decode_file``), for
    tests that change the decode path (the worker pool's spawned processes would not see it)."""

    def __init__(self, embedder: Any, options: Any) -> None:
        from pixsift.indexer import decoding

        self._decoding = decoding
        self.plan = decoding.initialise_decoder(embedder.preprocess, _min_side(embedder))
        decoding._initialise_worker(self.plan, None if self.plan else embedder.preprocess,
                                    _min_side(embedder))  # fmt: skip

    def decode_in_order(self, path_bytes_list: Iterable[bytes]) -> Iterator[Any]:
        return (self._decoding.decode_file(path) for path in path_bytes_list)

    def model_input(self, decoded: list[Any]) -> np.ndarray:
        return self._decoding.model_input(self.plan, decoded)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _min_side(embedder: Any) -> int:
    from pixsift.indexer.pipeline import _preprocess_size

    return _preprocess_size(embedder)


def pixsift_recall(
    folder: Path, library_directory: Path, embedder: Any, spec: Any, *, in_process: bool = False
) -> Recall:
    """Index ``folder`` into a new library with ``embedder``, then search every caption."""
    from pixsift.indexer.options import IndexingOptions
    from pixsift.indexer.pipeline import Indexer, local_decode_stage
    from pixsift.search.library import Library

    relevant = queries_of(read_manifest(folder))
    options = IndexingOptions(workers=1, tag=False, show_progress=False, index_videos=False)
    stage = InProcessDecodeStage if in_process else local_decode_stage
    with Library.open(library_directory, embedder=embedder, model_spec=spec) as library:
        Indexer(library, embedder, options, model_spec=spec, decode_stage=stage).index([folder])
        rankings = {
            caption: [Path(hit.image.absolute_path).name for hit in library.search(caption, k=5)]
            for caption in relevant
        }
    return recall_from_rankings(rankings, relevant)


def world_spec(config: Path = CONFIG, checkpoint: Path = CHECKPOINT) -> Any:
    """The committed world model as a user names it: --model CONFIG.json --pretrained FILE."""
    from pixsift.search.model.spec import requested_model_spec

    return requested_model_spec(str(config), str(checkpoint), None)


def load_world_embedder(backend: str, spec: Any = None, quantize: str | None = None) -> Any:
    from pixsift.search.model.loading import load_embedder
    from pixsift.search.model.spec import Runtime

    runtime = Runtime(backend=backend, quantize=quantize)  # type: ignore[arg-type]
    return load_embedder(spec or world_spec(), runtime)
