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

from search.library import Library
from search.tags.labels import label_cache_path
from search.tags.service import LibraryTags

LOG_NAME = "tagging.log"


def labels_ready(library: Library) -> bool:
    """Whether the library's model has its label embeddings cached (tagging is then quick)."""
    model_id = library.store.model_id()
    if model_id is None:
        return False
    tags = LibraryTags(library)
    return label_cache_path(tags.cache_directory, model_id, tags.vocabulary).exists()


def start_background_tagging(library: Library, database_url: str | None) -> subprocess.Popen:
    """Start ``pixsift tags update`` for ``library``, detached from this command."""
    environment = dict(os.environ, PIXSIFT_LIBRARY=str(library.directory))
    if database_url is not None:
        # In the environment, not the command line: a URL may hold a password.
        environment["PIXSIFT_DATABASE_URL"] = database_url
    log = (library.directory / LOG_NAME).open("ab")
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "tags", "update"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def log_path(library: Library) -> Path:
    return library.directory / LOG_NAME
