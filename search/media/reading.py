"""Reading an image file's bytes without trusting it: regular files only, size-capped, and
never blocking on a FIFO."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import BinaryIO

from pixsift.search.media.errors import ImageRejectedError, OversizedImageError, short


def read_file_bytes(path: Path, max_file_bytes: int) -> bytes:
    try:
        with _open_regular_file(path) as fh:
            return read_open_file(fh, max_file_bytes)
    except ImageRejectedError:
        raise
    except FileNotFoundError:
        raise ImageRejectedError("file vanished during indexing") from None
    except PermissionError:
        raise ImageRejectedError("permission denied") from None
    except IsADirectoryError:
        raise ImageRejectedError("not a regular file (directory)") from None
    except OSError as exc:
        raise ImageRejectedError(f"cannot read file: {short(exc)}") from None


def read_open_file(fh: BinaryIO, max_file_bytes: int) -> bytes:
    """The bytes of a file already open (and checked) by the caller, size-capped."""
    size = os.fstat(fh.fileno()).st_size
    if size > max_file_bytes:
        raise OversizedImageError(_too_large(size, max_file_bytes))
    # Read one byte past the limit: the file may have grown since fstat.
    try:
        data = fh.read(max_file_bytes + 1)
    except OSError as exc:
        raise ImageRejectedError(f"cannot read file: {short(exc)}") from None
    if not data:
        raise ImageRejectedError("empty file")
    if len(data) > max_file_bytes:
        raise OversizedImageError(_too_large(len(data), max_file_bytes))
    return data


def _open_regular_file(path: Path) -> io.BufferedReader:
    # O_NONBLOCK so a FIFO planted in the library cannot hang the worker in open().
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImageRejectedError("not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _too_large(size: int, limit: int) -> str:
    return f"file too large: {size} bytes exceeds limit {limit}"
