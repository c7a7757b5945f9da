"""The query engine: filters inside the search, combined and negative terms, keyword hybrid,
pagination, near-duplicates and export. Exact index; answers compared with brute force."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import DatabaseFactory, make_picture
from PIL import Image

from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.errors import InvalidInputError
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder, l2_normalise
from pixsift.search.query.export import hits_to_csv
from pixsift.search.query.filters import filtered_image_ids
from pixsift.search.query.request import GeoBox, QueryTerm, SearchFilters, SearchRequest
from pixsift.search.records import ImageFacts, ImageRecord
from pixsift.search.storage.store import IndexingBatch, NewImage

SIZES = [(96, 64), (64, 96), (80, 80)]
FORMATS = [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")]
CAMERAS = [("Canon", "EOS 5D"), ("NIKON", "D750"), (None, None)]


def exif_for(index: int) -> Image.Exif:
    exif = Image.Exif()
    make, model = CAMERAS[index % 3]
    if make:
        exif[0x010F], exif[0x0110] = make, model
        exif.get_ifd(0x8769)[0x9003] = f"20{10 + index % 12:02d}:06:01 12:00:00"
    if index % 4 == 0:
        gps = exif.get_ifd(0x8825)
        gps.update({1: "N", 2: (48.0, float(index % 10), 0.0), 3: "E", 4: (2.0, 20.0, 0.0)})
    return exif


@pytest.fixture(scope="module")
def engine_library(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Library:
    folder = tmp_path_factory.mktemp("engine") / "photos"
    for index in range(36):
        name, suffix = FORMATS[index % 3]
        subfolder = folder / ("trips/beach" if index % 2 else "home")
        subfolder.mkdir(parents=True, exist_ok=True)
        path = subfolder / f"img-{index:03d}{suffix}"
        make_picture(index, size=SIZES[index % 3]).save(path, name, exif=exif_for(index))
        os.utime(path, ns=(1_500_000_000_000_000_000 + index * 10**15,) * 2)
    make_picture(500).save(folder / "home" / "zebra-crossing.png")
    library = Library.open(
        tmp_path_factory.mktemp("engine-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    Indexer(library, tiny_embedder, IndexingOptions(workers=1, show_progress=False)).index([folder])
    yield library
    library.close()


def all_records(library: Library) -> list[ImageRecord]:
    return list(
        library.images(filtered_image_ids(library.store.engine, SearchFilters()).tolist()).values()
    )


def brute_force(library: Library, query: np.ndarray, keep, k: int) -> list[int]:
    image_ids, vectors = library.store.all_embeddings(library.store.model_id())
    records = library.images(image_ids.tolist())
    scores = vectors @ query
    candidates = [
        (float(s), int(i)) for i, s in zip(image_ids, scores, strict=True) if keep(records[int(i)])
    ]
    return [image_id for _, image_id in sorted(candidates, key=lambda c: (-c[0], c[1]))[:k]]


FILTER_CASES = [
    (SearchFilters(folder="trips/beach"), lambda r: r.relative_path.startswith("trips/beach/")),
    (SearchFilters(path="*/img-0?1.*"), lambda r: Path(r.relative_path).name[:7] in {f"img-0{d}1" for d in "0123456789"}),
    (SearchFilters(orientation="portrait"), lambda r: r.height > r.width),
    (SearchFilters(orientation="square", format=("webp",), folder="home"), lambda r: r.width == r.height and r.format == "WEBP" and r.relative_path.startswith("home/")),
    (SearchFilters(camera_make="canon"), lambda r: r.camera_make == "Canon"),
    (SearchFilters(camera_model="D750", min_height=90), lambda r: r.camera_model == "D750" and r.height >= 90),
    (SearchFilters(has_gps=True), lambda r: r.gps_latitude is not None),
    (SearchFilters(has_gps=False, format=("PNG", "WEBP")), lambda r: r.gps_latitude is None and r.format in {"PNG", "WEBP"}),
    (SearchFilters(gps_box=GeoBox(47.5, 2.0, 48.1, 2.5)), lambda r: r.gps_latitude is not None and r.gps_latitude <= 48.1),
    (SearchFilters(after=datetime(2015, 1, 1), before=datetime(2019, 12, 31)), lambda r: datetime(2015, 1, 1) <= r.date_with_source()[0] <= datetime(2019, 12, 31)),
    (SearchFilters(max_megapixels=0.0062, min_size=1), lambda r: r.width * r.height <= 6200),
    (SearchFilters(max_height=70, folder="home"), lambda r: r.height <= 70 and r.relative_path.startswith("home/")),
]  # fmt: skip


@pytest.mark.parametrize(("filters", "keep"), FILTER_CASES)
def test_filtered_results_equal_brute_force_over_the_subset(
    engine_library: Library, tiny_embedder: OpenClipEmbedder, filters: SearchFilters, keep
) -> None:
    # Every picture, as the brute force sees them: no stacks (the seeded model finds some of these
    # same-camera, same-second pictures near-identical, which makes them a burst).
    request = SearchRequest(
        (QueryTerm(text="a sunny day"),), filters=filters, mode="semantic", k=5, stacks=False
    )
    hits = engine_library.find(request).hits
    query = tiny_embedder.embed_texts(["a sunny day"])[0]
    expected = brute_force(engine_library, query, keep, 5)
    assert expected, "the filter case should match something"
    assert [hit.id for hit in hits] == expected


def test_a_filter_matching_one_in_a_thousand_still_fills_the_page(
    library: Library, tiny_embedder: OpenClipEmbedder
) -> None:
    library.claim_model(tiny_embedder)
    root_id = library.store.ensure_root(b"/synthetic")
    rng = np.random.default_rng(7)
    vectors = l2_normalise(rng.standard_normal((5000, tiny_embedder.dimension)))
    batch = IndexingBatch(
        [
            NewImage(root_id, f"/synthetic/{i}.jpg".encode(), f"{i}.jpg", 1, 0, f"h{i}",
                     ImageFacts(width=640 if i % 1000 else 480,
                                height=480 if i % 1000 else 640, format="JPEG"),
                     vectors[i])
            for i in range(5000)
        ],
        [], [],
    )  # fmt: skip
    library.store.commit_batch(batch, tiny_embedder.model_id)
    request = SearchRequest(
        (QueryTerm(text="x"),),
        filters=SearchFilters(orientation="portrait"),
        mode="semantic",
        k=5,
        weaker=True,  # random vectors: none stands out as a match
    )
    hits = library.find(request).hits
    assert len(hits) == 5 and all(hit.image.height > hit.image.width for hit in hits)


def rank_of(hits: list, image_id: int) -> int:
    ids = [hit.id for hit in hits]
    return ids.index(image_id) if image_id in ids else len(ids)


def test_a_negative_term_lowers_the_images_it_names(engine_library: Library) -> None:
    base = (QueryTerm(text="a photo"),)
    before = engine_library.find(SearchRequest(base, mode="semantic", k=37)).hits
    named = before[0].id
    minus = (*base, QueryTerm(image_id=named, weight=-1.0))
    after = engine_library.find(SearchRequest(minus, mode="semantic", k=37)).hits
    assert rank_of(after, named) > rank_of(before, named)


def test_terms_need_a_positive_weight_and_cannot_cancel(engine_library: Library) -> None:
    with pytest.raises(InvalidInputError):
        SearchRequest((QueryTerm(text="cat", weight=-1),))
    with pytest.raises(InvalidInputError):
        engine_library.find(
            SearchRequest((QueryTerm(text="cat", weight=1), QueryTerm(text="cat", weight=-1)))
        )


def test_a_word_only_in_a_file_name_is_found_by_keyword_and_hybrid(engine_library: Library) -> None:
    for mode in ("keyword", "hybrid"):
        hits = engine_library.find(SearchRequest((QueryTerm(text="zebra"),), mode=mode, k=3)).hits
        assert hits[0].image.relative_path == "home/zebra-crossing.png", mode


def test_a_quoted_word_must_appear(engine_library: Library) -> None:
    hits = engine_library.find(SearchRequest((QueryTerm(text='"beach" sunny'),), k=50)).hits
    assert hits and all("beach" in hit.image.relative_path for hit in hits)
    none = engine_library.find(SearchRequest((QueryTerm(text='"nowhere-word"'),), k=5)).hits
    assert none == []


def test_pages_have_no_repeats_or_gaps(engine_library: Library) -> None:
    filters = SearchFilters(format=("PNG", "JPEG"))
    request = SearchRequest((QueryTerm(text="trips"),), filters=filters, k=5)
    whole = [
        hit.id
        for hit in engine_library.find(SearchRequest(request.terms, filters=filters, k=100)).hits
    ]
    paged: list[int] = []
    page = engine_library.find(request)
    while True:
        paged += [hit.id for hit in page.hits]
        if page.next_offset is None:
            break
        page = engine_library.find(page.request.next_page())
    assert paged == whole and len(set(paged)) == len(paged)


def test_min_score_and_date_order(engine_library: Library) -> None:
    hits = engine_library.find(SearchRequest((QueryTerm(text="x"),), mode="semantic", k=50)).hits
    threshold = hits[10].similarity
    above = engine_library.find(
        SearchRequest((QueryTerm(text="x"),), mode="semantic", k=50, min_score=threshold)
    ).hits
    assert len(above) == 11 and all(hit.similarity >= threshold for hit in above)
    dated = engine_library.find(SearchRequest((QueryTerm(text="x"),), k=50, order="date")).hits
    dates = [hit.date_with_source()[0] for hit in dated]
    assert dates == sorted(dates, reverse=True)
    sources = {hit.date_with_source()[1] for hit in dated}
    assert sources == {"taken", "file"}


def test_planted_near_duplicates_are_grouped(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "dups"
    folder.mkdir()
    original = make_picture(7, size=(240, 180))
    original.save(folder / "original.png")
    original.save(folder / "copy-q60.jpg", quality=60)
    original.resize((192, 144)).save(folder / "copy-small.jpg", quality=80)
    for seed in range(100, 112):
        make_picture(seed, size=(240, 180)).save(folder / f"other-{seed}.png")
    Indexer(library, tiny_embedder, IndexingOptions(workers=1, show_progress=False)).index([folder])
    groups = library.duplicate_groups(threshold=0.999)
    names = [sorted(Path(library.image(i).relative_path).name for i in group) for group in groups]
    assert names == [["copy-q60.jpg", "copy-small.jpg", "original.png"]]
    collapsed = library.find(
        SearchRequest((QueryTerm(image_path=folder / "original.png"),), mode="semantic", k=15,
                      collapse_duplicates=True, duplicate_threshold=0.999)
    ).hits  # fmt: skip
    assert len(collapsed) == 13


def test_csv_export_neutralises_formulas_and_quotes(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    make_picture(1).save(folder / '=HYPERLINK("x"),1.png')
    make_picture(2).save(folder / '@sum, "quoted".png')
    Indexer(library, tiny_embedder, IndexingOptions(workers=1, show_progress=False)).index([folder])
    hits = library.find(SearchRequest((QueryTerm(text="x"),), mode="semantic", k=5)).hits
    rows = list(csv.DictReader(io.StringIO(hits_to_csv(hits))))
    relative = sorted(row["relative_path"] for row in rows)
    assert relative == ['\'=HYPERLINK("x"),1.png', '\'@sum, "quoted".png']
