"""Memory of a serving worker while it searches with large example images: four 49-megapixel
uploads (7000x7000: a colour PNG, a 1-bit PNG, a greyscale PNG and a JPEG) sent at once to
``POST /api/search`` of a running ``pixsift serve``.

    python -m benchmarks.upload_memory --port 8000 [--pid WORKER_PID] [--images DIR]

The worker's peak resident size is its kernel high-water mark (``VmHWM``), reset before the
uploads through ``/proc/PID/clear_refs``; "after" is its resident size a second after the last
answer. A 503 (the worker's upload slots are taken) is retried after its Retry-After, as a
browser user would, so every upload is answered in the end. Prints one JSON line; the tests call
:func:`measure_upload_memory` against a real server process. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.client import HTTPConnection
from pathlib import Path

from PIL import Image

SIDE = 7000
MIB = 1024 * 1024


@dataclass
class UploadMemoryResult:
    baseline_mb: float
    peak_mb: float
    after_mb: float
    peak_delta_mb: float
    after_delta_mb: float
    statuses: list[int] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0


def make_images(directory: Path) -> list[Path]:
    """The four pictures, made once (they compress to a few MB at most)."""
    directory.mkdir(parents=True, exist_ok=True)
    gradient = Image.linear_gradient("L").resize((SIDE, SIDE))
    pictures = {
        "colour.png": Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient)),  # noqa: E501
        "bilevel.png": Image.new("1", (SIDE, SIDE), 1),
        "grey.png": gradient,
        "photo.jpg": gradient.convert("RGB"),
    }  # fmt: skip
    paths = []
    for name, picture in pictures.items():
        path = directory / name
        if not path.exists():
            picture.save(path, quality=80) if name.endswith(".jpg") else picture.save(path)
        paths.append(path)
    return paths


def resident_mb(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no {field_name} for process {pid}")


def measure_upload_memory(
    port: int, pid: int, images: list[Path], *, host: str = "127.0.0.1", max_tries: int = 30
) -> UploadMemoryResult:
    time.sleep(0.5)
    baseline = resident_mb(pid)
    # Reset the high-water mark to the present size (Linux >= 4.0).
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    statuses: list[int] = [0] * len(images)
    retries = [0] * len(images)
    started = time.monotonic()
    threads = [
        threading.Thread(target=_upload, args=(host, port, path, index, statuses, retries, max_tries))  # noqa: E501
        for index, path in enumerate(images)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    peak = resident_mb(pid, "VmHWM")
    time.sleep(1.0)
    after = resident_mb(pid)
    return UploadMemoryResult(
        baseline_mb=round(baseline, 1),
        peak_mb=round(peak, 1),
        after_mb=round(after, 1),
        peak_delta_mb=round(peak - baseline, 1),
        after_delta_mb=round(after - baseline, 1),
        statuses=statuses,
        retries=sum(retries),
        seconds=round(seconds, 2),
    )


def _upload(
    host: str,
    port: int,
    path: Path,
    index: int,
    statuses: list[int],
    retries: list[int],
    max_tries: int,
) -> None:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="{path.name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    for attempt in range(max_tries):
        connection = HTTPConnection(host, port, timeout=120)
        try:
            connection.request("POST", "/api/search", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        statuses[index] = response.status
        if response.status != 503 or response.getheader("Retry-After") is None:
            return
        retries[index] = attempt + 1
        time.sleep(float(response.getheader("Retry-After") or 1))


def only_worker(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    if len(children) != 1:
        raise SystemExit(f"give --pid: the server has {len(children)} workers")
    return int(children[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, help="the worker (default: the one worker of --master)")
    parser.add_argument("--master", type=int, help="the gunicorn master's pid")
    parser.add_argument("--images", type=Path, default=Path("benchmarks/.upload-images"))
    arguments = parser.parse_args()
    pid = arguments.pid or only_worker(arguments.master or os.getppid())
    result = measure_upload_memory(
        arguments.port, pid, make_images(arguments.images), host=arguments.host
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
