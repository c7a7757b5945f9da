"""A run killed with SIGKILL mid-way loses at most its batch in flight; the next run resumes."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import write_pictures
from waiting import wait_until

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import DATABASE_FILENAME, Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder

CLI_WITH_TINY_MODEL = """
import sys, open_clip
open_clip.add_model_config(sys.argv[1])
from pixsift.cli.main import main
main(sys.argv[2:])
"""


def committed_image_count(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database, timeout=1) as connection:
            return connection.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # Schema not created yet.


def test_sigkill_mid_run_then_resume_without_loss_or_duplicates(
    tmp_path: Path,
    tiny_model_config_dir: Path,
    tiny_spec: ModelSpec,
    tiny_embedder: OpenClipEmbedder,
) -> None:
    folder = tmp_path / "pictures"
    total = 160
    write_pictures(folder, total)
    library_directory = tmp_path / "library"
    database = library_directory / DATABASE_FILENAME
    command = [
        sys.executable, "-c", CLI_WITH_TINY_MODEL, str(tiny_model_config_dir),
        "index", str(folder), "--library", str(library_directory), "--batch-size", "4",
        "--workers", "1", "--no-progress",
        "--model", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained,
    ]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True)
    count = functools.partial(committed_image_count, database)
    wait_until(lambda: count() >= 12, process, "12 committed images", progress=count)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    committed = committed_image_count(database)
    assert 12 <= committed < total

    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    with Library.open(library_directory, embedder=tiny_embedder) as library:
        # Killed before it published: searches find every committed image by scanning the
        # stored vectors exactly, and write no index file doing so.
        index_files = sorted(library.index_directory.glob("*"))
        assert library.vector_index().count == committed
        assert len(library.search("anything", k=1000)) == committed
        assert sorted(library.index_directory.glob("*")) == index_files
        options = IndexingOptions(batch_size=16, workers=1, show_progress=False)
        summary = Indexer(library, tiny_embedder, options).index([folder])
        assert summary.unchanged == committed
        assert summary.added == summary.embedded == total - committed
        assert library.stats().image_count == total
        hits = library.search("anything", k=1000)
        assert len(hits) == total and len({hit.path for hit in hits}) == total
        assert library.vector_index().unpublished_count == 0  # the resumed run published
