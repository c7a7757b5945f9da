"""One image-facts record: every fact declared in ImageFacts is a column of the same name, is
stored and read back without being listed anywhere else, is exported, and is in the record's
JSON schema."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest

from pixsift.search.library import Library
from pixsift.search.query.export import EXPORT_COLUMNS, hit_row
from pixsift.search.records import ImageFacts, ImageRecord, SearchHit
from pixsift.search.storage.models import Image
from pixsift.search.storage.rows import IMAGE_RECORD_COLUMNS
from pixsift.search.storage.writes import IndexingBatch, NewImage

#: A value for every fact, none of them a default, so a fact that is not stored shows.
EVERY_FACT = ImageFacts(
    width=640,
    height=480,
    format="JPEG",
    taken_at=datetime(2021, 7, 14, 9, 30, 5),
    camera_make="Canon",
    camera_model="EOS 5D",
    gps_latitude=48.8584,
    gps_longitude=2.2945,
    description="the tower at dawn",
    keywords="paris, tower",
)


def test_every_fact_has_a_value_in_the_sample() -> None:
    defaults = ImageFacts(width=0, height=0, format="")
    assert all(
        getattr(EVERY_FACT, name) != getattr(defaults, name) for name in ImageFacts.model_fields
    )


@pytest.mark.parametrize("name", list(ImageFacts.model_fields))
def test_each_fact_is_an_images_column_of_the_same_name(name: str) -> None:
    column = Image.__table__.columns.get(name)
    assert column is not None, f"ImageFacts.{name} has no images column"
    assert column.nullable == (not ImageFacts.model_fields[name].is_required())
    assert name in IMAGE_RECORD_COLUMNS


@pytest.mark.parametrize("name", list(ImageFacts.model_fields))
def test_each_fact_is_exported_and_in_the_record_schema(name: str) -> None:
    assert name in EXPORT_COLUMNS
    for mode in ("validation", "serialization"):
        assert name in ImageRecord.model_json_schema(mode=mode)["properties"]


def test_the_record_schema_has_the_display_fields_and_never_the_bytes() -> None:
    properties = ImageRecord.model_json_schema(mode="serialization")["properties"]
    assert {"name", "path_is_exact", "absolute_path", "relative_path", "root_path"} <= set(
        properties
    )
    assert not any("bytes" in name and name != "size_bytes" for name in properties)


def test_facts_are_stored_and_read_back_whole(library: Library) -> None:
    store = library.store
    root_id = store.ensure_root(b"/photos")
    vector = np.ones(library.embedder.dimension, dtype=np.float32)
    new_image = NewImage(
        root_id, b"/photos/tower.jpg", "tower.jpg", 1234, 5, "hash", EVERY_FACT, vector
    )
    store.commit_batch(IndexingBatch([new_image], [], []), "model")
    image_ids, _ = store.all_embeddings("model")
    (record,) = store.images_by_ids(image_ids.tolist()).values()
    assert ImageFacts.model_validate(record.model_dump(include=set(ImageFacts.model_fields))) == (
        EVERY_FACT
    )
    assert (record.relative_path, record.absolute_path, record.root_path, record.name) == (
        "tower.jpg",
        "/photos/tower.jpg",
        "/photos",
        "tower.jpg",
    )
    assert (record.size_bytes, record.mtime_ns, record.content_hash) == (1234, 5, "hash")

    row = hit_row(SearchHit(record, score=0.5, similarity=0.25))
    assert list(row) == list(EXPORT_COLUMNS)
    assert row["taken_at"] == "2021-07-14T09:30:05" and row["date_source"] == "taken"
    assert {name: row[name] for name in ImageFacts.model_fields} == EVERY_FACT.model_dump(
        mode="json"
    )
    json.dumps(row)
