"""Latency of text queries through ``pixsift serve`` (gunicorn, the production server) on an
existing library, one client, every query text distinct (no cache hits).

    .venv/bin/pixsift index /usr/share/openclipart/png --library /tmp/clipart \\
        --model ViT-B-32 --pretrained benchmarks/results/work/vit-b-32-random.pt
    .venv/bin/python -m benchmarks.serve_latency --library /tmp/clipart --mode hybrid

Starts the server on a free loopback port, waits for /api/health, sends the queries with urllib,
stops the server, prints a table and writes benchmarks/results/serve_latency-<mode>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks.common import percentiles, print_table, write_results
from benchmarks.query_latency import WORDS

STARTUP_TIMEOUT_SECONDS = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def distinct_queries(count: int) -> list[str]:
    pairs = itertools.permutations(WORDS, 3)
    return [
        f"a {first} {second} and a {third}"
        for first, second, third in itertools.islice(pairs, count)
    ]


def wait_until_healthy(base: str, server: subprocess.Popen) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < STARTUP_TIMEOUT_SECONDS:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2):
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer in time")


def timed_query(base: str, text: str, mode: str, k: int) -> tuple[float, int]:
    query = urllib.parse.urlencode({"q": text, "k": k, "mode": mode})
    started = time.perf_counter()
    with urllib.request.urlopen(f"{base}/api/search?{query}", timeout=30) as response:
        count = len(json.load(response)["results"])
    return (time.perf_counter() - started) * 1000, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--mode", choices=("hybrid", "semantic", "keyword"), default="hybrid")
    parser.add_argument("--workers", type=int, default=2, help="as pixsift serve's default")
    parser.add_argument("--model", help="for a library that does not name its model's weights")
    parser.add_argument("--pretrained", help="(a bulk-imported one, e.g. query_latency's)")
    options = parser.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pixsift = Path(sys.executable).with_name("pixsift")
    command = [str(pixsift), "serve", "--library", str(options.library), "--port", str(port),
               "--workers", str(options.workers)]  # fmt: skip
    for name in ("model", "pretrained"):
        if getattr(options, name):
            command += [f"--{name}", getattr(options, name)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        startup_seconds = wait_until_healthy(base, server)
        texts = distinct_queries(options.warmup + options.queries)
        # The first queries after the start: what a user waits for right after `pixsift
        # serve` (each worker warms up before it takes requests; two workers, two firsts).
        firsts = [timed_query(base, text, options.mode, options.k)[0]
                  for text in texts[: options.warmup]]  # fmt: skip
        timings, errors = [], 0
        for text in texts[options.warmup :]:
            try:
                elapsed, _ = timed_query(base, text, options.mode, options.k)
                timings.append(elapsed)
            except OSError:
                errors += 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    row = {
        "mode": options.mode,
        "queries": len(timings),
        "errors": errors,
        **percentiles(timings),
        "startup_s": round(startup_seconds, 2),
        "first_ms": round(firsts[0], 1) if firsts else None,
        "first_two_max_ms": round(max(firsts[:2]), 1) if firsts else None,
        "load_average": round(os.getloadavg()[0], 2),
    }
    print_table([row], list(row))
    path = write_results(f"serve_latency-{options.mode}", {"library": str(options.library), **row})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
