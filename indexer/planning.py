"""Stage 1 of an indexing run: compare what is on disk with what the library remembers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from indexer.scan import ScannedFile, ScanReport, is_under, scan_root
from indexer.sniffing import SniffedFiles
from search.errors import InvalidInputError
from search.storage.store import KnownFile, LibraryStore


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
) -> IndexingPlan:
    """What to do for ``roots``: files named with ``extensions``, and, when ``skip_extensions``
    is given, files named with neither whose content is an image."""
    plan = IndexingPlan()
    for root in roots:
        root_id = store.ensure_root(os.fsencode(root))
        plan.root_ids.append(root_id)
        _plan_root(store, plan, root, root_id, (extensions, skip_extensions), include_hidden)
    return plan


def _plan_root(
    store: LibraryStore,
    plan: IndexingPlan,
    root: Path,
    root_id: int,
    extensions: tuple[frozenset[str], frozenset[str] | None],
    include_hidden: bool,
) -> None:
    known_files = store.known_files(root_id)
    known_failures = store.known_failures(root_id)
    sniffed = SniffedFiles(store, root_id)
    seen: set[bytes] = set()
    report = ScanReport()
    found = scan_root(
        root, extensions[0], report, include_hidden=include_hidden, skip_extensions=extensions[1]
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
        if known and (known.size_bytes, known.mtime_ns) == (scanned.size_bytes, scanned.mtime_ns):
            plan.unchanged_count += 1
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
