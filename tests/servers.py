"""Real ``pixsift serve`` processes for tests: started on a free loopback port, waited for with a
bound, stopped with SIGTERM however the test ends."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

from waiting import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningServer:
    port: int
    process: subprocess.Popen[bytes]
    output: bytes = b""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


@contextlib.contextmanager
def running_server(
    library: Path,
    *arguments: str,
    environment: Mapping[str, str] | None = None,
    workers: int = 1,
    model_config_directory: Path | None = None,
) -> Iterator[RunningServer]:
    """``model_config_directory``: open_clip model configs to register first (the tiny test
    model), so the workers can load the library's model."""
    port = free_port()
    preamble = (
        f"import open_clip; open_clip.add_model_config({str(model_config_directory)!r}); "
        if model_config_directory is not None
        else ""
    )
    command = [
        sys.executable, "-c", preamble + "from pixsift.cli.main import main; main()", "serve",
        "--library", str(library), "--port", str(port), "--workers", str(workers), *arguments,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(environment or {})},
    )
    server = RunningServer(port, process)
    try:
        wait_until_up(f"{server.base}/api/health", process)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            server.output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            server.output = process.communicate()[0]


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    def answered() -> bool:
        try:
            with urlopen(url, timeout=5) as response:
                response.read()
                return True
        except HTTPError:
            return True  # it answers (a refusal is an answer: the test decides what it expects)
        except (URLError, OSError):
            # Refused, or accepted but not answered yet (a worker still loading its model).
            time.sleep(0.2)
            return False

    # As long as its start-up makes progress (a loaded machine), failing if it exits or stalls.
    try:
        wait_until(answered, process, f"answer from {url}")
    except AssertionError as error:
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0].decode(errors="replace")) from error
        raise
