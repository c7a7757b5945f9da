"""``pixsift serve`` for real: gunicorn workers answering on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0].decode(errors="replace")
        try:
            with urlopen(url, timeout=5) as response:
                return response.read()
        except (URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {START_SECONDS} s")


def test_serve_runs_gunicorn_workers_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from cli.main import main; main()",
        "serve",
        "--library",
        str(tmp_path / "library"),
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    environment = {**os.environ, "PIXSIFT_SECRET_KEY": ""}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert json.loads(wait_for(f"{base}/api/health", process)) == {"status": "ok"}
        stats = json.loads(wait_for(f"{base}/api/stats", process))
        assert stats["image_count"] == 0
        assert b"pixsift index" in wait_for(f"{base}/", process)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode(errors="replace")
    assert "Booting worker" in output and output.count("Booting worker") == 2
    assert f"127.0.0.1:{port}" in output
