"""What the app keeps per process: one :class:`Library`, opened on first use."""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g

from pixsift.search.library import Library
from pixsift.search.model.spec import requested_model_spec
from pixsift.search.query.filter_columns import warm_filter_columns
from pixsift.search.query.request import QueryTerm, SearchRequest

EXTENSION_NAME = "pixsift"
#: Searched once each while a worker warms up: two texts, so the tower runs twice (its first
#: run also sets up its buffers) and the second run is a steady one.
WARM_UP_QUERIES = ("a photo", "a picture of a place at night")


class WebState:
    """Holds the process's library. ``config["LIBRARY"]`` is a directory, or a ready Library."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._library: Library | None = None
        self._owns_library = False
        self._lock = threading.Lock()
        given = config.get("LIBRARY")
        if isinstance(given, Library):
            self._library = given

    @property
    def library(self) -> Library:
        if self._library is None:
            with self._lock:
                if self._library is None:
                    self._library = self._open()
                    self._owns_library = True
        return self._library

    def _open(self) -> Library:
        config = self._config
        directory = config.get("LIBRARY")
        spec = requested_model_spec(
            config.get("MODEL"), config.get("PRETRAINED"), config.get("PREPROCESSING_TAG")
        )
        return Library.open(
            Path(directory) if directory else None,
            database_url=config.get("DATABASE_URL"),
            model_spec=spec,
        )

    def warm_up(self) -> None:
        """Load the model and the vector index now rather than on the first search, then run
        one search through the whole path (tokenizer, the tower's first run, the index's pages,
        the keyword vocabulary, the database's connection and record reads), so the first
        user's query costs what the tenth does. The worker takes requests only after this."""
        library = self.library
        # Keep the filter columns (search.query.filter_columns), this generation's read now,
        # also for a library not indexed yet: the first request of a path, size or format
        # filter then reads nothing, and each later generation's are read in the background.
        warm_filter_columns(library.store.engine)
        if library.store.model_id() is None:
            return
        library.embedder  # noqa: B018  (the property loads and checks the model)
        library.vector_index()
        for text in WARM_UP_QUERIES:
            library.find(SearchRequest((QueryTerm(text=text),), mode="hybrid", k=10))

    def close(self) -> None:
        with self._lock:
            if self._library is not None and self._owns_library:
                self._library.close()
                self._library = None


def freeze_warmed_objects() -> None:
    """For a long-lived server process, once warmed up: collect, then move every object alive
    (modules, the app, models, index, records of the warm-up) out of the cyclic garbage
    collector's sight. A full collection walked them all: ~55 ms at a 1M library, now and then
    in some request (docs/benchmarks.md, section 35); later collections see only new objects."""
    gc.collect()
    gc.freeze()


def init_app(app: Flask) -> WebState:
    state = WebState(app.config)
    app.extensions[EXTENSION_NAME] = state
    return state


def web_state() -> WebState:
    return current_app.extensions[EXTENSION_NAME]


def get_library() -> Library:
    """The process's library, remembered on ``g`` for the rest of the request."""
    if "library" not in g:
        g.library = web_state().library
    return g.library
