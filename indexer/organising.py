"""What indexing works out from facts already stored, after each run: the place of every GPS
position (search.places) and the stacks of bursts and RAW+JPEG pairs (search.stacks). Part of the
one writer: it runs inside ``pixsift index`` and nowhere else."""

from __future__ import annotations

from search.places import fill_places
from search.stacks import compute_stacks
from search.storage.store import LibraryStore


def organise_library(store: LibraryStore) -> None:
    fill_places(store)
    compute_stacks(store)
