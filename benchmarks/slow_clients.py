"""Slow clients against a running ``pixsift serve``: N connections trickle header lines (one every
``interval`` seconds, never finishing the request) while ``/api/health`` is timed again and again.

    python -m benchmarks.slow_clients --port 8000 --connections 8 --seconds 5

Prints one JSON line: the health latencies' maximum and median, and how many health requests
failed. The tests use :func:`measure_health_under_trickle` against a real server process.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from http.client import HTTPConnection


@dataclass(frozen=True)
class TrickleResult:
    connections: int
    seconds: float
    health_requests: int
    health_failures: int
    health_max_seconds: float
    health_median_seconds: float


def measure_health_under_trickle(
    port: int,
    *,
    connections: int = 8,
    seconds: float = 5.0,
    interval: float = 0.5,
    host: str = "127.0.0.1",
) -> TrickleResult:
    stop = threading.Event()
    opened = threading.Barrier(connections + 1, timeout=10)
    tricklers = [
        threading.Thread(target=_trickle, args=(host, port, interval, stop, opened), daemon=True)
        for _ in range(connections)
    ]
    for thread in tricklers:
        thread.start()
    opened.wait()  # every slow connection is open and has sent its first line
    time.sleep(interval)
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            _health(host, port)
        except OSError:
            failures += 1
        latencies.append(time.monotonic() - started)
        time.sleep(0.05)
    stop.set()
    for thread in tricklers:
        thread.join(timeout=interval + 5)
    return TrickleResult(
        connections=connections,
        seconds=seconds,
        health_requests=len(latencies),
        health_failures=failures,
        health_max_seconds=round(max(latencies), 4),
        health_median_seconds=round(statistics.median(latencies), 4),
    )


def _health(host: str, port: int) -> None:
    # A generous client timeout: a starved server shows as a long latency, not as an error.
    connection = HTTPConnection(host, port, timeout=30)
    try:
        connection.request("GET", "/api/health")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise OSError(f"health answered {response.status}")
    finally:
        connection.close()


def _trickle(
    host: str, port: int, interval: float, stop: threading.Event, opened: threading.Barrier
) -> None:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        opened.wait()
        number = 0
        while not stop.wait(interval):
            number += 1
            try:
                sock.sendall(f"X-Slow-{number}: {'a' * 8}\r\n".encode())
            except OSError:
                return  # the server closed the slow connection: fine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=0.5)
    arguments = parser.parse_args()
    result = measure_health_under_trickle(
        arguments.port,
        connections=arguments.connections,
        seconds=arguments.seconds,
        interval=arguments.interval,
        host=arguments.host,
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
