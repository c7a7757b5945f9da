"""A real ``pixsift serve`` on an open network: slow and idle clients cannot starve it."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path

from servers import running_server

from benchmarks.slow_clients import measure_health_under_trickle


def test_trickling_headers_do_not_delay_health(tmp_path: Path) -> None:
    # The default two workers of four threads each: eight (then sixteen) clients trickling their
    # headers would hold every thread of gunicorn's threaded worker (health then waited 30 s).
    with running_server(tmp_path / "library", workers=2) as server:
        for connections in (8, 16):
            result = measure_health_under_trickle(
                server.port, connections=connections, seconds=4.0, interval=0.5
            )
            assert result.health_failures == 0, result
            assert result.health_requests >= 10, result
            assert result.health_max_seconds < 1.0, result


def test_idle_and_stalled_connections_are_closed(tmp_path: Path) -> None:
    with running_server(tmp_path / "library", "--idle-timeout", "2") as server:
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        idle.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while b'"ok"' not in answer:
            answer += idle.recv(65536)
        assert b"200 OK" in answer
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        stalled.sendall(
            b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
            b"Content-Length: 1000000\r\n\r\n" + b"\x89PNG" * 100
        )
        started = time.monotonic()
        # Both connections are closed by the server (recv sees the end) once silent for 2 s.
        assert _read_until_closed(idle) == b""
        assert _read_until_closed(stalled) == b""
        assert time.monotonic() - started < 6.0
        idle.close()
        stalled.close()


def test_requests_past_the_servers_limits_answer_in_json(tmp_path: Path) -> None:
    with running_server(tmp_path / "library") as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            # Far past the app's own header limits: the server refuses before the app sees it.
            headers = {f"X-Big-{n}": "y" * 8000 for n in range(40)}
            connection.request("GET", "/api/stats", headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        assert response.status == 431
        assert response.getheader("Content-Type") == "application/json"
        assert json.loads(body)["error"]["code"] == "request_header_fields_too_large"


def _read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection; b"" when it only closes it."""
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def test_the_servers_own_refusals_carry_the_security_headers(tmp_path: Path) -> None:
    with running_server(tmp_path / "library") as server:
        malformed = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        malformed.sendall(
            b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: twelve\r\n\r\n"
        )
        bad_request = _read_until_closed(malformed)
        malformed.close()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request(
                "GET", "/api/stats", headers={f"X-Big-{n}": "y" * 8000 for n in range(40)}
            )
            too_large = connection.getresponse()
            too_large.read()
        finally:
            connection.close()
    head = bad_request.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 400"), bad_request[:200]
    assert "\r\nx-content-type-options: nosniff" in head
    assert "\r\ncontent-security-policy: default-src 'self'" in head
    assert too_large.status == 431
    assert too_large.getheader("X-Content-Type-Options") == "nosniff"
    assert too_large.getheader("Content-Security-Policy", "").startswith("default-src 'self'")
