"""PostgreSQL as a first-class store, and what several writers on one database rely on: keyword
search through the database's own full-text index, ids that never collide after a bulk import,
index generations stamped one writer at a time, and two indexing processes at once.

Tests taking ``library`` run on SQLite and on PostgreSQL; the ``postgresql``-marked ones need the
throwaway server (see conftest.postgres_server)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import make_picture, write_pictures
from sqlalchemy import delete, func, inspect, select, update
from waiting import communicate

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.keywords import KeywordMatcher, parse_keyword_query
from pixsift.search.storage.bulk import insert_vectors
from pixsift.search.storage.database import create_database_engine, upgrade_database
from pixsift.search.storage.models import Embedding, Image
from pixsift.search.storage.store import IndexingBatch, NewImage
from pixsift.search.storage.writes import write_batch
from pixsift.search.vectors.sidecar import read_sidecar

OPTIONS = IndexingOptions(workers=1, show_progress=False)


def keyword_ids(library: Library, text: str) -> list[int]:
    return KeywordMatcher(library.store.engine).ranked_ids(parse_keyword_query(text), 100)


def ids_by_name(library: Library) -> dict[str, int]:
    with library.store.session() as session:
        return {
            path: image_id
            for image_id, path in session.execute(select(Image.id, Image.relative_path))
        }


def test_keyword_search_splits_names_ignores_case_and_ranks_fuller_matches_first(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "named"
    folder.mkdir()
    for seed, name in enumerate(
        ["IMG_2024-Beach.png", "beach_sunset.png", "Sunset.png", "café-dog.png"]
    ):
        make_picture(seed).save(folder / name)
    Indexer(library, tiny_embedder, OPTIONS).index([folder])
    ids = ids_by_name(library)
    assert set(keyword_ids(library, "beach")) == {
        ids["IMG_2024-Beach.png"],
        ids["beach_sunset.png"],
    }
    assert keyword_ids(library, "2024") == [ids["IMG_2024-Beach.png"]]
    assert keyword_ids(library, "CAFÉ") == [ids["café-dog.png"]]
    # Any word matches; an image holding both words ranks first.
    assert keyword_ids(library, "beach sunset")[0] == ids["beach_sunset.png"]
    assert len(keyword_ids(library, "beach sunset")) == 3
    # A quoted phrase must appear, words in that order.
    assert keyword_ids(library, 'dog "beach sunset"') == [ids["beach_sunset.png"]]
    assert keyword_ids(library, '"sunset beach"') == []
    # Query syntax of either engine is only words here.
    assert (
        keyword_ids(library, "beach & !sunset | or OR NOT -x:*") != []
        and keyword_ids(library, "'") == []
    )


def test_keyword_index_follows_updates_and_deletes(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    Indexer(library, tiny_embedder, OPTIONS).index([picture_folder])
    first, second = sorted(ids_by_name(library).values())[:2]
    with library.store.session() as session:
        session.execute(update(Image).where(Image.id == first).values(description="A red kite"))
        session.execute(update(Image).where(Image.id == second).values(keywords="kite, wind"))
    assert sorted(keyword_ids(library, "kite")) == [first, second]
    assert keyword_ids(library, "wind") == [second]
    with library.store.session() as session:
        session.execute(delete(Embedding).where(Embedding.image_id == second))
        session.execute(delete(Image).where(Image.id == second))
    assert keyword_ids(library, "kite") == [first]


@pytest.mark.postgresql
def test_postgresql_migrations_add_full_text_search_and_round_trip(postgres_url: str) -> None:
    from alembic import command

    from pixsift.search.storage.database import alembic_config, database_revision, migration_heads

    engine = create_database_engine(postgres_url)
    try:
        columns = {column["name"]: column for column in inspect(engine).get_columns("images")}
        assert "search_text" in columns and columns["search_text"]["computed"]["persisted"]
        indexes = {index["name"]: index for index in inspect(engine).get_indexes("images")}
        assert indexes["ix_images_search_text"]["dialect_options"]["postgresql_using"] == "gin"
        config = alembic_config(postgres_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        assert "search_text" not in {c["name"] for c in inspect(engine).get_columns("images")}
        upgrade_database(engine)
        assert database_revision(engine) == tuple(migration_heads())  # the head
    finally:
        engine.dispose()


def test_bulk_import_then_indexing_never_reuses_an_id(
    library: Library, tiny_embedder: OpenClipEmbedder, picture_folder: Path
) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((50, tiny_embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    bulk_ids = insert_vectors(library.store, vectors, model_id=tiny_embedder.model_id, chunk=20)
    assert len(set(bulk_ids.tolist())) == 50
    Indexer(library, tiny_embedder, OPTIONS).index([picture_folder])  # sequence-assigned ids
    assert library.store.image_count() == 50 + 16
    indexed = set(ids_by_name(library).values()) - set(bulk_ids.tolist())
    assert len(indexed) == 16 and min(indexed) > max(bulk_ids)
    more = insert_vectors(library.store, vectors[:5], model_id=tiny_embedder.model_id)
    assert min(more) > max(indexed) and library.store.image_count() == 71
    assert len(library.search("shapes", k=100)) == 71


def new_image(library: Library, name: str, dimension: int) -> NewImage:
    from pixsift.search.records import ImageFacts

    return NewImage(
        root_id=library.store.ensure_root(b"/concurrent"),
        path_bytes=f"/concurrent/{name}".encode(),
        relative_path=name,
        size_bytes=1,
        mtime_ns=1,
        content_hash=name,
        facts=ImageFacts(width=1, height=1, format="PNG"),
        embedding=np.ones(dimension, dtype=np.float32) / np.sqrt(dimension),
    )


def test_a_second_writer_waits_for_the_generation_and_stamps_the_next(
    library: Library, tiny_embedder: OpenClipEmbedder
) -> None:
    """A published index of generation G must hold every row stamped G: so a writer whose
    transaction overlaps another's waits for it, then stamps (and publishes) the next one."""
    model_id, dimension = tiny_embedder.model_id, tiny_embedder.dimension
    library.store.claim_model(model_id)
    start = library.store.index_generation()
    second_done = threading.Event()

    def second_writer() -> None:
        batch = IndexingBatch([new_image(library, "second.png", dimension)], [], [])
        library.store.commit_batch(batch, model_id)
        second_done.set()

    with library.store.session() as session:
        write_batch(
            session, IndexingBatch([new_image(library, "first.png", dimension)], [], []), model_id
        )
        thread = threading.Thread(target=second_writer)
        thread.start()
        assert not second_done.wait(1.0), (
            "the second writer stamped while the first held the generation"
        )
    thread.join(60)
    assert second_done.is_set()
    with library.store.session() as session:
        rows = session.execute(select(Image.relative_path, Embedding.generation).join(Embedding))
        stamps = {name: generation for name, generation in rows}
    assert stamps == {"first.png": start + 1, "second.png": start + 2}
    assert library.store.index_generation() == start + 2


INDEXING_PROCESS = """
import sys, open_clip
open_clip.add_model_config(sys.argv[1])
from pixsift.cli.main import main
main(sys.argv[2:])
"""


@pytest.mark.postgresql
def test_two_indexing_processes_write_one_database(
    postgres_url: str,
    tmp_path: Path,
    tiny_model_config_dir: Path,
    tiny_spec,
    tiny_embedder: OpenClipEmbedder,
) -> None:
    shared = tmp_path / "shared"
    write_pictures(shared, 16)
    own = [tmp_path / "own-a", tmp_path / "own-b"]
    write_pictures(own[0], 6, first_seed=100)
    write_pictures(own[1], 6, first_seed=200)
    library_directory = tmp_path / "library"  # one index directory, as on a shared volume
    Library.open(library_directory, database_url=postgres_url).close()
    arguments = [
        "--library", str(library_directory), "--database-url", postgres_url, "--batch-size", "2",
        "--workers", "1", "--no-progress", "--model", tiny_spec.model_name,
        "--pretrained", tiny_spec.pretrained,
    ]  # fmt: skip
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                INDEXING_PROCESS,
                str(tiny_model_config_dir),
                "index",
                str(shared),
                str(folder),
                *arguments,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # torch runs the tiny model at once; the default ONNX towers would be exported first.
            env={**os.environ, "PIXSIFT_BACKEND": "torch"},
        )
        for folder in own
    ]
    outputs = [
        communicate(process, "indexing process")[0].decode(errors="replace")
        for process in processes
    ]
    assert [process.returncode for process in processes] == [0, 0], outputs
    expected = {str(path).encode() for folder in (shared, *own) for path in folder.iterdir()}
    with Library.open(
        library_directory, database_url=postgres_url, embedder=tiny_embedder
    ) as library:
        with library.store.session() as session:
            paths = list(session.scalars(select(Image.path_bytes)))
            embedded = session.scalar(select(func.count()).select_from(Embedding))
        assert len(paths) == len(set(paths)) == 28 and set(paths) == expected and embedded == 28
        # The later writer published after both committed: its index holds every image.
        sidecar = read_sidecar(library.index_directory)
        assert sidecar.generation == library.store.index_generation() and sidecar.count == 28
        assert len(library.search("shapes", k=100)) == 28


def test_an_unsupported_database_url_is_a_clear_error(tmp_path: Path) -> None:
    from pixsift.search.errors import LibraryError

    for url, message in [
        ("mysql://user@host/pixsift", "not mysql"),
        ("nonsense", "not a database URL"),
    ]:
        with pytest.raises(LibraryError, match=message):
            Library.open(tmp_path / "library", database_url=url)
