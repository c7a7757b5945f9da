"""Opening an indexed image's file to serve it, without ever serving anything outside the library.

The file must still be the one that was indexed. Its real name (links resolved) must lie inside
its root, unless the root was indexed following links out of it; the last component is opened
with ``O_NOFOLLOW`` (a file swapped for a link is refused, not followed); and the opened file
must be a regular file with the identity (device, inode) recorded when it was indexed, or, for
rows indexed before identities were recorded, the recorded size and modification time. The
identity is compared on the open descriptor, so a swap between the checks and the open is caught.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from pixsift.search.errors import NotFoundError
from pixsift.search.records import ImageRecord

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    # A FIFO planted in the library cannot hang the worker in open().
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class FileChangedError(NotFoundError):
    """The image's file is gone or is no longer the file that was indexed: answered 404."""


def open_indexed_file(record: ImageRecord) -> BinaryIO:
    """The image's file, open for reading, once checked to be the file that was indexed.
    Raises :class:`FileChangedError` otherwise; the caller closes the file."""
    real = os.path.realpath(os.fsencode(record.file_path))
    root = os.path.realpath(os.fsencode(record.root_directory))
    if not record.origin.root_follows_links and not _is_inside(real, root):
        raise FileChangedError(f"image {record.id}'s file now leads out of its folder")
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except FileNotFoundError:
        raise FileChangedError(
            f"image {record.id}'s file is gone; run pixsift index again"
        ) from None
    except OSError:
        # ELOOP: the last component became a link after realpath; or unreadable.
        raise FileChangedError(f"image {record.id}'s file cannot be opened") from None
    try:
        _check_descriptor(record, os.fstat(fd))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_descriptor(record: ImageRecord, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise FileChangedError(f"image {record.id}'s file is not a regular file any more")
    identity = record.origin.identity
    if identity is not None and (status.st_dev, status.st_ino) != identity:
        raise FileChangedError(
            f"image {record.id}'s file was replaced since it was indexed; run pixsift index again"
        )
    if status.st_size != record.size_bytes or status.st_mtime_ns != record.mtime_ns:
        raise FileChangedError(
            f"image {record.id}'s file changed since it was indexed; run pixsift index again"
        )


def _is_inside(path: bytes, directory: bytes) -> bool:
    return path == directory or path.startswith(directory.rstrip(b"/") + b"/")
