"""Walking the folders to index: which files are candidates, found without ever looping.

Symbolic links are followed only while they stay inside the folder being indexed, unless the user
asks for more (``follow_symlinks``): a link planted in the library cannot pull a private file into
it. A file reached twice (by its own name and through a link) is indexed once, by its own name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pixsift.search.filenames import display_path


@dataclass(frozen=True)
class ScannedFile:
    """A candidate image file as found on disk. Its name is bytes: POSIX names need not be
    valid UTF-8. ``identity`` is the (st_dev, st_ino) of the file it names."""

    path_bytes: bytes
    relative_path: str
    size_bytes: int
    mtime_ns: int
    identity: tuple[int, int] | None = None
    #: False for a file found by an unknown extension: a candidate only if its content is an
    #: image (see indexer.planning).
    named_as_image: bool = True


@dataclass
class ScanReport:
    """What a scan could not look into: images stored under these folders must not be removed."""

    unreadable_directories: list[bytes] = field(default_factory=list)
    #: Links not followed because they lead out of the folder (names, for reporting).
    links_leaving_root: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class ScanPolicy:
    include_hidden: bool = False
    #: Follow links that lead out of the folder being indexed.
    follow_symlinks: bool = False
    #: When given, files named with neither ``extensions`` nor these are candidates too.
    skip_extensions: frozenset[str] | None = None

    def named_as_image(self, extension: str, extensions: frozenset[str]) -> bool | None:
        """True: a candidate by its name; False: a candidate by its content; None: not one."""
        if extension in extensions:
            return True
        skip = self.skip_extensions
        return None if skip is None or extension in skip else False


@dataclass
class _Walk:
    """One root's walk: folders to visit (real ones before those reached through links, so a
    file gets its own name), and links to files, looked at last."""

    root_bytes: bytes
    extensions: frozenset[str]
    policy: ScanPolicy
    report: ScanReport
    pending: list[bytes] = field(default_factory=list)
    linked_directories: list[bytes] = field(default_factory=list)
    linked_files: list[os.DirEntry[bytes]] = field(default_factory=list)
    visited_directories: set[tuple[int, int]] = field(default_factory=set)


def scan_root(
    root: Path,
    extensions: frozenset[str],
    report: ScanReport,
    *,
    include_hidden: bool = False,
    skip_extensions: frozenset[str] | None = None,
    follow_symlinks: bool = False,
) -> Iterator[ScannedFile]:
    """Yield every file below ``root`` (a resolved path) whose extension is in ``extensions``
    (lower case, with the dot), and, when ``skip_extensions`` is given, every file whose
    extension is in neither (``named_as_image`` False). Each real folder is visited once, so a
    link loop cannot loop."""
    policy = ScanPolicy(include_hidden, follow_symlinks, skip_extensions)
    walk = _Walk(os.fsencode(root), extensions, policy, report)
    walk.pending.append(walk.root_bytes)
    while walk.pending or walk.linked_directories:
        if not walk.pending:
            walk.pending.append(walk.linked_directories.pop(0))
        yield from _visit(walk, walk.pending.pop())
    for entry in walk.linked_files:
        if not _reached_by_own_name(walk, entry.path):
            scanned = _scanned(entry, walk)
            if scanned is not None:
                yield scanned


def _visit(walk: _Walk, directory: bytes) -> Iterator[ScannedFile]:
    try:
        status = os.stat(directory)
        identity = (status.st_dev, status.st_ino)
        if identity in walk.visited_directories:
            return
        walk.visited_directories.add(identity)
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        walk.report.unreadable_directories.append(directory)
        return
    subdirectories = []
    for entry in entries:
        if not walk.policy.include_hidden and entry.name.startswith(b"."):
            continue
        try:
            is_link = entry.is_symlink()
            if is_link and not _link_allowed(walk, entry.path):
                walk.report.links_leaving_root.append(entry.path)
                continue
            if entry.is_dir(follow_symlinks=True):
                (walk.linked_directories if is_link else subdirectories).append(entry.path)
                continue
        except OSError:
            continue  # vanished, or a dangling link, between listing and stat
        if is_link:
            walk.linked_files.append(entry)
            continue
        scanned = _scanned(entry, walk)
        if scanned is not None:
            yield scanned
    # Reversed so that popping from the end walks folders in name order.
    walk.pending.extend(reversed(subdirectories))


def _link_allowed(walk: _Walk, path: bytes) -> bool:
    return walk.policy.follow_symlinks or is_under(os.path.realpath(path), [walk.root_bytes])


def _reached_by_own_name(walk: _Walk, link_path: bytes) -> bool:
    """Whether the walk met the file ``link_path`` leads to under its own name: its folder was
    visited and the name is one the walk takes."""
    target = os.path.realpath(link_path)
    folder, name = os.path.split(target)
    try:
        status = os.stat(folder)
    except OSError:
        return False
    if (status.st_dev, status.st_ino) not in walk.visited_directories:
        return False
    hidden = name.startswith(b".") and not walk.policy.include_hidden
    return not hidden and walk.policy.named_as_image(_extension(name), walk.extensions) is not None


def _scanned(entry: os.DirEntry[bytes], walk: _Walk) -> ScannedFile | None:
    try:
        if not entry.is_file(follow_symlinks=True):
            return None
        named_as_image = walk.policy.named_as_image(_extension(entry.name), walk.extensions)
        if named_as_image is None:
            return None
        status = entry.stat(follow_symlinks=True)
    except OSError:
        # Vanished or a dangling link between listing and stat: not a candidate.
        return None
    relative = os.path.relpath(entry.path, walk.root_bytes)
    return ScannedFile(
        path_bytes=entry.path,
        relative_path=display_path(relative),
        size_bytes=status.st_size,
        mtime_ns=status.st_mtime_ns,
        identity=(status.st_dev, status.st_ino),
        named_as_image=named_as_image,
    )


def _extension(name: bytes) -> str:
    return os.path.splitext(name)[1].decode("ascii", errors="replace").lower()


def is_under(path_bytes: bytes, directories: list[bytes]) -> bool:
    return any(
        path_bytes == directory or path_bytes.startswith(directory.rstrip(b"/") + b"/")
        for directory in directories
    )
