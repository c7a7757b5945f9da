"""Candidate default models side by side on this CPU, at random weights (the speed of a tower does
not depend on its weights): per-image embedding time and one text query's time, torch and ONNX
Runtime (towers exported by pixsift's own exporter, with its agreement check against torch),
measured interleaved in one run so that the machine's load hits every model alike.

    nice .venv/bin/python -m benchmarks.model_speed                # JSON: results/model_speed.json
    nice .venv/bin/python -m benchmarks.model_speed --models ViT-B-32 --rounds 2

SigLIP's Gemma / T5 tokenizers are not on the hub here (Gemma's is checked on its own, from an npm
bundle: benchmarks/siglip2_tokenizer.py): those models' text queries run on token ids of the
model's full context (64; a SigLIP text tower is bidirectional and reads the last
position, so it always runs the whole context, whatever the text). CLIP models run pixsift's
real-tokens-only path on their own tokenizer. Tokenizing itself (well under a millisecond) is not
in the text figures, for either.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import percentiles, print_table, write_results

#: (open_clip model, the published tag a user would pick).
CANDIDATES = (
    ("ViT-B-32", "laion2b_s34b_b79k"),
    ("ViT-B-32-SigLIP2-256", "webli"),
    ("ViT-B-16-SigLIP2", "webli"),
    ("ViT-B-16", "laion2b_s34b_b88k"),
    ("MobileCLIP2-S0", "dfndr2b"),
    ("MobileCLIP-S1", "datacompdr"),
)
QUERY = "a red bicycle leaning on a wall next to a green door"
BATCH = 8
BACKENDS = ("torch", "onnx", "onnx-int8")


class ContextIds:
    """A stand-in for a tokenizer that cannot be downloaded: ``QUERY``-length ids, end token,
    padding to the full context (the shape SigLIP's tokenizer gives every text)."""

    def __init__(self, context_length: int, vocab_size: int) -> None:
        self.context_length, self.vocab_size = context_length, vocab_size

    def __call__(self, texts: Any) -> Any:
        import torch

        texts = [texts] if isinstance(texts, str) else list(texts)
        rows = torch.zeros((len(texts), self.context_length), dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [2 + (hash(word) % (self.vocab_size - 2)) for word in text.split()]
            ids = [*ids[: self.context_length - 1], 1]
            rows[row, : len(ids)] = torch.tensor(ids)
        return rows


def build(
    name: str, tag: str, work: Path, threads: int, onnx: bool, int8: bool = False
) -> dict[str, Any]:
    """torch and (with ``onnx``) ONNX embedders of ``name`` at seeded random weights, with the
    published preprocessing of ``tag``; with ``int8`` also its int8 towers (what "auto" gives a
    new library when their image agreement passes search.library_model's floor)."""
    import open_clip
    import torch

    from pixsift.search.model.embedder import OpenClipEmbedder
    from pixsift.search.model.export import export_towers
    from pixsift.search.model.int8 import derive_int8_towers
    from pixsift.search.model.ort import OnnxEmbedder

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
    text_cfg = open_clip.get_model_config(name)["text_cfg"]
    tokenizer: Any = (
        ContextIds(int(text_cfg["context_length"]), int(text_cfg["vocab_size"]))
        if text_cfg.get("hf_tokenizer_name") or "siglip" in name.lower()
        else open_clip.get_tokenizer(name)
    )
    embedder = OpenClipEmbedder(model, preprocess, tokenizer, f"{name}:{tag}", torch.device("cpu"))
    parameters = sum(p.numel() for p in model.parameters())
    meta = {"model": name, "pretrained": tag, "parameters_m": round(parameters / 1e6, 1),
            "image_size": embedder.image_size, "dimension": embedder.dimension,
            "text_path": "real_tokens" if embedder.uses_fast_text_path else "full"}  # fmt: skip
    if not onnx:
        return {"torch": embedder, "meta": meta}
    started = time.perf_counter()
    info = export_towers(embedder, work / name)
    export_s = time.perf_counter() - started
    towers = OnnxEmbedder(work / name, info, preprocess, tokenizer, threads=threads)
    folder_mb = sum(f.stat().st_size for f in (work / name).iterdir()) / 1e6
    meta |= {"onnx_agreement": info.agreement,
             "export_s": round(export_s, 1), "onnx_mb": round(folder_mb)}  # fmt: skip
    parts = {"torch": embedder, "onnx": towers, "meta": meta}
    if int8:
        started = time.perf_counter()
        info8 = derive_int8_towers(towers, work / f"{name}-int8")
        meta |= {"int8_agreement": info8.agreement,
                 "int8_export_s": round(time.perf_counter() - started, 1)}  # fmt: skip
        parts["onnx-int8"] = OnnxEmbedder(
            work / f"{name}-int8", info8, preprocess, tokenizer, threads=threads
        )
    return parts


def measure(models: dict[str, dict[str, Any]], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per model and backend: per-image ms (batches of BATCH) and one query's ms, interleaved."""
    times: dict[str, dict[str, list[float]]] = {
        f"{name}/{backend}": {"image_ms": [], "text_ms": []}
        for name, parts in models.items()
        for backend in BACKENDS
        if backend in parts
    }
    rng = np.random.default_rng(0)
    pixels = {
        name: rng.standard_normal((BATCH, 3, size, size)).astype(np.float32)
        for name, size in ((n, m["meta"]["image_size"]) for n, m in models.items())
    }
    for _ in range(rounds):
        for name, parts in models.items():
            for backend in (b for b in BACKENDS if b in parts):
                embedder, slot = parts[backend], times[f"{name}/{backend}"]
                started = time.perf_counter()
                embedder.embed_pixel_batch(pixels[name])
                slot["image_ms"].append((time.perf_counter() - started) * 1000 / BATCH)
                for _ in range(5):
                    started = time.perf_counter()
                    embedder._encode_texts([QUERY])  # the model, not the query cache
                    slot["text_ms"].append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="open_clip names (default: the candidates)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-onnx", action="store_true", help="torch only (no export)")
    parser.add_argument("--int8", action="store_true", help="also the int8 towers")
    parser.add_argument("--name", default="model_speed", help="results/NAME.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    chosen = [c for c in CANDIDATES if not args.models or c[0] in args.models]
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="model-speed-") as work:
        models = {
            name: build(name, tag, Path(work), args.threads, not args.no_onnx, args.int8)
            for name, tag in chosen
        }
        gc.collect()
        times = measure(models, args.rounds)
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    for name, parts in models.items():
        for backend in (b for b in BACKENDS if b in parts):
            slot = times[f"{name}/{backend}"]
            rows.append(
                {
                    **parts["meta"],
                    "backend": backend,
                    "image_ms_p50": percentiles(slot["image_ms"])["p50"],
                    "text_ms_p50": percentiles(slot["text_ms"])["p50"],
                    "text_ms_p95": percentiles(slot["text_ms"])["p95"],
                }
            )
    columns = ["model", "backend", "parameters_m", "image_size", "text_path", "image_ms_p50",
               "text_ms_p50", "text_ms_p95", "export_s", "int8_agreement"]  # fmt: skip
    print_table(rows, columns)
    print(uptime_before, "|", uptime_after)
    payload = {"threads": args.threads, "rounds": args.rounds, "batch": BATCH, "rows": rows,
               "uptime_before": uptime_before, "uptime_after": uptime_after}  # fmt: skip
    print(write_results(args.name, payload))


if __name__ == "__main__":
    main()
