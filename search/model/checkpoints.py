"""Files pixsift can make again and the hashes that name them: the cache folder, a checkpoint's
content digest (remembered by path, size and time), and whether a weights host answers. Shared by
the weights resolution and the model packs; imports nothing else of pixsift's model code."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from platformdirs import user_cache_path

from pixsift.search.settings import CACHE_DIRECTORY

NETWORK_PROBE_TIMEOUT_SECONDS = 3.0


def reachable(source: str) -> bool:
    """Whether the weights' host answers at all: without a network, fail in seconds rather
    than after a minute of download retries."""
    host = urlparse(source).hostname
    if not host:
        return False
    try:
        with socket.create_connection((host, 443), timeout=NETWORK_PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def default_cache_directory() -> Path:
    """Where pixsift keeps what it can make again (exported towers, checkpoint hashes)."""
    configured = CACHE_DIRECTORY.value()
    return Path(str(configured)).expanduser() if configured else user_cache_path("pixsift")


def checkpoint_digest(path: Path, cache_root: Path) -> str:
    """The SHA-256 of a checkpoint file, remembered by path, size and modification time: hashing
    a 600 MB checkpoint on every start costs about half a second."""
    status = path.stat()
    key = str(path.resolve())
    stamp = [status.st_size, status.st_mtime_ns]
    memo_path = cache_root / "checkpoint-digests.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    remembered = memo.get(key) if isinstance(memo, dict) else None
    if isinstance(remembered, dict) and remembered.get("stamp") == stamp:
        return str(remembered["sha256"])
    digest = _file_digest(path)
    memo = memo if isinstance(memo, dict) else {}
    memo[key] = {"stamp": stamp, "sha256": digest}
    with contextlib.suppress(OSError):  # a read-only cache only costs the hash next time
        cache_root.mkdir(parents=True, exist_ok=True)
        temporary = memo_path.with_name(f".{memo_path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(memo, indent=1))
        os.replace(temporary, memo_path)
    return digest


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as checkpoint:
        for block in iter(lambda: checkpoint.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
