"""`pixsift index --ray ADDRESS` where nothing listens: one line and exit status 1 within the
connection time limit, instead of Ray's "Failed to connect to GCS" warnings forever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from postgres_server import free_port

pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixsift[ray]'")
from pixsift.indexer.distributed import ray_endpoint
from pixsift.search.errors import InvalidInputError

#: Only a bound for a hang (without the limit the command never ends); the command itself gives
#: up after CONNECT_SECONDS, the rest is its start-up on a loaded machine.
HANG_SECONDS = 300
CONNECT_SECONDS = 2


def test_index_on_a_closed_ray_port_fails_in_one_line(tmp_path: Path) -> None:
    port = free_port()  # bound, then closed: nothing listens there
    command = [
        sys.executable, "-c", "from pixsift.cli.main import main; main()", "index", str(tmp_path),
        "--library", str(tmp_path / "library"), "--no-progress", "--ray", f"127.0.0.1:{port}",
    ]  # fmt: skip
    environment = {**os.environ, "PIXSIFT_RAY_CONNECT_TIMEOUT": str(CONNECT_SECONDS)}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=HANG_SECONDS, env=environment
    )
    output = (completed.stdout + completed.stderr).strip().splitlines()
    assert completed.returncode == 1, output
    assert output == [
        f"Error: cannot reach the Ray cluster at 127.0.0.1:{port}: nothing accepted a "
        f"connection within {CONNECT_SECONDS} s (Connection refused)"
    ]


def test_ray_addresses_name_the_endpoint_to_wait_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_endpoint("10.0.0.5:6380") == ("10.0.0.5", 6380)
    assert ray_endpoint("headnode") == ("headnode", 6379)
    assert ray_endpoint("ray://headnode") == ("headnode", 10001)
    assert ray_endpoint("ray://[::1]:10002") == ("::1", 10002)
    assert ray_endpoint("auto") is None  # Ray starts a local cluster: nothing to wait for
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:7000")
    assert ray_endpoint("auto") == ("127.0.0.1", 7000)
    with pytest.raises(InvalidInputError):
        ray_endpoint("host:notaport")
