"""Shared benchmark helpers: the random-weights ViT-B-32 checkpoint, timing, RSS, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
WORK = RESULTS / "work"
MODEL_NAME = "ViT-B-32"
PREPROCESSING_TAG = "laion2b_s34b_b79k"
#: The architecture rclip 3.3.0 runs (its datacomp weights' preprocessing).
RCLIP_MODEL_NAME = "ViT-B-32-256"
RCLIP_PREPROCESSING_TAG = "datacomp_s34b_b86k"


def checkpoint_path(model_name: str = MODEL_NAME) -> Path:
    """``model_name`` with seeded random weights, saved once: same compute as the real model."""
    path = WORK / f"{model_name.lower()}-random.pt"
    if not path.exists():
        import open_clip
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model = open_clip.create_model(model_name, pretrained=None)
        torch.save(model.state_dict(), path)
    return path


def load_embedder():
    import torch

    from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder

    spec = ModelSpec(MODEL_NAME, str(checkpoint_path()), PREPROCESSING_TAG)
    return OpenClipEmbedder.load(spec, device=torch.device("cpu")), spec


def load_served_embedder(threads: int | None = 1):
    """The towers ``pixsift serve`` runs by default (PIXSIFT_BACKEND, default auto: ONNX Runtime
    on a CPU) with one thread, as each of the default two server workers gets on 2 cores."""
    from pixsift.search.model.loading import load_embedder as load_towers
    from pixsift.search.model.loading import runtime_from_settings
    from pixsift.search.model.spec import ModelSpec

    os.environ.setdefault("PIXSIFT_CACHE_DIR", str(WORK / "cache"))
    spec = ModelSpec(MODEL_NAME, str(checkpoint_path()), PREPROCESSING_TAG)
    runtime = replace(runtime_from_settings(), threads=threads)
    return load_towers(spec, runtime), spec


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


def _tree_pids(root: int) -> list[int]:
    """``root`` and its descendants, from /proc (children of every thread)."""
    pids, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                frontier += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return pids


def _rss_kib(pid: int) -> int:
    """RSS of one process in KiB, from /proc/PID/statm (cheap: no page-table walk)."""
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _pss_kib(pid: int) -> int:
    """PSS of one process in KiB (shared pages counted once between the processes that map
    them). Reading it walks the process's page tables, so it is sampled sparingly."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Run ``command`` to completion: wall seconds and the process tree's peak memory: RSS summed
    over the processes, sampled every 50 ms, and PSS (shared pages counted once) every 500 ms,
    since reading PSS walks page tables and would slow the command it measures."""
    peak = {"rss": 0, "pss": 0}
    # CPU seconds of the command and the children it waited for (decode workers): a figure that
    # other work on a shared machine inflates far less than wall time. Valid as long as this
    # process runs one measured command at a time.
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    done = threading.Event()

    def sample() -> None:
        samples = 0
        while not done.is_set():
            pids = _tree_pids(process.pid)
            peak["rss"] = max(peak["rss"], sum(_rss_kib(pid) for pid in pids))
            if samples % 10 == 0:
                peak["pss"] = max(peak["pss"], sum(_pss_kib(pid) for pid in pids))
            samples += 1
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(
            f"{command[:3]} failed ({process.returncode}): {stderr.decode()[-2000:]}"
        )
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(
            children_after.ru_utime
            + children_after.ru_stime
            - children_before.ru_utime
            - children_before.ru_stime,
            3,
        ),
        "peak_rss_mib": round(peak["rss"] / 1024, 1),
        "peak_pss_mib": round(peak["pss"] / 1024, 1),
        "stdout": stdout.decode(errors="replace")[-500:],
    }


def generated_jpegs(count: int, folder: Path) -> Path:
    """``count`` seeded 1024x768 JPEGs (gradient, grain and shapes), as the rclip peer script
    makes them; kept between runs."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    width, height = 1024, 768
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for number in range(count):
        path = folder / f"img_{number:04d}.jpg"
        if path.exists():
            continue
        rng = np.random.default_rng(1000 + number)
        first, second = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
        ramp = ((ramp - ramp.min()) / (ramp.max() - ramp.min()))[..., None]
        pixels = first * (1 - ramp) + second * ramp + rng.normal(0, 6, (height, width, 1))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(5, 25))):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            box = [x0, y0, x0 + int(rng.integers(20, 400)), y0 + int(rng.integers(20, 300))]
            draw.rectangle(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        image.save(path, "JPEG", quality=90)
    return folder
