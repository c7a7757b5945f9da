"""Files found by an unknown extension: indexed when their first bytes say "image".

A file's first bytes are read once: the verdict "not an image" is remembered with the file's
size and modification time (in the library's state table, one entry per folder), so a tree of
documents is not opened again on every run, only what changed since.
"""

from __future__ import annotations

import json
import os

from pixsift.indexer.scan import ScannedFile
from pixsift.search.media.formats import MediaKind, identify_path
from pixsift.search.storage.store import LibraryStore

_STATE_KEY = "scan.not_images.root.{root_id}"


class SniffedFiles:
    """The verdicts of one folder's unknown-extension files, read and written by one plan."""

    def __init__(self, store: LibraryStore, root_id: int) -> None:
        self._store = store
        self._key = _STATE_KEY.format(root_id=root_id)
        try:
            remembered = json.loads(store.get_state(self._key) or "{}")
        except ValueError:
            remembered = {}
        self._remembered: dict[str, list[int]] = remembered if isinstance(remembered, dict) else {}
        self._seen: dict[str, list[int]] = {}
        self.opened = 0

    def is_image(self, scanned: ScannedFile) -> bool:
        # fsdecode's surrogate escapes survive JSON as \\udcXX: any POSIX name round-trips.
        name = os.fsdecode(scanned.path_bytes)
        stamp = [scanned.size_bytes, scanned.mtime_ns]
        if self._remembered.get(name) == stamp:
            self._seen[name] = stamp
            return False
        try:
            self.opened += 1
            identity = identify_path(scanned.path_bytes)
        except OSError:
            return False  # unreadable now: looked at again next run
        # An image pixsift does not read (EPS, WMF...) is a candidate all the same: decoding
        # refuses it with the reason, which `pixsift failures` lists.
        if identity.kind is MediaKind.OTHER and identity.refused_format is None:
            self._seen[name] = stamp
            return False
        return True

    def save(self) -> None:
        """Remember this run's verdicts (files gone since are forgotten)."""
        if self._seen != self._remembered:
            self._store.set_state(self._key, json.dumps(self._seen, separators=(",", ":")))
