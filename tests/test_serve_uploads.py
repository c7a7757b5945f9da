"""Searching with large example images on a real ``pixsift serve``: memory stays bounded and is
handed back, and uploads past the worker's slots are answered 503 at once, in the JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_MODEL_NAME, write_pictures
from servers import running_server

from benchmarks.upload_memory import make_images, measure_upload_memory, resident_mb
from indexer.pipeline import Indexer, IndexingOptions
from search.library import Library
from search.model.embedder import OpenClipEmbedder

#: The issue's bound: four concurrent 49-megapixel uploads raise a worker's peak by at most this.
PEAK_BOUND_MB = 400
#: "All returned afterwards": what may stay (allocator slack, caches warmed by the first search).
AFTER_BOUND_MB = 60


def test_four_large_uploads_stay_within_the_memory_bound(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    tiny_model_config_dir: Path,
    tiny_checkpoint: Path,
) -> None:
    images = make_images(tmp_path_factory.getbasetemp() / "upload-images")
    library_directory = tmp_path / "library"
    with Library.open(library_directory, embedder=tiny_embedder) as library:
        options = IndexingOptions(batch_size=8, workers=1, show_progress=False)
        Indexer(library, tiny_embedder, options).index(
            [write_pictures(tmp_path / "p", 4)[0].parent]
        )
    model = ("--model", TINY_MODEL_NAME, "--pretrained", str(tiny_checkpoint))
    with running_server(
        library_directory, *model, model_config_directory=tiny_model_config_dir
    ) as server:
        (worker,) = server.worker_pids()
        # One small search first: what any first search loads (code, caches) is not the uploads'.
        warm = measure_upload_memory(server.port, worker, [images[2]])
        assert warm.statuses == [200], server.output
        result = measure_upload_memory(server.port, worker, images)
        print(json.dumps({"warm-up": warm.__dict__, "four uploads": result.__dict__}))
        assert result.statuses == [200, 200, 200, 200], result
        assert result.peak_delta_mb <= PEAK_BOUND_MB, result
        assert result.after_delta_mb <= AFTER_BOUND_MB, result
        assert resident_mb(worker) > 0
