"""Stage 1 of an indexing run: compare what is on disk with what the library remembers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pixsift.indexer.scan import ScannedFile, ScanPolicy, ScanReport, is_under, scan_root
from pixsift.indexer.sniffing import SniffedFiles
from pixsift.search.errors import InvalidInputError
from pixsift.search.storage.store import KnownFile, LibraryStore


@dataclass(frozen=True)
class WorkItem:
    """A file to read: new, or changed since it was indexed (``known`` is then set)."""

    root_id: int
    scanned: ScannedFile
    known: KnownFile | None


@dataclass
class IndexingPlan:
    work: list[WorkItem] = field(default_factory=list)
    unchanged_count: int = 0
    still_failing_count: int = 0
    #: Indexed files no longer found: removed at the end unless found again under a new name.
    vanished: dict[bytes, KnownFile] = field(default_factory=dict)
    #: Recorded failures whose files are gone: their records are dropped.
    vanished_failures: list[bytes] = field(default_factory=list)
    root_ids: list[int] = field(default_factory=list)
    #: Unchanged files indexed before identities were recorded: (image id, (st_dev, st_ino)).
    identities_to_record: list[tuple[int, tuple[int, int]]] = field(default_factory=list)
    #: Files with an unknown extension whose first bytes were read in this plan.
    sniffed_count: int = 0


def resolve_root(root: Path) -> Path:
    resolved = root.expanduser().resolve()
    if not resolved.exists():
        raise InvalidInputError(f"folder {root} does not exist")
    if not resolved.is_dir():
        raise InvalidInputError(f"{root} is not a folder")
    return resolved


def plan_indexing(
    store: LibraryStore,
    roots: list[Path],
    extensions: frozenset[str],
    *,
    include_hidden: bool = False,
    skip_extensions: frozenset[str] | None = None,
    follow_symlinks: bool = False,
) -> IndexingPlan:
    """What to do for ``roots``: files named with ``extensions``, and, when ``skip_extensions``
    is given, files named with neither whose content is an image."""
    plan = IndexingPlan()
    for root in roots:
        root_id = store.ensure_root(os.fsencode(root), follow_symlinks=follow_symlinks)
        plan.root_ids.append(root_id)
        policy = ScanPolicy(include_hidden, follow_symlinks, skip_extensions)
        _plan_root(store, plan, root, root_id, extensions, policy)
    return plan


def _plan_root(
    store: LibraryStore,
    plan: IndexingPlan,
    root: Path,
    root_id: int,
    extensions: frozenset[str],
    policy: ScanPolicy,
) -> None:
    known_files = store.known_files(root_id)
    known_failures = store.known_failures(root_id)
    sniffed = SniffedFiles(store, root_id)
    seen: set[bytes] = set()
    report = ScanReport()
    found = scan_root(
        root,
        extensions,
        report,
        include_hidden=policy.include_hidden,
        skip_extensions=policy.skip_extensions,
        follow_symlinks=policy.follow_symlinks,
    )
    for scanned in found:
        known = known_files.get(scanned.path_bytes)
        if (
            not scanned.named_as_image
            and known is None
            and scanned.path_bytes not in known_failures
            and not sniffed.is_image(scanned)
        ):
            continue
        seen.add(scanned.path_bytes)
        if known and _unchanged(known, scanned):
            plan.unchanged_count += 1
            if known.inode is None and scanned.identity is not None:
                # Found by this scan, inside the root (or a followed link): its identity now.
                plan.identities_to_record.append((known.image_id, scanned.identity))
        elif known is None and known_failures.get(scanned.path_bytes) == (
            scanned.size_bytes,
            scanned.mtime_ns,
        ):
            # Retried once the file changes, not on every run.
            plan.still_failing_count += 1
        else:
            plan.work.append(WorkItem(root_id=root_id, scanned=scanned, known=known))
    sniffed.save()
    plan.sniffed_count += sniffed.opened
    # A folder that could not be read this time keeps its images: unreadable is not deleted.
    for path_bytes, known in known_files.items():
        if path_bytes not in seen and not is_under(path_bytes, report.unreadable_directories):
            plan.vanished[path_bytes] = known
    plan.vanished_failures.extend(
        path_bytes
        for path_bytes in known_failures
        if path_bytes not in seen and not is_under(path_bytes, report.unreadable_directories)
    )


def _unchanged(known: KnownFile, scanned: ScannedFile) -> bool:
    """Same size and time, and (where recorded) the same file: one swapped for another file of
    the same size and time is read again."""
    if (known.size_bytes, known.mtime_ns) != (scanned.size_bytes, scanned.mtime_ns):
        return False
    return known.inode is None or (known.device, known.inode) == scanned.identity
