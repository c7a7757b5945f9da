"""The first run of a model tags in the background: embedding the tag labels (thousands of
prompts through the text tower, once per model) would otherwise hold the user's first
``pixsift index`` for minutes after the index is already searchable.

The child is ``pixsift tags update`` in its own session, writing to ``tagging.log`` in the
library folder. It tags only what is not tagged yet, so if it is killed or fails, the next
``pixsift index`` (or ``pixsift tags update``) does the rest; the index is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pixsift.indexer.options import IndexingSummary
from pixsift.indexer.pipeline import tag_after_run
from pixsift.search.library import Library
from pixsift.search.settings import BACKGROUND_TAGGING
from pixsift.search.tags.labels import label_cache_path
from pixsift.search.tags.service import LibraryTags

LOG_NAME = "tagging.log"


def labels_ready(library: Library) -> bool:
    """Whether the library's model has its label embeddings cached (tagging is then quick)."""
    model_id = library.store.model_id()
    if model_id is None:
        return False
    tags = LibraryTags(library)
    return label_cache_path(tags.cache_directory, model_id, tags.vocabulary).exists()


def tags_inline(library: Library) -> bool:
    """Whether ``pixsift index`` tags before it ends (else a first run tags in the background)."""
    return labels_ready(library) or not BACKGROUND_TAGGING.value()


def finish_tagging(
    library: Library, summary: IndexingSummary, pending: bool, database_url: str | None
) -> subprocess.Popen | None:
    """After a run that left its tagging ``pending``: tag now if the labels turned out to be
    cached (a new library learns its model during the run), else start the background child."""
    if not pending:
        return None
    if tags_inline(library):
        tag_after_run(library, summary)
        return None
    if library.store.model_id() is None:
        return None  # nothing was ever indexed: nothing to tag
    return start_background_tagging(library, database_url)


def start_background_tagging(library: Library, database_url: str | None) -> subprocess.Popen:
    """Start ``pixsift tags update`` for ``library``, detached from this command."""
    environment = dict(os.environ, PIXSIFT_LIBRARY=str(library.directory))
    if database_url is not None:
        # In the environment, not the command line: a URL may hold a password.
        environment["PIXSIFT_DATABASE_URL"] = database_url
    log = (library.directory / LOG_NAME).open("ab")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "pixsift.cli", "tags", "update"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def log_path(library: Library) -> Path:
    return library.directory / LOG_NAME
