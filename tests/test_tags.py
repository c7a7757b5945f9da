"""Zero-shot tags with planted vectors: label embeddings and image embeddings are made so that
one label stands clearly above the library's distribution for known images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixsift.search.errors import InvalidInputError, NotFoundError
from pixsift.search.library import Library
from pixsift.search.query.request import QueryTerm, SearchFilters, SearchRequest
from pixsift.search.records import l2_normalise
from pixsift.search.tags.contract import TagNames
from pixsift.search.tags.labels import label_cache_path, label_embeddings
from pixsift.search.tags.service import LibraryTags
from pixsift.search.tags.tagging import TaggingOptions, calibrated_tags
from pixsift.search.tags.vocabulary import Vocabulary, default_vocabulary

LABELS = ("dog", "beach", "car", "tree", "cake", "city", "snow", "boat", "cat", "guitar")
DOGS = 5
IMAGES = 60


def planted(dimension: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Label embeddings, and image embeddings whose first DOGS rows lie close to "dog"."""
    rng = np.random.default_rng(seed)
    labels = l2_normalise(rng.normal(size=(len(LABELS), dimension)))
    images = l2_normalise(rng.normal(size=(IMAGES, dimension)))
    noise = rng.normal(size=(DOGS, dimension)) * 0.05
    images[:DOGS] = l2_normalise(labels[0] + noise)
    return labels, images


@pytest.fixture
def tagged(library: Library, tmp_path: Path) -> tuple[Library, LibraryTags, list[int]]:
    model_id = library.embedder.model_id
    labels, images = planted(library.embedder.dimension)
    vocabulary = Vocabulary(LABELS)
    cache = tmp_path / "cache"
    path = label_cache_path(cache, model_id, vocabulary)
    path.parent.mkdir(parents=True)
    np.save(path, labels)  # the planted label embeddings stand in for the model's prompts
    ids = library.import_vectors(images, model_id=model_id)
    tags = LibraryTags(library, vocabulary=vocabulary, cache_directory=cache)
    return library, tags, ids


def shown(tags: LibraryTags, image_id: int) -> set[str]:
    return {tag for tag, _ in tags.of_image(image_id).tags}


def test_calibrated_tags_find_the_planted_label_and_only_there(tagged) -> None:
    library, tags, ids = tagged
    report = tags.recompute()
    assert report.images == IMAGES
    for image_id in ids[:DOGS]:
        assert "dog" in shown(tags, image_id)
    assert not any("dog" in shown(tags, image_id) for image_id in ids[DOGS:])
    counts = {count.tag: count for count in tags.counts()}
    assert counts["dog"].images == DOGS and counts["dog"].automatic == DOGS
    # The record carries them, for results and the detail page.
    assert "dog" in library.image(ids[0]).tags


def test_a_label_above_everyone_is_no_tag_and_top_k_limits_each_image() -> None:
    rng = np.random.default_rng(3)
    labels = l2_normalise(rng.normal(size=(4, 16)))
    # Every image is close to label 0: nothing is unusual about it, so nobody gets it.
    images = l2_normalise(labels[0] + rng.normal(size=(40, 16)) * 0.05)
    found = calibrated_tags(np.arange(1, 41), images, labels, ["a", "b", "c", "d"])
    assert not any("a" in image_tags for image_tags in found.values())
    wide = calibrated_tags(
        np.arange(1, 41), images, labels, list("abcd"), TaggingOptions(top_k=1, min_z=0)
    )
    assert all(len(image_tags) <= 1 for image_tags in wide.values())


def test_manual_tags_survive_recompute_and_removed_tags_stay_removed(tagged) -> None:
    _, tags, ids = tagged
    tags.recompute()
    tags.add(ids[10], TagNames.parse({"tags": ["Birthday Party"]}))
    tags.remove(ids[0], TagNames.parse({"tags": ["dog"]}))
    report = tags.recompute()
    assert "birthday party" in shown(tags, ids[10])
    assert "dog" not in shown(tags, ids[0])
    assert "dog" in shown(tags, ids[1])
    assert report.tags_added == 0  # nothing changed, nothing written
    # Adding it back by hand undoes the removal, and it is then the user's.
    tags.add(ids[0], TagNames.parse({"tags": ["dog"]}))
    assert ("dog", "manual") in tags.of_image(ids[0]).tags


def test_tag_filter_and_keyword_search_find_tagged_images(tagged) -> None:
    library, tags, ids = tagged
    tags.recompute()
    request = SearchRequest(
        (QueryTerm(text="anything"),), mode="semantic", k=50, filters=SearchFilters(tag=("Dog",))
    )
    assert {hit.id for hit in library.find(request).hits} == set(ids[:DOGS])
    keyword = SearchRequest((QueryTerm(text="dog"),), mode="keyword", k=50)
    assert {hit.id for hit in library.find(keyword).hits} == set(ids[:DOGS])
    # Editing tags changes what the filter selects (its cache knows).
    tags.remove(ids[1], TagNames.parse({"tags": ["dog"]}))
    tags.add(ids[30], TagNames.parse({"tags": ["dog"]}))
    expected = (set(ids[:DOGS]) - {ids[1]}) | {ids[30]}
    assert {hit.id for hit in library.find(request).hits} == expected
    assert {hit.id for hit in library.find(keyword).hits} == expected


def test_bad_tag_edits_are_refused(tagged) -> None:
    _, tags, _ = tagged
    with pytest.raises(InvalidInputError):
        TagNames.parse({"tags": ["   "]})
    with pytest.raises(InvalidInputError):
        TagNames.parse({"tags": []})
    with pytest.raises(NotFoundError):
        tags.add(10**9, TagNames.parse({"tags": ["x"]}))


def test_label_embeddings_are_ensembled_once_and_cached(library: Library, tmp_path: Path) -> None:
    vocabulary = Vocabulary(("dog", "beach"))
    first = label_embeddings(library.embedder, vocabulary, tmp_path)
    path = label_cache_path(tmp_path, library.embedder.model_id, vocabulary)
    assert path.exists() and first.shape == (2, library.embedder.dimension)
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    np.save(path, first[::-1])  # the cache, not the model, answers the second call
    assert np.array_equal(label_embeddings(library.embedder, vocabulary, tmp_path), first[::-1])


def test_the_shipped_vocabulary_is_a_few_hundred_everyday_labels() -> None:
    labels = default_vocabulary().labels
    assert 300 <= len(labels) <= 800 and len(set(labels)) == len(labels)
    assert {"dog", "cat", "beach", "wedding", "sunset", "car", "watercolor"} <= set(labels)
    assert "golden retriever" not in labels  # breeds are merged into "dog"
