"""Several servers: two ``pixsift serve`` processes on different loopback ports, one PostgreSQL
database and one shared index directory. Both answer searches, and both see the images a writer
(an indexing run in another process) commits and publishes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest
from click.testing import CliRunner
from conftest import write_pictures
from test_web_serve import free_port, wait_for

from pixsift.cli.main import main
from pixsift.search.model.spec import ModelSpec

SEE_SECONDS = 60


def get_json(url: str) -> dict:
    with urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def index(folder: Path, library: Path, database_url: str, spec: ModelSpec) -> None:
    arguments = [
        "index", str(folder), "--library", str(library), "--database-url", database_url,
        "--workers", "1", "--no-progress", "--model", spec.model_name,
        "--pretrained", spec.pretrained,
    ]  # fmt: skip
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output


def result_paths(base: str) -> set[str]:
    body = get_json(f"{base}/api/search?q=shapes&k=50")
    return {result["path"] for result in body["results"]}


@pytest.mark.postgresql
def test_two_servers_share_one_database_and_index_directory(
    postgres_url: str, tmp_path: Path, tiny_spec: ModelSpec
) -> None:
    library = tmp_path / "library"
    first, later = tmp_path / "first", tmp_path / "later"
    write_pictures(first, 6)
    write_pictures(later, 4, first_seed=50)  # other names: picture-0050.png...
    index(first, library, postgres_url, tiny_spec)  # also exports the model's ONNX towers
    servers = []
    for _ in range(2):
        port = free_port()
        command = [
            sys.executable, "-c", "from pixsift.cli.main import main; main()", "serve",
            "--library", str(library), "--database-url", postgres_url,
            "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        servers.append((f"http://127.0.0.1:{port}", process))
    try:
        for base, process in servers:
            wait_for(f"{base}/api/health", process)
            assert get_json(f"{base}/api/stats")["image_count"] == 6
            assert result_paths(base) == {path.name for path in first.iterdir()}
        index(later, library, postgres_url, tiny_spec)  # the writer commits and publishes
        expected = {path.name for folder in (first, later) for path in folder.iterdir()}
        for base, _process in servers:
            deadline = time.monotonic() + SEE_SECONDS
            while result_paths(base) != expected and time.monotonic() < deadline:
                time.sleep(0.2)
            assert result_paths(base) == expected
            stats = get_json(f"{base}/api/stats")
            assert stats["image_count"] == 10 and stats["index_type"] != "none"
    finally:
        for _base, process in servers:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
