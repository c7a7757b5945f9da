"""Tagging and OCR times.

Tagging, two ways (no real weights can be downloaded here, so every tag below is meaningless;
the point is the mechanism and its speed):

* ``index``: the whole openclipart-png library (apt-get install openclipart-png, ~8,000 PNGs)
  indexed with the tests' tiny open_clip model (random weights, 64-d), then ``recompute`` timed
  (label embeddings cold, then cached) and the tags of five pictures printed.
* ``vectors``: as many random 512-d vectors bulk-imported under ViT-B-32 (random weights, the
  default architecture), tagged with ViT-B-32's own ensembled label embeddings: the realistic
  matrix size and the one-off label cost.

OCR: rendered test words (several sizes, small angles), the time per image and the words found.

    nice -n 5 .venv/bin/python -m benchmarks.tagging [index|vectors|ocr]...
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import WORK, checkpoint_path, write_results

OPENCLIPART = Path("/usr/share/openclipart/png")
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def tiny_embedder(directory: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import torch
    from conftest import TINY_MODEL_NAME, register_tiny_model, write_tiny_checkpoint

    from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder

    register_tiny_model(directory / "config")
    checkpoint = write_tiny_checkpoint(directory / "tiny.pt", seed=0)
    spec = ModelSpec(model_name=TINY_MODEL_NAME, pretrained=str(checkpoint))
    return OpenClipEmbedder.load(spec, device=torch.device("cpu"))


def bench_index() -> dict:
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.library import Library
    from pixsift.search.storage.tags import tags_of
    from pixsift.search.tags.service import LibraryTags

    work = WORK / "tags-openclipart"
    work.mkdir(parents=True, exist_ok=True)
    os.environ["PIXSIFT_CACHE_DIR"] = str(work / "cache")
    embedder = tiny_embedder(work)
    library = Library.open(work / "library", embedder=embedder)
    options = IndexingOptions(workers=2, show_progress=False, tag=False)
    started = time.perf_counter()
    summary = Indexer(library, embedder, options).index([OPENCLIPART])
    indexing = time.perf_counter() - started
    service = LibraryTags(library)
    cold = service.recompute()
    warm = service.recompute()
    model_id = library.store.model_id() or ""
    # Five tagged pictures, spread over the library (most pictures carry no tag: see the counts).
    with library.store.session() as session:
        tagged = sorted(tags_of(session, library.store.all_embeddings(model_id)[0].tolist()))
    picked = tagged[:: max(1, len(tagged) // 5)][:5]
    shown = {
        library.image(i).relative_path: [t for t, _ in service.of_image(i).tags] for i in picked
    }
    return {
        "images": cold.images,
        "indexing_seconds": round(indexing, 1),
        "indexed": summary.added,
        "first_recompute": vars(cold),
        "second_recompute": vars(warm),
        "tags_of_five": shown,
        "most_used_tags": [vars(count) for count in service.counts()[:10]],
        "note": "tiny model, random weights: the tags are meaningless",
    }


def bench_vectors(count: int = 8121) -> dict:
    from pixsift.search.library import Library
    from pixsift.search.model.loading import load_embedder
    from pixsift.search.model.spec import ModelSpec
    from pixsift.search.tags.service import LibraryTags

    os.environ.setdefault("PIXSIFT_BACKEND", "torch")
    spec = ModelSpec(model_name="ViT-B-32", pretrained=str(checkpoint_path()))
    embedder = load_embedder(spec)
    directory = Path(tempfile.mkdtemp(prefix="tags-vectors-"))
    os.environ["PIXSIFT_CACHE_DIR"] = str(WORK / "tags-cache")
    library = Library.open(directory, embedder=embedder)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(count, embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    library.import_vectors(vectors, model_id=embedder.model_id)
    service = LibraryTags(library)
    cold = service.recompute()
    warm = service.recompute()
    return {"images": count, "first_recompute": vars(cold), "second_recompute": vars(warm)}


def bench_ocr() -> dict:
    from PIL import Image, ImageDraw, ImageFont

    from pixsift.indexer.ocr_engine import limit_engine_threads, recognise_file

    limit_engine_threads()
    samples = [
        ("HARBOUR MARKET", 44, 0), ("pineapple delivery tuesday", 30, 3),
        ("MIDNIGHT CONCERT", 56, -4), ("library closed today", 22, 0),
        ("Fresh bread every morning", 36, 2), ("EXIT", 90, -2),
        ("Platform 9 departures", 28, 5), ("please do not feed the ducks", 24, -3),
    ]  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="ocr-"))
    rows = []
    for index, (words, size, angle) in enumerate(samples):
        font = ImageFont.truetype(str(FONT), size)
        picture = Image.new("RGB", (int(font.getlength(words)) + 80, size * 3), "white")
        ImageDraw.Draw(picture).text((40, size), words, font=font, fill="black")
        picture = picture.rotate(angle, expand=True, fillcolor="white")
        path = folder / f"{index}.png"
        picture.save(path)
        started = time.perf_counter()
        found = recognise_file(os.fsencode(path))
        rows.append(
            {
                "rendered": words, "size": size, "angle": angle, "found": found.text,
                "failure": found.failure, "seconds": round(time.perf_counter() - started, 3),
            }
        )  # fmt: skip
    seconds = [row["seconds"] for row in rows]
    return {"per_image_seconds_median": float(np.median(seconds)), "images": rows}


def main() -> None:
    wanted = sys.argv[1:] or ["ocr", "vectors", "index"]
    results = {}
    for name in wanted:
        results[name] = {"index": bench_index, "vectors": bench_vectors, "ocr": bench_ocr}[name]()
        print(json.dumps({name: results[name]}, indent=2))
    print("load average:", os.getloadavg())
    write_results("tagging_" + "_".join(wanted), {**results, "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
