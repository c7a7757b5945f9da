"""Text in images (OCR), opt-in: the library setting, and the pass that catches up.

It runs in worker processes, like decoding: during an indexing run the decode workers recognise
the text of each new file they read (:func:`recognise_pixels`), and :func:`recognise_pending`
catches up on images indexed before OCR was turned on, without embedding them again. Each image's
result (its text, or why recognition failed) is one row, committed in batches, so a run that is
stopped resumes where it was; an image whose OCR fails keeps its embedding.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass

from pebble import ProcessExpired, ProcessPool

from pixsift.indexer.ocr_engine import (
    OCR_TIMEOUT_SECONDS,
    RecognisedText,
    check_engine,
    limit_engine_threads,
    recognise_file,
)
from pixsift.search.library import Library
from pixsift.search.storage.search_text import refresh_search_text
from pixsift.search.storage.tags import OCR_ENGINE, images_without_text, write_text

#: The library setting that remembers ``pixsift index --ocr`` ("on" or "off").
STATE_OCR = "ocr"
#: Images recognised per commit in the catch-up pass.
BATCH = 32


def ocr_enabled(library: Library) -> bool:
    return library.store.get_state(STATE_OCR) == "on"


def remember_ocr(library: Library, enabled: bool | None) -> bool:
    """Store ``--ocr``/``--no-ocr`` for later runs (None keeps the stored choice)."""
    if enabled is not None:
        if enabled:
            check_engine()
        library.store.set_state(STATE_OCR, "on" if enabled else "off")
    return ocr_enabled(library)


@dataclass
class OcrSummary:
    recognised: int = 0
    failed: int = 0
    seconds: float = 0.0


def recognise_pending(
    library: Library,
    *,
    workers: int,
    timeout_seconds: float = OCR_TIMEOUT_SECONDS,
    progress: Callable[[int], None] | None = None,
) -> OcrSummary:
    """OCR every indexed image that has no result yet, in worker processes, committing each
    batch (a stopped run resumes where it was)."""
    summary = OcrSummary()
    started = time.monotonic()
    pool = ProcessPool(
        max_workers=workers,
        initializer=limit_engine_threads,
        context=multiprocessing.get_context("spawn"),
    )
    try:
        while True:
            with library.store.session() as session:
                pending = images_without_text(session, BATCH)
            if not pending:
                break
            futures = [
                pool.schedule(recognise_file, args=(path,), timeout=timeout_seconds + 10)
                for _, path in pending
            ]
            results = [_result(future, timeout_seconds) for future in futures]
            _commit(library, [image_id for image_id, _ in pending], results)
            summary.recognised += sum(result.failure is None for result in results)
            summary.failed += sum(result.failure is not None for result in results)
            if progress is not None:
                progress(len(pending))
        pool.close()
        pool.join()
    except BaseException:
        pool.stop()
        pool.join()
        raise
    summary.seconds = time.monotonic() - started
    return summary


def _result(future, timeout_seconds: float) -> RecognisedText:
    try:
        return future.result()
    except FutureTimeoutError:
        return RecognisedText("", f"OCR took longer than {timeout_seconds:g} s")
    except ProcessExpired as error:
        return RecognisedText("", f"OCR crashed (exit code {error.exitcode})")
    except Exception as error:  # a worker's unexpected error is this file's failure, not the run's
        return RecognisedText("", f"unexpected OCR error: {type(error).__name__}: {error}")


def _commit(library: Library, image_ids: list[int], results: list[RecognisedText]) -> None:
    with library.store.session() as session:
        for image_id, result in zip(image_ids, results, strict=True):
            write_text(session, image_id, result.text, result.failure, OCR_ENGINE)
        session.flush()
        refresh_search_text(session, image_ids)
