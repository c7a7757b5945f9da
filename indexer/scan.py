"""Walking the folders to index: which files are candidates, found without ever looping."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from search.filenames import display_path


@dataclass(frozen=True)
class ScannedFile:
    """A candidate image file as found on disk. Its name is bytes: POSIX names need not be
    valid UTF-8."""

    path_bytes: bytes
    relative_path: str
    size_bytes: int
    mtime_ns: int
    #: False for a file found by an unknown extension: a candidate only if its content is an
    #: image (see indexer.planning).
    named_as_image: bool = True


@dataclass
class ScanReport:
    """What a scan could not look into: images stored under these folders must not be removed."""

    unreadable_directories: list[bytes] = field(default_factory=list)


def scan_root(
    root: Path,
    extensions: frozenset[str],
    report: ScanReport,
    *,
    include_hidden: bool = False,
    skip_extensions: frozenset[str] | None = None,
) -> Iterator[ScannedFile]:
    """Yield every file below ``root`` whose extension is in ``extensions`` (lower case, with
    the dot), and, when ``skip_extensions`` is given, every file whose extension is in neither
    (``named_as_image`` False). Symbolic links to folders are followed, but each real folder is
    visited once, so a link loop cannot loop."""
    root_bytes = os.fsencode(root)
    visited_directories: set[tuple[int, int]] = set()
    pending = [root_bytes]
    while pending:
        directory = pending.pop()
        try:
            status = os.stat(directory)
            identity = (status.st_dev, status.st_ino)
            if identity in visited_directories:
                continue
            visited_directories.add(identity)
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            report.unreadable_directories.append(directory)
            continue
        subdirectories = []
        for entry in entries:
            if not include_hidden and entry.name.startswith(b"."):
                continue
            scanned = _scan_entry(entry, root_bytes, extensions, skip_extensions, subdirectories)
            if scanned is not None:
                yield scanned
        # Reversed so that popping from the end walks folders in name order.
        pending.extend(reversed(subdirectories))


def _scan_entry(
    entry: os.DirEntry[bytes],
    root_bytes: bytes,
    extensions: frozenset[str],
    skip_extensions: frozenset[str] | None,
    subdirectories: list[bytes],
) -> ScannedFile | None:
    try:
        if entry.is_dir(follow_symlinks=True):
            subdirectories.append(entry.path)
            return None
        if not entry.is_file(follow_symlinks=True):
            return None
        extension = os.path.splitext(entry.name)[1].decode("ascii", errors="replace").lower()
        named_as_image = extension in extensions
        if not named_as_image and (skip_extensions is None or extension in skip_extensions):
            return None
        status = entry.stat(follow_symlinks=True)
    except OSError:
        # Vanished or a dangling link between listing and stat: not a candidate.
        return None
    relative = os.path.relpath(entry.path, root_bytes)
    return ScannedFile(
        path_bytes=entry.path,
        relative_path=display_path(relative),
        size_bytes=status.st_size,
        mtime_ns=status.st_mtime_ns,
        named_as_image=named_as_image,
    )


def is_under(path_bytes: bytes, directories: list[bytes]) -> bool:
    return any(
        path_bytes == directory or path_bytes.startswith(directory.rstrip(b"/") + b"/")
        for directory in directories
    )
