"""Indexing a folder and searching it, through the Python API, with a tiny random-weights model.

Random weights make no semantic claim possible; these tests check identity, ranking arithmetic
and bookkeeping, which do not depend on what the weights learned.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    TINY_MODEL_NAME,
    DatabaseFactory,
    make_picture,
    reopen,
    write_pictures,
    write_tiny_checkpoint,
)

from pixsift.indexer.pipeline import Indexer, IndexingOptions, IndexingSummary
from pixsift.search.errors import InvalidInputError, ModelMismatchError, NotFoundError
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder

OPTIONS = IndexingOptions(batch_size=4, workers=1, show_progress=False)


def index(library: Library, embedder: OpenClipEmbedder, *roots: Path) -> IndexingSummary:
    return Indexer(library, embedder, OPTIONS).index(list(roots))


def test_index_then_find_each_image_by_itself(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    summary = index(library, tiny_embedder, picture_folder)
    assert (summary.added, summary.failed, summary.removed) == (16, 0, 0)
    assert library.stats().image_count == 16
    for path in [picture_folder / "picture-0003.png", picture_folder / "nested/picture-0101.jpg"]:
        best = library.search(image=path, k=3)[0]
        assert Path(best.path) == path
        assert best.score == pytest.approx(1.0, abs=2e-3)


def test_text_results_equal_brute_force_cosine_ranking(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    hits = library.search("a red bicycle leaning on a wall", k=16)
    image_ids, vectors = library.store.all_embeddings(tiny_embedder.model_id)
    query = tiny_embedder.embed_texts(["a red bicycle leaning on a wall"])[0]
    expected = vectors @ query
    order = np.argsort(-expected, kind="stable")
    assert [hit.id for hit in hits] == [int(image_ids[i]) for i in order]
    np.testing.assert_allclose([hit.score for hit in hits], expected[order], atol=1e-5)


def test_search_by_indexed_image_id(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    some_id = library.search("anything", k=1)[0].id
    assert library.search(image_id=some_id, k=1)[0].id == some_id
    with pytest.raises(NotFoundError):
        library.search(image_id=999_999)


def test_metadata_is_recorded(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    make_picture(1, size=(120, 80)).save(folder / "wide.jpg", quality=90)
    index(library, tiny_embedder, folder)
    record = library.search(image=folder / "wide.jpg", k=1)[0].image
    assert (record.width, record.height, record.format) == (120, 80, "JPEG")
    assert record.relative_path == "wide.jpg"
    assert record.root_path == str(folder.resolve())
    assert record.size_bytes == (folder / "wide.jpg").stat().st_size
    assert len(record.content_hash) == 40


def test_second_run_skips_unchanged_files(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    summary = index(library, tiny_embedder, picture_folder)
    assert (summary.added, summary.updated, summary.unchanged, summary.embedded) == (0, 0, 16, 0)


def test_modified_file_is_re_embedded_in_place(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    target = picture_folder / "picture-0002.png"
    old_id = library.search(image=target, k=1)[0].id
    make_picture(999).save(target)
    summary = index(library, tiny_embedder, picture_folder)
    assert (summary.updated, summary.embedded, summary.added) == (1, 1, 0)
    best = library.search(image=target, k=1)[0]
    assert best.id == old_id and best.score == pytest.approx(1.0, abs=2e-3)
    assert library.stats().image_count == 16


def test_deleted_file_leaves_the_index(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    target = picture_folder / "picture-0005.png"
    removed_id = library.search(image=target, k=1)[0].id
    target.unlink()
    summary = index(library, tiny_embedder, picture_folder)
    assert summary.removed == 1
    assert library.stats().image_count == 15
    all_hits = library.search("anything", k=100)
    assert removed_id not in {hit.id for hit in all_hits} and len(all_hits) == 15


def test_renamed_file_keeps_its_id_and_embedding(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    old_path = picture_folder / "picture-0004.png"
    old_id = library.search(image=old_path, k=1)[0].id
    new_path = picture_folder / "nested" / "renamed.png"
    old_path.rename(new_path)
    summary = index(library, tiny_embedder, picture_folder)
    assert (summary.moved, summary.embedded, summary.removed, summary.added) == (1, 0, 0, 0)
    best = library.search(image=new_path, k=1)[0]
    assert best.id == old_id and Path(best.path) == new_path


def test_copied_file_reuses_the_stored_embedding(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    shutil.copy(picture_folder / "picture-0001.png", picture_folder / "copy.png")
    summary = index(library, tiny_embedder, picture_folder)
    assert (summary.added, summary.embedded) == (1, 0)
    assert library.stats().image_count == 17


def test_hostile_files_are_skipped_with_reasons(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "hostile"
    write_pictures(folder, 3)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.png").write_text("this is not a picture")
    good = folder / "picture-0000.png"
    (folder / "truncated.png").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    summary = index(library, tiny_embedder, folder)
    assert (summary.added, summary.failed) == (3, 3)
    reasons = {Path(failure.path).name: failure.reason for failure in library.failures()}
    assert set(reasons) == {"empty.jpg", "notes.png", "truncated.png"}
    assert all(reasons.values())
    again = index(library, tiny_embedder, folder)
    assert (again.failed, again.still_failing) == (0, 3)


def test_a_fixed_file_leaves_the_failure_list(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "fixable"
    folder.mkdir()
    (folder / "later.png").write_bytes(b"")
    index(library, tiny_embedder, folder)
    assert len(library.failures()) == 1
    make_picture(3).save(folder / "later.png")
    summary = index(library, tiny_embedder, folder)
    assert summary.added == 1 and library.failures() == []


def test_non_utf8_file_names_are_indexed(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "names"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.png")
    make_picture(8).save(folder / name)
    summary = index(library, tiny_embedder, folder)
    assert summary.added == 1
    hit = library.search(image=folder / name, k=1)[0]
    # Shown as valid Unicode (U+FFFD for the undecodable byte), opened by its exact bytes.
    assert hit.path == str(folder.resolve() / "caf\ufffd.png")
    assert hit.image.relative_path == "caf\ufffd.png" and not hit.image.path_is_exact
    assert os.fsencode(hit.image.file_path) == os.fsencode(folder.resolve()) + b"/caf\xe9.png"


def test_hidden_folders_are_skipped_and_symlink_loops_do_not_loop(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "walk"
    write_pictures(folder, 2)
    write_pictures(folder / ".thumbnails", 2, first_seed=50)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    summary = index(library, tiny_embedder, folder)
    assert summary.added == 2


def test_missing_root_is_a_clear_error(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        index(library, tiny_embedder, tmp_path / "nowhere")


def test_other_model_on_same_library_is_an_error(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path, tmp_path: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    other_checkpoint = write_tiny_checkpoint(tmp_path / "other.pt", seed=1)
    other = OpenClipEmbedder.load(ModelSpec(TINY_MODEL_NAME, str(other_checkpoint)))
    with pytest.raises(ModelMismatchError):
        Indexer(library, other, OPTIONS)
    reopened = reopen(library, embedder=other)
    with pytest.raises(ModelMismatchError):
        reopened.search("anything")
    reopened.close()


def test_missing_index_files_are_scanned_exactly_until_a_writer_publishes(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    expected = [hit.id for hit in library.search("a cat", k=5)]
    shutil.rmtree(library.index_directory)
    reopened = reopen(library, embedder=tiny_embedder)
    # A reader never writes the index: it scans the stored vectors exactly instead.
    assert [hit.id for hit in reopened.search("a cat", k=5)] == expected
    assert not library.index_directory.exists() and reopened.stats().index_type == "none"
    reopened.rebuild_index()  # a writer publishes
    assert reopened.stats().index_type == "Flat"
    assert [hit.id for hit in reopened.search("a cat", k=5)] == expected
    reopened.close()


def test_bad_queries_are_clear_errors(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path, tmp_path: Path
) -> None:
    index(library, tiny_embedder, picture_folder)
    with pytest.raises(InvalidInputError):
        library.search("   ")
    with pytest.raises(InvalidInputError):
        library.search("cat", k=0)
    with pytest.raises(InvalidInputError):
        library.search()
    not_an_image = tmp_path / "x.png"
    not_an_image.write_text("nope")
    with pytest.raises(InvalidInputError):
        library.search(image=not_an_image)


def test_searching_an_empty_library_finds_nothing_without_loading_a_model(tmp_path: Path) -> None:
    from pixsift.search.query.request import QueryTerm, SearchRequest

    # Loading this model would fail: the empty library must answer without it.
    unavailable = ModelSpec(TINY_MODEL_NAME, str(tmp_path / "missing-weights.pt"))
    with Library.open(tmp_path / "empty", model_spec=unavailable) as empty:
        assert empty.search("anything") == []
        assert empty.find(SearchRequest((QueryTerm(text="anything"),))).hits == []


def test_an_emptied_library_rebuilt_without_the_model_still_answers_its_queries(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "short-lived"
    write_pictures(folder, 2)
    index(library, tiny_embedder, folder)
    for path in folder.iterdir():
        path.unlink()
    assert index(library, tiny_embedder, folder).removed == 2
    with reopen(library) as without_model:  # as `pixsift rebuild-index` runs
        assert without_model.rebuild_index().count == 0
    with reopen(library, embedder=tiny_embedder) as reopened:
        assert reopened.search("anything") == []


def test_batches_embedded_behind_the_decoders_store_the_vectors_of_one_batch(
    tmp_path: Path,
    library: Library,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> None:
    """With batches of 2 the model embeds each batch on its thread while the next is gathered;
    every picture gets the vector one big batch gives it, and a copy met in a later batch of
    the same run reuses the stored embedding (the batch before it was committed first)."""
    folder = tmp_path / "pictures"
    write_pictures(folder, 9)
    # Sorted last: the batch right after its original's ([6, 7], then [8, copy]).
    shutil.copy(folder / "picture-0007.png", folder / "zz-copy.png")
    small = Indexer(
        library, tiny_embedder, IndexingOptions(batch_size=2, workers=1, show_progress=False)
    )
    summary = small.index([folder])
    assert (summary.added, summary.embedded) == (10, 9)
    one_batch = Library.open(
        tmp_path / "one-batch", database_url=new_database_url(), embedder=tiny_embedder
    )
    try:
        Indexer(
            one_batch, tiny_embedder, IndexingOptions(batch_size=64, workers=1, show_progress=False)
        ).index([folder])
        vectors = {}
        for opened in (library, one_batch):
            image_ids, matrix = opened.store.all_embeddings(tiny_embedder.model_id)
            records = opened.images([int(image_id) for image_id in image_ids])
            vectors[opened] = {
                Path(records[int(i)].absolute_path).name: row
                for i, row in zip(image_ids, matrix, strict=True)
            }
        assert (
            sorted(vectors[library]) == sorted(vectors[one_batch]) and len(vectors[library]) == 10
        )
        for name, vector in vectors[library].items():
            other = vectors[one_batch][name]
            cosine = float(vector @ other) / float(np.linalg.norm(vector) * np.linalg.norm(other))
            assert cosine >= 0.99999, name
    finally:
        one_batch.close()
