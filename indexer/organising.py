"""What indexing works out from facts already stored, after each run: the place of every GPS
position (search.places) and the stacks of bursts and RAW+JPEG pairs (search.stacks). Part of the
one writer: it runs inside ``pixsift index`` and nowhere else; only after a run that changed
something (an unchanged re-index stays fast), and once on a library organised by no earlier
version (rows indexed before places and stacks existed)."""

from __future__ import annotations

from pixsift.search.places import fill_places
from pixsift.search.stacks import compute_stacks
from pixsift.search.storage.store import LibraryStore

#: Bumped when the organising rules change, so the next run applies them to every row.
ORGANISED_VERSION = "1"
STATE_ORGANISED = "organised_version"


def organise_library(store: LibraryStore, *, changed: bool = True) -> None:
    if not changed and store.get_state(STATE_ORGANISED) == ORGANISED_VERSION:
        return
    fill_places(store)
    compute_stacks(store)
    store.set_state(STATE_ORGANISED, ORGANISED_VERSION)
