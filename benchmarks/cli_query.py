"""One CLI text query as a user types it, side by side: this checkout's ``pixsift search``, an
earlier checkout's (``--baseline DIR``, e.g. ``git archive`` of the commit before), and rclip
3.3.0 where ``/work/shared/peer-rclip.sh`` set it up, interleaved run by run so that machine
load hits all alike. Wall time and the process tree's peak RSS. Same folder (the peer's corpus),
same architecture (random-weights ViT-B-32-256), towers cached for every tool.

The baseline's library is indexed by the baseline itself; this checkout queries a copy of it
(it may add migrations the baseline does not know, so they must not share one file).

    bash /work/shared/peer-rclip.sh                      # once: rclip and its corpus
    git archive HEAD~5 | tar -x -C /tmp/before           # the checkout to compare with
    nice .venv/bin/python -m benchmarks.cli_query --baseline /tmp/before --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
from pathlib import Path

from benchmarks.common import WORK, print_table, run_measured, write_results
from benchmarks.startup import (
    QUERY,
    corpus,
    peer_directory,
    pixsift_environment,
    pixsift_model_args,
    rclip_command,
)

#: The console script's body, run from a checkout's folder (the folder comes first on sys.path).
CLI = "import sys; sys.argv[0] = 'pixsift'; from pixsift.cli.main import run; run()"


def pixsift(checkout: Path, *arguments: str) -> tuple[list[str], Path]:
    return [sys.executable, "-c", CLI, *arguments], importable(checkout)


def importable(checkout: Path) -> Path:
    """A folder from which ``import pixsift.cli`` loads ``checkout``'s code. The source folders
    install as pixsift.search, pixsift.cli, ... (setup.py's package_dir), so a plain checkout
    has no ``pixsift`` folder: link one beside it (this checkout's own editable install needs
    none)."""
    here = Path(__file__).resolve().parents[1]
    if checkout.resolve() == here or (checkout / "pixsift").is_dir():
        return checkout
    digest = hashlib.sha256(str(checkout.resolve()).encode()).hexdigest()[:12]
    shim = WORK / f"importable-{digest}"
    package = shim / "pixsift"
    package.mkdir(parents=True, exist_ok=True)
    for name in ("cli", "search", "indexer", "web", "migrations"):
        link = package / name
        if not link.exists():
            link.symlink_to(checkout.resolve() / name, target_is_directory=True)
    return shim


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout's folder")
    parser.add_argument("--peer-dir")
    parser.add_argument(
        "--baseline-cache", type=Path,
        help="the baseline's own towers cache (e.g. a `cp -al` of the cache made before a change "
        "to how towers are written); default: the one this checkout uses",
    )  # fmt: skip
    arguments = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    peer = peer_directory(arguments.peer_dir)
    folder = corpus(peer, arguments.images)
    environment = pixsift_environment()
    builder = arguments.baseline or here
    baseline_environment = (
        {**environment, "PIXSIFT_CACHE_DIR": str(arguments.baseline_cache)}
        if arguments.baseline and arguments.baseline_cache
        else environment
    )
    base_library = WORK / f"cli-query-{arguments.images}-base"
    if not (base_library / "index").exists():
        shutil.rmtree(base_library, ignore_errors=True)
        command, cwd = pixsift(
            builder, "index", str(folder), "--library", str(base_library), "--no-progress",
            "--no-tags", *pixsift_model_args(),
        )  # fmt: skip
        run_measured(command, cwd=cwd, env=baseline_environment)
    libraries = {"pixsift (this checkout)": (here, WORK / f"cli-query-{arguments.images}-here")}
    built = {base_library}
    if arguments.baseline:
        libraries["pixsift (baseline)"] = (arguments.baseline, base_library)
        # A library this checkout makes itself, as its defaults make a new one (int8 on a CPU).
        own = WORK / f"cli-query-{arguments.images}-own"
        shutil.rmtree(own, ignore_errors=True)
        command, cwd = pixsift(here, "index", str(folder), "--library", str(own), "--no-progress",
                               "--no-tags", *pixsift_model_args())  # fmt: skip
        run_measured(command, cwd=cwd, env=environment)
        libraries["pixsift (this checkout, a library it made)"] = (here, own)
        built.add(own)
    commands: dict[str, tuple[list[str], Path, dict[str, str]]] = {}
    for name, (checkout, library) in libraries.items():
        if library not in built:  # a copy of the baseline's library
            shutil.rmtree(library, ignore_errors=True)
            shutil.copytree(base_library, library)
        command, cwd = pixsift(checkout, "search", QUERY, "--library", str(library), "-k", "5")
        env = baseline_environment if checkout == arguments.baseline else environment
        run_measured(command, cwd=cwd, env=env)  # migrates a copy once, fills caches
        commands[name] = (command, cwd, env)
    peer_query = rclip_command(peer, "-n", "-f", "-t", "5", QUERY)
    if peer_query:
        run_measured(peer_query[0], cwd=folder, env=peer_query[1])
        commands["rclip query -n"] = (peer_query[0], folder, peer_query[1])
    runs: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = dict.fromkeys(commands, 0.0)
    loads = [load_average()]
    for _ in range(arguments.runs):
        for name, (command, cwd, env) in commands.items():
            measured = run_measured(command, cwd=cwd, env=env)
            runs[name].append(round(measured["wall_s"], 3))
            cpu[name].append(measured["cpu_s"])
            peaks[name] = max(peaks[name], measured["peak_rss_mib"])
        loads.append(load_average())
    rows = [
        {
            "command": name,
            "median_s": round(statistics.median(walls), 3),
            "runs_s": walls,
            "median_cpu_s": round(statistics.median(cpu[name]), 3),
            "cpu_runs_s": cpu[name],
            "peak_rss_mib": round(peaks[name]),
        }
        for name, walls in runs.items()
    ]
    print_table(
        rows, ["command", "median_s", "median_cpu_s", "runs_s", "cpu_runs_s", "peak_rss_mib"]
    )
    print(f"load average (1 min) during the runs: {loads}")
    path = write_results(
        "cli_query",
        {"folder": str(folder), "query": QUERY, "rows": rows, "load_averages": loads},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
