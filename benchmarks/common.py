"""Shared benchmark helpers: the random-weights ViT-B-32 checkpoint, timing, RSS, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
WORK = RESULTS / "work"
MODEL_NAME = "ViT-B-32"
PREPROCESSING_TAG = "laion2b_s34b_b79k"


def checkpoint_path() -> Path:
    """ViT-B-32 with seeded random weights, saved once: same compute as the real model."""
    path = WORK / "vit-b-32-random.pt"
    if not path.exists():
        import open_clip
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model = open_clip.create_model(MODEL_NAME, pretrained=None)
        torch.save(model.state_dict(), path)
    return path


def load_embedder():
    import torch

    from search.model.embedder import ModelSpec, OpenClipEmbedder

    spec = ModelSpec(MODEL_NAME, str(checkpoint_path()), PREPROCESSING_TAG)
    return OpenClipEmbedder.load(spec, device=torch.device("cpu")), spec


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values_ms: list[float]) -> dict[str, float]:
    array = np.asarray(values_ms)
    return {f"p{p}": round(float(np.percentile(array, p)), 2) for p in (50, 95, 99)} | {
        "mean": round(float(array.mean()), 2)
    }


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        # Other work on the machine skews timings: record how busy it was.
        "load_average_1_5_15": os.getloadavg(),
    }


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    return path


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(
            " | ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        )
