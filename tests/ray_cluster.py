"""A real local Ray cluster for tests: a head node and a second worker node, each its own
``ray start --block`` process group with one CPU, bound to 127.0.0.1, in a private temp dir.

Teardown ends only this cluster's processes (never ``ray stop``, which would stop every Ray
process on the machine): those in the two process groups and any left holding the temp dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from waiting import wait_until

#: Runs at the start of every Python process of the cluster: Ray workers register the tiny test
#: model's open_clip config (the driver registers its own) and may be slowed down per file, so
#: that a test can kill something mid-run.
SITECUSTOMIZE = """
import os, sys
if "default_worker.py" in " ".join(sys.argv):
    config = os.environ.get("PIXSIFT_TEST_OPEN_CLIP_CONFIG")
    if config:
        import open_clip
        open_clip.add_model_config(config)
    delay = float(os.environ.get("PIXSIFT_TEST_DECODE_DELAY", "0"))
    if delay:
        import time
        import pixsift.indexer.decoding as decoding
        original = decoding.decode_file
        def slow_decode_file(path_bytes):
            time.sleep(delay)
            return original(path_bytes)
        decoding.decode_file = slow_decode_file
"""
#: Ray's command line, run by this interpreter (its ``ray`` script need not sit beside it).
RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]


@dataclass
class RayTestCluster:
    address: str
    temp_dir: Path
    processes: list[subprocess.Popen]
    environment: dict[str, str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def local_ray_cluster(
    model_config: Path, cache: Path, decode_delay: float
) -> Iterator[RayTestCluster]:
    # Unix socket paths must stay short: a short directory under /tmp, not pytest's tmp_path.
    temp_dir = Path(tempfile.mkdtemp(prefix="pxr", dir="/tmp"))
    hooks = temp_dir / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    environment = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
        "PIXSIFT_TEST_OPEN_CLIP_CONFIG": str(model_config),
        "PIXSIFT_TEST_DECODE_DELAY": str(decode_delay),
        "PIXSIFT_CACHE_DIR": str(cache),
        "PIXSIFT_BACKEND": "torch",  # the same towers as the local run the test compares with
        "RAY_USAGE_STATS_ENABLED": "0",
        # A private loopback cluster: no token (else a token in ~/.ray, left by any earlier
        # local ray.init(), turns token auth on for some processes and not others).
        "RAY_AUTH_MODE": "disabled",
    }
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = [
        "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--object-store-memory",
        str(100 * 1024 * 1024), "--temp-dir", str(temp_dir), "--disable-usage-stats", "--block",
    ]  # fmt: skip
    commands = [
        [*RAY_CLI, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
        [*RAY_CLI, "start", "--address", address, *common],
    ]
    processes: list[subprocess.Popen] = []
    cluster = RayTestCluster(address, temp_dir, processes, environment)
    try:
        for command in commands:
            log = (temp_dir / f"start-{len(processes)}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    command, env=environment, stdout=log, stderr=log, start_new_session=True
                )
            )
            if len(processes) == 1:
                # The head is up once its GCS port answers: a socket, not a `ray status` process
                # (each of those costs seconds of Python start-up on a loaded machine).
                wait_until(lambda: accepts_connections(port), processes[0], "Ray head's port")
        wait_for_nodes(cluster, len(processes))
        yield cluster
    finally:
        stop(cluster)


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        time.sleep(0.1)
        return False
    return True


def wait_for_nodes(cluster: RayTestCluster, count: int) -> None:
    """Wait, as long as the nodes' start-up makes progress, until ``count`` CPUs have joined."""

    def joined() -> bool:
        for process in cluster.processes:
            if process.poll() is not None:
                logs = "".join(path.read_text() for path in cluster.temp_dir.glob("start-*.log"))
                raise RuntimeError(f"ray start exited {process.returncode}:\n{logs[-3000:]}")
        status = subprocess.run(
            [*RAY_CLI, "status", "--address", cluster.address],
            env=cluster.environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if status.returncode == 0 and f"{count}.0 CPU" in status.stdout.replace("0.0/", ""):
            return True
        time.sleep(0.5)
        return False

    wait_until(joined, cluster.processes[-1], f"{count} Ray nodes")


def stop(cluster: RayTestCluster) -> None:
    groups = {process.pid for process in cluster.processes}
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        pids = own_pids(groups, cluster.temp_dir)
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal_number)
        deadline = time.monotonic() + 3
        while own_pids(groups, cluster.temp_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
    for process in cluster.processes:
        process.wait(timeout=10)
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)


def own_pids(groups: set[int], temp_dir: Path) -> list[int]:
    """Processes of this cluster: in its start processes' sessions, or naming its temp dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            session = os.getsid(int(entry.name))
            command_line = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and (session in groups or str(temp_dir).encode() in command_line):
            found.append(int(entry.name))
    return found
