"""Thumbnails, previews and placeholders made by ``pixsift index`` (issue 20, item 5): made while
decoding, kept by content hash (a move reuses them, a change makes new ones, a deletion removes
them at the end of the run), served without opening the original, the placeholder in the API and
on the page, and a library indexed before any of this still served (made on request)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_picture
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import update

from pixsift.cli.main import main
from pixsift.indexer.options import IndexingSummary
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.media.thumbnails import (
    SIZED_SIDES,
    THUMBNAIL_DIRECTORY_NAME,
    ThumbnailSizesError,
    parse_sizes,
    placeholder,
    placeholder_colour,
    thumbnail_path,
)
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.records import ImageRecord
from pixsift.search.settings import THUMBNAILS
from pixsift.search.storage.models import Image as ImageRow
from pixsift.web import create_app
from pixsift.web import images as image_routes

#: A photo large enough for every size (JPEG), and a small drawing smaller than most (PNG).
LARGE = (2000, 1200)
SMALL = (300, 200)


def index(library: Library, embedder: OpenClipEmbedder, folder: Path, **options) -> IndexingSummary:
    """Index ``folder`` making every size (the tests below follow each one), unless told."""
    settings = {
        "workers": 1, "show_progress": False, "tag": False, "thumbnail_sizes": SIZED_SIDES,
        **options,
    }  # fmt: skip
    return Indexer(library, embedder, IndexingOptions(**settings)).index([folder])


def all_records(library: Library) -> list[ImageRecord]:
    ids, _ = library.store.all_embeddings(library.store.model_id() or "")
    return list(library.store.images_by_ids(ids.tolist()).values())


def records_by_name(library: Library) -> dict[str, ImageRecord]:
    return {record.name: record for record in all_records(library)}


def thumbnails(library: Library) -> Path:
    return library.directory / THUMBNAIL_DIRECTORY_NAME


def cached_files(library: Library) -> set[str]:
    return {path.name for path in thumbnails(library).glob("*/*")}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    make_picture(1, LARGE).save(pictures / "large.jpg", quality=90)
    make_picture(2, SMALL).save(pictures / "small.png")
    make_picture(3, SMALL).save(pictures / "other.png")
    return pictures


def test_indexing_makes_every_size_and_a_placeholder_of_the_picture(
    library: Library, tiny_embedder: OpenClipEmbedder, folder: Path
) -> None:
    summary = index(library, tiny_embedder, folder)
    records = records_by_name(library)
    assert summary.thumbnails_written == len(SIZED_SIDES) * 3
    for name, full in (("large.jpg", LARGE), ("small.png", SMALL)):
        record = records[name]
        for size in SIZED_SIDES:
            with Image.open(thumbnail_path(thumbnails(library), record.content_hash, size)) as made:
                # The long side is the size asked for, never enlarged; the shape is kept.
                assert max(made.size) == min(size, max(full))
                assert made.width / made.height == pytest.approx(full[0] / full[1], abs=0.01)
    large = records["large.jpg"]
    with Image.open(folder / "large.jpg") as original:
        mean = np.asarray(original.convert("RGB"), dtype=np.float64).mean(axis=(0, 1))
    assert large.placeholder is not None and 20 <= len(large.placeholder) <= 64
    colour = placeholder_colour(large.placeholder)
    assert colour is not None and re.fullmatch(r"#[0-9a-f]{6}", colour)
    # The BlurHash's first colour is the mean in linear light, so a little above the sRGB mean.
    painted = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    assert np.abs(np.array(painted) - mean).max() <= 40, (painted, mean)
    assert placeholder_colour(placeholder(Image.new("RGB", (40, 30), (200, 30, 30)))) == "#c81e1e"


def test_thumbnails_are_served_without_opening_the_original(
    library: Library,
    tiny_embedder: OpenClipEmbedder,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index(library, tiny_embedder, folder)
    record = records_by_name(library)["large.jpg"]

    def no_decoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the original was decoded to serve a thumbnail")

    real_open = image_routes.open_indexed_file

    def checked_not_read(record: ImageRecord) -> object:
        # The file is still checked to be the one indexed (a changed one is 404), never read.
        handle = real_open(record)
        handle.read = no_decoding  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(image_routes, "open_indexed_file", checked_not_read)
    monkeypatch.setattr(image_routes, "make_thumbnail", no_decoding)
    monkeypatch.setattr(image_routes, "read_open_image", no_decoding)
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    for url, size in [(f"/images/{record.id}/thumbnail", 256)] + [
        (f"/images/{record.id}/sized/{size}", size) for size in SIZED_SIDES
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        kept = thumbnail_path(thumbnails(library), record.content_hash, size)
        assert response.data == kept.read_bytes()


def test_the_api_gives_each_result_its_placeholder(
    library: Library, tiny_embedder: OpenClipEmbedder, folder: Path
) -> None:
    index(library, tiny_embedder, folder)
    records = records_by_name(library)
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    results = client.get("/api/search", query_string={"q": "a picture", "k": 10}).get_json()
    assert {result["name"] for result in results["results"]} == set(records)
    for result in results["results"]:
        record = records[result["name"]]
        assert result["placeholder"] == record.placeholder
        assert result["placeholder_colour"] == placeholder_colour(record.placeholder)
        assert (result["width"], result["height"]) == (record.width, record.height)
    page = client.get("/", query_string={"q": "a picture"}).get_data(as_text=True)
    for record in records.values():
        assert f'data-placeholder-colour="{placeholder_colour(record.placeholder)}"' in page


def test_a_move_reuses_thumbnails_a_change_or_deletion_removes_them(
    library: Library, tiny_embedder: OpenClipEmbedder, folder: Path
) -> None:
    index(library, tiny_embedder, folder)
    before = records_by_name(library)
    kept = cached_files(library)
    (folder / "moved").mkdir()
    shutil.move(folder / "large.jpg", folder / "moved" / "renamed.jpg")
    moved = index(library, tiny_embedder, folder)
    assert moved.moved == 1 and moved.thumbnails_written == 0
    assert cached_files(library) == kept
    # A changed file gets new thumbnails; its old ones and a deleted file's go.
    make_picture(9, SMALL).save(folder / "small.png")
    (folder / "other.png").unlink()
    changed = index(library, tiny_embedder, folder)
    after = records_by_name(library)
    assert changed.updated == 1 and changed.removed == 1
    assert changed.thumbnails_written == len(SIZED_SIDES)
    names = cached_files(library)
    for gone in (before["small.png"], before["other.png"]):
        assert not any(name.startswith(gone.content_hash) for name in names)
    for record in (after["small.png"], after["renamed.jpg"]):
        for size in SIZED_SIDES:
            assert thumbnail_path(thumbnails(library), record.content_hash, size).is_file()
    assert changed.thumbnails_removed == 2 * len(SIZED_SIDES)


def test_a_library_indexed_before_still_serves_thumbnails_made_on_request(
    library: Library, tiny_embedder: OpenClipEmbedder, folder: Path
) -> None:
    index(library, tiny_embedder, folder, thumbnail_sizes=())
    assert cached_files(library) == set()
    # As a row indexed before revision 0015: no placeholder.
    with library.store.session() as session:
        session.execute(update(ImageRow).values(placeholder=None))
    record = records_by_name(library)["large.jpg"]
    client: FlaskClient = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    response = client.get(f"/images/{record.id}/sized/512")
    assert response.status_code == 200
    with Image.open(thumbnail_path(thumbnails(library), record.content_hash, 512)) as made:
        assert max(made.size) == 512
    results = client.get("/api/search", query_string={"q": "a picture"}).get_json()["results"]
    assert all(result["placeholder"] is None for result in results)
    assert client.get("/", query_string={"q": "a picture"}).status_code == 200
    # The next run fills the placeholder of a picture whose thumbnail was made meanwhile...
    again = index(library, tiny_embedder, folder, thumbnail_sizes=())
    assert again.placeholders_filled == 1
    filled = records_by_name(library)
    assert filled["large.jpg"].placeholder is not None
    assert filled["small.png"].placeholder is None
    # ...and of any file it reads again (here: moved).
    shutil.move(folder / "large.jpg", folder / "large-moved.jpg")
    index(library, tiny_embedder, folder, thumbnail_sizes=())
    assert records_by_name(library)["large-moved.jpg"].placeholder is not None


def test_by_default_indexing_makes_the_card_sizes_and_the_server_the_rest_on_first_view(
    library: Library, tiny_embedder: OpenClipEmbedder, folder: Path
) -> None:
    """The first results page asks for 256 (1x screens) and 512 (2x, and a phone's three
    columns at 3x: 34vw of 390 px is ~400 pixels); 768 and the viewer's 1600 cost an indexing
    run more than both of those (docs/thumbnails.md) and are made when first asked for."""
    assert IndexingOptions().thumbnail_sizes == parse_sizes(THUMBNAILS.default) == (256, 512)
    summary = index(library, tiny_embedder, folder, thumbnail_sizes=(256, 512))
    assert summary.thumbnails_written == 2 * 3
    record = records_by_name(library)["large.jpg"]
    kept = thumbnails(library)
    made = {size: thumbnail_path(kept, record.content_hash, size) for size in SIZED_SIDES}
    assert [size for size, path in made.items() if path.is_file()] == [256, 512]
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    for size in (768, 1600):
        response = client.get(f"/images/{record.id}/sized/{size}")
        assert response.status_code == 200 and response.data == made[size].read_bytes()
        with Image.open(made[size]) as picture:
            assert max(picture.size) == size


def test_the_sizes_are_chosen_from_those_the_page_uses(tmp_path: Path) -> None:
    assert parse_sizes("256,512,768,1600") == SIZED_SIDES
    assert parse_sizes("768 256") == (256, 768)
    assert parse_sizes("off") == () == parse_sizes("")
    with pytest.raises(ThumbnailSizesError, match=r"300.* is not one the page uses"):
        parse_sizes("256,300")
    (tmp_path / "pictures").mkdir()
    result = CliRunner().invoke(
        main,
        ["index", str(tmp_path / "pictures"), "--library", str(tmp_path / "lib"),
         "--thumbnails", "300"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "thumbnail size '300' is not one the page uses" in result.output


def test_video_moments_get_posters_a_badge_and_their_video_length(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    from video_samples import BLUE, GREEN, RED, Segment, write_video

    media = tmp_path / "media"
    media.mkdir()
    write_video(media / "scenes.mp4", (Segment(4, RED), Segment(4, BLUE), Segment(4, GREEN)))
    index(library, tiny_embedder, media, video_interval_seconds=2)
    moments = sorted(all_records(library), key=lambda record: record.offset_s or 0)
    assert len(moments) >= 3
    for moment in moments:
        assert moment.video_duration_s == pytest.approx(12.0, abs=0.2)
        assert moment.placeholder is not None
        poster = thumbnail_path(thumbnails(library), moment.content_hash, 256)
        with Image.open(poster) as made:
            assert made.size == (160, 96)  # the whole frame: the video is smaller than a card
    # Each poster is its moment's frame: red first, green last.
    for moment, colour in ((moments[0], RED), (moments[-1], GREEN)):
        poster = thumbnail_path(thumbnails(library), moment.content_hash, 256)
        with Image.open(poster) as made:
            middle = np.asarray(made.convert("RGB"), dtype=int)[48, 80]
        assert np.abs(middle - colour).max() < 40
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    page = client.get("/", query_string={"image_id": moments[-1].id}).get_data(as_text=True)
    assert 'class="video-badge"' in page
    assert re.search(r'<span class="at">0:\d\d</span>.*0:12</span>', page)
    hit = client.get(f"/api/images/{moments[-1].id}").get_json()
    assert hit["video_duration_s"] == pytest.approx(12.0, abs=0.2)


def test_renditions_are_encoded_with_the_quick_webp_effort() -> None:
    """libwebp's effort 2, not Pillow's default 4: ~2.6x less encoding per picture (most of
    what indexing a folder of photos spent), files within a few per cent of the size."""
    import io

    from PIL import features

    from pixsift.search.media.thumbnails import WEBP_METHOD, make_renditions

    if not features.check("webp"):
        pytest.skip("this Pillow has no WebP: thumbnails are JPEG")
    picture = make_picture(3, size=(300, 200)).convert("RGB")
    made = make_renditions(picture, (256,))
    small = picture.copy()
    small.thumbnail((256, 256), Image.Resampling.LANCZOS)
    expected = {}
    for method in (WEBP_METHOD, 4):
        buffer = io.BytesIO()
        small.save(buffer, "WEBP", quality=80, method=method)
        expected[method] = buffer.getvalue()
    assert WEBP_METHOD == 2 and expected[2] != expected[4]
    assert made[256] == expected[2]
