"""``pixsift serve`` for real: gunicorn workers answering on a free loopback port."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

from waiting import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen[bytes]) -> bytes:
    """The body of ``url`` once the server answers; it may take as long as its start-up makes
    progress (a loaded machine), and fails when the server exits or stalls."""
    body: list[bytes] = []

    def answered() -> bool:
        try:
            with urlopen(url, timeout=5) as response:
                body.append(response.read())
                return True
        except OSError:  # URLError, a refusal, or a read timing out
            # gunicorn's master listens before its worker is up: a connection is accepted but
            # not answered while the worker starts (for longer than the 5 s read timeout on a
            # loaded machine), and the read's TimeoutError is neither URLError nor ConnectionError.
            time.sleep(0.2)
            return False

    try:
        wait_until(answered, process, f"answer from {url}")
    except AssertionError as error:
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0].decode(errors="replace")) from error
        raise
    return body[0]


def test_serve_runs_gunicorn_workers_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from pixsift.cli.main import main; main()",
        "serve",
        "--library",
        str(tmp_path / "library"),
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    environment = dict(os.environ)
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


def raw_get(
    port: int, target: str, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def test_served_limits_and_hosts_answer_in_the_error_shape(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable, "-c", "from pixsift.cli.main import main; main()", "serve",
        "--library", str(tmp_path / "library"), "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", process)
        cases = [
            # The app's own limit, then past gunicorn's: both JSON under /api.
            ("/api/search?q=" + "x" * 5000, {}, 414, "uri_too_long"),
            ("/api/search?q=" + "x" * 9000, {}, 414, "uri_too_long"),
            ("/api/stats", {"X-Big": "y" * 10_000}, 431, "request_header_fields_too_large"),
            ("/api/stats", {"X-Big": "y" * 20_000}, 431, "request_header_fields_too_large"),
            ("/api/images/9223372036854775808", {}, 404, "not_found"),
            ("/api/health", {"Host": "rebound.example"}, 400, "bad_request"),
        ]
        for target, headers, status, code in cases:
            got, content_type, body = raw_get(port, target, headers)
            assert (got, content_type) == (status, "application/json"), (target[:40], body[:200])
            assert json.loads(body)["error"]["code"] == code
        for target in ("/", "/nowhere", "/images/1"):
            got, content_type, body = raw_get(port, target, {"Host": "rebound.example"})
            assert got == 400 and content_type.startswith("text/html"), body[:200]
            assert b'id="error"' in body
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
