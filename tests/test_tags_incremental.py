"""Tagging that costs what changed: label embeddings made once per model and reused, a run that
adds a picture tags that picture only, a new vocabulary re-tags everything, and tagging runs
after the index is published, so search works while it runs and when it fails."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DatabaseFactory, reopen, write_pictures

import pixsift.search.tags.service as service
from pixsift.cli import background_tagging
from pixsift.cli.background_tagging import labels_ready
from pixsift.cli.main import main
from pixsift.indexer.options import IndexingOptions
from pixsift.indexer.pipeline import Indexer
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.records import EmbeddingMatrix
from pixsift.search.storage.vector_reads import StoredVectors
from pixsift.search.tags.service import LibraryTags
from pixsift.search.tags.tagging import TaggingOptions
from pixsift.search.tags.vocabulary import Vocabulary

LABELS = ("dog", "beach", "car", "tree", "cake", "city")
PICTURES = 6


class CountingEmbedder:
    """The tiny model, counting the texts it is asked to embed."""

    def __init__(self, inner: OpenClipEmbedder) -> None:
        self.inner = inner
        self.texts_embedded = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed_texts(self, texts: Sequence[str]) -> EmbeddingMatrix:
        self.texts_embedded += len(texts)
        return self.inner.embed_texts(texts)


@pytest.fixture
def counting(tiny_embedder: OpenClipEmbedder) -> CountingEmbedder:
    return CountingEmbedder(tiny_embedder)


@pytest.fixture
def indexed(
    tmp_path: Path, counting: CountingEmbedder, new_database_url: DatabaseFactory
) -> tuple[Library, Path]:
    library = Library.open(tmp_path / "library", database_url=new_database_url(), embedder=counting)
    folder = tmp_path / "pictures"
    write_pictures(folder, PICTURES)
    summary = Indexer(library, counting, _options()).index([folder])
    assert summary.added == PICTURES and summary.tagging_failure is None
    yield library, folder
    library.close()


def _options() -> IndexingOptions:
    return IndexingOptions(batch_size=4, workers=1, show_progress=False)


def _tags(library: Library, cache: Path, labels: Sequence[str] = LABELS) -> LibraryTags:
    return LibraryTags(library, vocabulary=Vocabulary(tuple(labels)), cache_directory=cache)


def _tagged_ids(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Records the image ids each tagging writes the automatic tags of."""
    calls: list[list[int]] = []
    original = service.replace_automatic_tags

    def spy(session, tags, image_ids):  # the original's signature
        calls.append(sorted(image_ids))
        return original(session, tags, image_ids)

    monkeypatch.setattr(service, "replace_automatic_tags", spy)
    return calls


def _hits(library: Library) -> int:
    request = SearchRequest((QueryTerm(text="a picture"),), mode="semantic", k=50)
    return len(library.find(request).hits)


def test_labels_are_embedded_once_per_model_and_reused(indexed, counting, tmp_path) -> None:
    library, _ = indexed
    cache = tmp_path / "label-cache"
    before = counting.texts_embedded
    _tags(library, cache).recompute()
    first = counting.texts_embedded - before
    assert first == len(LABELS) * len(Vocabulary(LABELS).templates)
    # Another tagging, by another service object (as the next run makes): from the cache.
    _tags(library, cache).recompute()
    _tags(reopen(library, embedder=counting), cache).recompute()
    assert counting.texts_embedded - before == first


def test_a_run_that_adds_one_picture_tags_only_that_picture(indexed, counting, monkeypatch):
    library, folder = indexed
    calls = _tagged_ids(monkeypatch)
    # Nothing changed: nothing is tagged.
    assert Indexer(library, counting, _options()).index([folder]).added == 0
    assert calls == []
    write_pictures(folder, 1, first_seed=500)
    assert Indexer(library, counting, _options()).index([folder]).added == 1
    new_id = int(StoredVectors(library.store).all(counting.model_id)[0].max())
    assert calls == [[new_id]]


def test_changing_the_vocabulary_or_calibration_tags_everything_again(indexed, tmp_path):
    library, _ = indexed
    cache = tmp_path / "label-cache"
    assert _tags(library, cache).update().images == PICTURES  # another vocabulary than the run's
    assert _tags(library, cache).update().images == 0
    assert _tags(library, cache, LABELS[:4]).update().images == PICTURES
    assert _tags(library, cache, LABELS[:4]).update().images == 0
    stricter = LibraryTags(
        library,
        vocabulary=Vocabulary(LABELS[:4]),
        options=TaggingOptions(min_z=2.5),
        cache_directory=cache,
    )
    assert stricter.update().images == PICTURES


def test_search_works_while_tagging_runs_and_when_it_fails(
    tmp_path, counting, new_database_url, monkeypatch
) -> None:
    library = Library.open(tmp_path / "library", database_url=new_database_url(), embedder=counting)
    folder = tmp_path / "pictures"
    write_pictures(folder, PICTURES)
    seen_during_tagging: list[int] = []

    def failing_labels(self: LibraryTags) -> np.ndarray:
        # Tagging has begun: another process searching the library finds every picture.
        other = reopen(library, embedder=counting)
        seen_during_tagging.append(_hits(other))
        other.close()
        raise OSError("no space left for the label cache")

    monkeypatch.setattr(LibraryTags, "label_embeddings", failing_labels)
    summary = Indexer(library, counting, _options()).index([folder])
    assert seen_during_tagging == [PICTURES]
    assert summary.added == PICTURES
    assert summary.tagging_failure == "OSError: no space left for the label cache"
    assert _hits(library) == PICTURES
    # The next run, with nothing new on disk, tags what the failed one did not.
    monkeypatch.undo()
    calls = _tagged_ids(monkeypatch)
    again = Indexer(library, counting, _options()).index([folder])
    assert again.added == 0 and again.tagging_failure is None
    assert [len(ids) for ids in calls] == [PICTURES]
    library.close()


def test_tags_update_command_tags_what_is_new_and_labels_are_then_ready(
    tmp_path, tiny_embedder, tiny_spec, monkeypatch
) -> None:
    """What ``pixsift index`` starts in the background on a model's first run."""
    monkeypatch.setenv("PIXSIFT_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "pictures"
    write_pictures(folder, PICTURES)
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as library:
        assert not labels_ready(library)
        options = IndexingOptions(batch_size=4, workers=1, show_progress=False, tag=False)
        Indexer(library, tiny_embedder, options).index([folder])
        assert _hits(library) == PICTURES  # searchable before any tag exists
        assert not labels_ready(library)
    command = ["tags", "update", "--library", str(tmp_path / "library")]
    command += ["--model", tiny_spec.model_name, "--pretrained", str(tiny_spec.pretrained)]
    first = CliRunner().invoke(main, command)
    assert first.exit_code == 0, first.output
    assert f"of {PICTURES} images" in first.output
    again = CliRunner().invoke(main, command)
    assert again.exit_code == 0 and "of 0 images" in again.output
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as library:
        assert labels_ready(library)


def test_calibration_sample_is_bounded_and_made_of_stored_vectors(library: Library) -> None:
    model_id = library.embedder.model_id
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(30, library.embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    library.import_vectors(vectors, model_id=model_id)
    stored = StoredVectors(library.store)
    assert len(stored.sample(model_id, 100)) == 30  # a small library is read whole
    sample = stored.sample(model_id, 10)
    assert 5 <= len(sample) <= 10
    # Each sampled row is one of the stored vectors (float16 precision).
    distances = np.abs(sample[:, None, :] - vectors[None, :, :]).max(axis=2).min(axis=1)
    assert distances.max() < 2e-3


def test_a_first_run_leaves_tagging_to_the_background_unless_told_not_to(
    tmp_path, tiny_embedder, monkeypatch
) -> None:
    monkeypatch.setenv("PIXSIFT_CACHE_DIR", str(tmp_path / "cache"))
    started: list[Library] = []
    monkeypatch.setattr(
        background_tagging, "start_background_tagging", lambda library, url: started.append(url)
    )
    folder = tmp_path / "pictures"
    write_pictures(folder, PICTURES)
    with Library.open(tmp_path / "library", embedder=tiny_embedder) as library:
        monkeypatch.setenv("PIXSIFT_BACKGROUND_TAGGING", "1")
        assert not background_tagging.tags_inline(library)
        options = IndexingOptions(batch_size=4, workers=1, show_progress=False, tag=False)
        summary = Indexer(library, tiny_embedder, options).index([folder])
        background_tagging.finish_tagging(library, summary, True, None)
        assert started == [None] and summary.tagged == 0
        # Told to tag inline (as the tests' runs are), the run tags before it ends.
        monkeypatch.setenv("PIXSIFT_BACKGROUND_TAGGING", "0")
        background_tagging.finish_tagging(library, summary, True, None)
        assert started == [None] and summary.tagging_failure is None
        assert background_tagging.labels_ready(library)
        assert LibraryTags(library).update().images == 0  # all were tagged
