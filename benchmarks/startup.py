"""Start-up, whole commands as a user types them: one CLI text query, and re-indexing an unchanged
folder, for pixsift and (where ``/work/shared/peer-rclip.sh`` has set it up) rclip 3.3.0, runs
interleaved so machine load hits both alike. Wall time and the process tree's peak memory.

The folder is the peer script's corpus (300 seeded 1024x768 JPEGs) when present, else the same
images generated here; the model is random-weights ViT-B-32-256 for both tools.

    PEER_DIR=/tmp/peer bash /work/shared/peer-rclip.sh      # once, optional: rclip's side
    .venv/bin/python -m benchmarks.startup --runs 5 [--peer-dir /tmp/peer]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

from benchmarks.common import (
    RCLIP_MODEL_NAME,
    RCLIP_PREPROCESSING_TAG,
    WORK,
    checkpoint_path,
    generated_jpegs,
    print_table,
    run_measured,
    write_results,
)

QUERY = "a red circle on a blue background"
PIXSIFT = str(Path(sys.executable).with_name("pixsift"))


def peer_directory(given: str | None) -> Path:
    return Path(given or os.environ.get("PEER_DIR") or f"{os.environ.get('TMPDIR', '/tmp')}/peer")


def corpus(peer: Path, count: int) -> Path:
    """The peer's corpus when it has ``count`` images, else the same images generated here."""
    if len(list((peer / "corpus").glob("img_*.jpg"))) == count:
        return peer / "corpus"
    return generated_jpegs(count, WORK / f"jpegs-1024-{count}")


def pixsift_environment() -> dict[str, str]:
    # Towers exported once into the benchmark's own cache, not the user's.
    return {**os.environ, "PIXSIFT_CACHE_DIR": str(WORK / "cache"), "HF_HUB_OFFLINE": "1"}


def pixsift_model_args(model_name: str = RCLIP_MODEL_NAME) -> list[str]:
    tag = RCLIP_PREPROCESSING_TAG if model_name == RCLIP_MODEL_NAME else "laion2b_s34b_b79k"
    return [
        "--model",
        model_name,
        "--pretrained",
        str(checkpoint_path(model_name)),
        "--preprocessing-tag",
        tag,
    ]


def pixsift_index(folder: Path, library: Path, model_name: str = RCLIP_MODEL_NAME) -> list[str]:
    return [
        PIXSIFT,
        "index",
        str(folder),
        "--library",
        str(library),
        "--no-progress",
        *pixsift_model_args(model_name),
    ]


def rclip_command(peer: Path, *arguments: str) -> tuple[list[str], dict[str, str]] | None:
    """rclip's command line and environment, or None where the peer script has not run."""
    rclip = peer / "rclip-venv" / "bin" / "rclip"
    if not rclip.exists() or not (peer / "rclip-data").is_dir():
        return None
    environment = {**os.environ, "RCLIP_DATADIR": str(peer / "rclip-data"), "HF_HUB_OFFLINE": "1"}
    return [str(rclip), *arguments], environment


def prepared_pixsift_library(folder: Path) -> Path:
    """A library of ``folder`` indexed once (which also exports and caches the towers)."""
    library = WORK / "startup-library"
    if not (library / "index").exists():
        shutil.rmtree(library, ignore_errors=True)
        run_measured(pixsift_index(folder, library), env=pixsift_environment())
    return library


def summarise(name: str, runs: list[dict[str, float]]) -> dict[str, object]:
    walls = [run["wall_s"] for run in runs]
    return {
        "measure": name,
        "median_s": round(statistics.median(walls), 3),
        "runs_s": walls,
        "median_cpu_s": round(statistics.median(run["cpu_s"] for run in runs), 3),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "peak_pss_mib": max(run["peak_pss_mib"] for run in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--peer-dir", default=None)
    arguments = parser.parse_args()
    peer = peer_directory(arguments.peer_dir)
    folder = corpus(peer, arguments.images)
    library = prepared_pixsift_library(folder)
    environment = pixsift_environment()
    commands: dict[str, tuple[list[str], dict[str, str], Path | None]] = {
        "pixsift search (text)": (
            [PIXSIFT, "search", QUERY, "--library", str(library), "-k", "5"],
            environment,
            None,
        ),
        "pixsift index (unchanged)": (pixsift_index(folder, library), environment, None),
    }
    peer_query = rclip_command(peer, "-n", "-f", "-t", "5", QUERY)
    peer_noop = rclip_command(peer, "-f", "-t", "5", QUERY)
    if peer_query and peer_noop:
        run_measured(peer_noop[0], cwd=folder, env=peer_noop[1])  # rclip's own index, current
        commands["rclip query -n (text)"] = (*peer_query, folder)
        commands["rclip re-index (unchanged) + query"] = (*peer_noop, folder)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in commands}
    for _ in range(arguments.runs):
        for name, (command, env, cwd) in commands.items():
            results[name].append(run_measured(command, cwd=cwd, env=env))
    rows = [summarise(name, runs) for name, runs in results.items()]
    print_table(rows, ["measure", "median_s", "runs_s", "peak_rss_mib", "peak_pss_mib"])
    path = write_results(
        "startup",
        {
            "folder": str(folder),
            "images": arguments.images,
            "model": RCLIP_MODEL_NAME,
            "rows": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
