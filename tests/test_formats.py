"""Every still format pixsift reads, told by content: real files written by the tools that write
them (Pillow, pillow-heif, psd-tools, PiDNG, tifffile), indexed and read back."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from benchmarks.format_samples import (
    CAMERA_MAKE,
    CAMERA_MODEL,
    FIRST_FRAME,
    PREVIEW_COLOUR,
    Sample,
    write_dng_demosaic,
    write_dng_preview,
    write_format_folder,
    write_frames,
    write_heic,
    write_rare_format_folder,
)
from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.indexer.planning import plan_indexing
from pixsift.search.library import Library
from pixsift.search.media.formats import (
    NOT_IMAGE_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    MediaKind,
    identify,
)
from pixsift.search.media.imagefile import ImageRejectedError, read_image_for_embedding
from pixsift.search.model.embedder import OpenClipEmbedder

OPTIONS = IndexingOptions(batch_size=8, workers=1, show_progress=False)


@pytest.fixture(scope="session")
def format_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sample]]:
    folder = tmp_path_factory.mktemp("formats")
    return folder, write_format_folder(folder)


def _copy(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination


def test_a_folder_of_every_format_is_indexed_by_content(
    library: Library,
    tiny_embedder: OpenClipEmbedder,
    format_folder: tuple[Path, list[Sample]],
    tmp_path: Path,
) -> None:
    folder = _copy(format_folder[0], tmp_path / "every-format")
    samples = format_folder[1]
    summary = Indexer(library, tiny_embedder, OPTIONS).index([folder])
    expected = {s.name: s.indexed_as for s in samples if s.indexed_as}
    records = [hit.image for hit in library.search("anything", k=100)]
    assert {Path(r.absolute_path).name: r.format for r in records} == expected
    counts = Counter(r.format for r in records)
    assert counts["DNG"] == 2 and counts["PNG"] == 4 and counts["PPM"] == 3
    # A file named as an image that is not one is recorded with a reason; files not named as
    # images that are not images (text, random bytes) are passed over without a record.
    reasons = {Path(f.path).name: f.reason for f in library.failures()}
    assert reasons == {s.name: s.reason for s in samples if s.reason}
    assert (summary.added, summary.failed) == (len(expected), 1)


def test_non_images_are_opened_once_and_remembered_by_size_and_time(
    library: Library, format_folder: tuple[Path, list[Sample]], tmp_path: Path
) -> None:
    folder = _copy(format_folder[0], tmp_path / "sniffed")
    store = library.store

    def plan():
        return plan_indexing(
            store, [folder], SUPPORTED_EXTENSIONS, skip_extensions=NOT_IMAGE_EXTENSIONS
        )

    first = plan()
    # jpeg-named.dat, no-extension and blob.bin are looked at; readme.txt is not.
    assert first.sniffed_count == 3
    names = {Path(os.fsdecode(item.scanned.path_bytes)).name for item in first.work}
    assert {"jpeg-named.dat", "no-extension"} <= names
    assert "blob.bin" not in names and "readme.txt" not in names
    assert plan().sniffed_count == 2  # the images are not indexed yet; blob.bin is remembered
    (folder / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert plan().sniffed_count == 3  # changed: looked at again


def test_mislabelled_files(format_folder: tuple[Path, list[Sample]]) -> None:
    folder = format_folder[0]
    assert read_image_for_embedding(folder / "png-named.jpg").metadata.format == "PNG"
    assert read_image_for_embedding(folder / "jpeg-named.dat").metadata.format == "JPEG"
    with pytest.raises(ImageRejectedError, match=r"named \.jpg but the content is text"):
        read_image_for_embedding(folder / "notes.jpg")
    with pytest.raises(ImageRejectedError, match="content is an unrecognised format"):
        read_image_for_embedding(folder / "blob.bin")


@pytest.mark.parametrize("name", ["phone.heic", "camera.dng"])
def test_exif_date_camera_and_gps_from_heic_and_dng(
    format_folder: tuple[Path, list[Sample]], name: str
) -> None:
    facts = read_image_for_embedding(format_folder[0] / name).metadata
    assert (facts.camera_make, facts.camera_model) == (CAMERA_MAKE, CAMERA_MODEL)
    assert facts.taken_at is not None and facts.taken_at.isoformat() == "2021-07-04T10:11:12"
    assert facts.gps_latitude == pytest.approx(48.8566667)
    assert facts.gps_longitude == pytest.approx(2.35)


def test_raw_uses_a_large_enough_preview_else_demosaics(tmp_path: Path) -> None:
    large = write_dng_preview(tmp_path / "large.dng", preview_size=(720, 480), size=(960, 640))
    small = write_dng_preview(tmp_path / "small.dng", preview_size=(240, 160), size=(960, 640))
    # A preview with a short side of 480 serves a caller needing 224 (twice is 448).
    from_preview = read_image_for_embedding(large, min_side=224)
    assert from_preview.pixels.size == (720, 480)
    assert from_preview.pixels.getpixel((10, 10)) == PREVIEW_COLOUR
    # One of 160 does not: the sensor data is demosaiced at half size.
    demosaiced = read_image_for_embedding(small, min_side=224)
    assert demosaiced.pixels.size == (480, 320)
    assert demosaiced.pixels.getpixel((10, 10)) != PREVIEW_COLOUR
    # A caller needing more than half the sensor gets the preview if it is that large.
    assert read_image_for_embedding(large, min_side=1024).pixels.size == (720, 480)
    # The facts describe the sensor's picture either way.
    for loaded in (from_preview, demosaiced):
        assert (loaded.metadata.width, loaded.metadata.height, loaded.metadata.format) == (
            960,
            640,
            "DNG",
        )


def test_a_dng_with_a_tiff_name_is_read_as_raw(tmp_path: Path) -> None:
    path = write_dng_demosaic(tmp_path / "scan.tif", size=(384, 256))
    loaded = read_image_for_embedding(path)
    assert (loaded.metadata.format, loaded.pixels.size) == ("RAW", (192, 128))


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.gif", "GIF"), ("a.png", "PNG"), ("a.tiff", "TIFF"), ("a.mpo", "MPO")],
)
def test_multi_frame_files_give_their_first_frame(tmp_path: Path, name: str, fmt: str) -> None:
    path = write_frames(tmp_path / name, fmt)
    loaded = read_image_for_embedding(path, min_side=16)
    assert loaded.metadata.format == fmt
    width, height = loaded.pixels.size
    red, green, blue = loaded.pixels.getpixel((width // 2, height // 2))
    assert abs(red - FIRST_FRAME[0]) < 8 and green < 60 and blue < 60


def test_heic_thumbnail_and_orientation_free_decode(tmp_path: Path) -> None:
    path = write_heic(tmp_path / "phone.heic")
    loaded = read_image_for_embedding(path)
    assert loaded.metadata.format == "HEIF"
    assert loaded.pixels.mode == "RGB" and loaded.pixels.size == (96, 72)


@pytest.mark.parametrize(
    ("header", "name", "kind", "fmt"),
    [
        (b"FUJIFILMCCD-RAW 0201FF383501", "x.raf", MediaKind.RAW, "RAF"),
        (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01", "x.cr3", MediaKind.RAW, "CR3"),
        (b"IIRO\x08\x00\x00\x00", "x.orf", MediaKind.RAW, "ORF"),
        (b"IIU\x00\x18\x00\x00\x00", "x.rw2", MediaKind.RAW, "RW2"),
        (b"II*\x00\x10\x00\x00\x00CR\x02\x00", "renamed.bin", MediaKind.RAW, "CR2"),
        (b"MM\x00*\x00\x00\x00\x08", "x.nef", MediaKind.RAW, "NEF"),
        (b"II*\x00\x08\x00\x00\x00", "x.arw", MediaKind.RAW, "ARW"),
        (b"II*\x00\x08\x00\x00\x00", "x.tif", MediaKind.IMAGE, "TIFF"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "x.png", MediaKind.IMAGE, "JPEG"),
        (b"just some words", "x.jpg", MediaKind.OTHER, "text"),
        (b"%!PS-Adobe-3.0 EPSF-3.0", "x.eps", MediaKind.OTHER, "EPS"),
    ],
)
def test_identify_by_content(header: bytes, name: str, kind: MediaKind, fmt: str) -> None:
    identity = identify(header, name)
    assert identity.kind is kind
    assert identity.format.startswith(fmt)


def test_every_format_in_the_folder_decodes_to_rgb(
    format_folder: tuple[Path, list[Sample]],
) -> None:
    folder, samples = format_folder
    for sample in samples:
        if sample.indexed_as is None:
            continue
        loaded = read_image_for_embedding(folder / sample.name)
        assert loaded.metadata.format == sample.indexed_as, sample.name
        assert isinstance(loaded.pixels, Image.Image) and loaded.pixels.mode == "RGB"


def test_raw_and_heic_are_served_as_pictures_a_browser_shows(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    import io

    from pixsift.web import create_app

    folder = tmp_path / "served"
    folder.mkdir()
    write_dng_preview(folder / "preview.dng", preview_size=(720, 480), size=(960, 640))
    write_heic(folder / "phone.heic")
    Image.new("RGB", (40, 30), (1, 2, 3)).save(folder / "plain.png")
    Indexer(library, tiny_embedder, OPTIONS).index([folder])
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    by_name = {Path(h.image.absolute_path).name: h.id for h in library.search("x", k=10)}
    for name, size in [("preview.dng", (720, 480)), ("phone.heic", (96, 72))]:
        original = client.get(f"/images/{by_name[name]}/original")
        assert original.status_code == 200 and original.mimetype == "image/jpeg"
        assert f'filename="{name}.jpg"' in original.headers["Content-Disposition"]
        with Image.open(io.BytesIO(original.data)) as shown:
            assert (shown.format, shown.size) == ("JPEG", size)
        thumbnail = client.get(f"/images/{by_name[name]}/thumbnail")
        assert thumbnail.status_code == 200
        with Image.open(io.BytesIO(thumbnail.data)) as small:
            assert max(small.size) <= 720
    # A format browsers show is served as it is.
    plain = client.get(f"/images/{by_name['plain.png']}/original")
    assert plain.mimetype == "image/png"
    assert plain.data == (folder / "plain.png").read_bytes()


def test_a_fifo_with_an_unknown_extension_does_not_hang_the_scan(
    library: Library, tmp_path: Path
) -> None:
    folder = tmp_path / "fifo"
    folder.mkdir()
    os.mkfifo(folder / "pipe.dat")
    picture_path = folder / "photo"
    Image.new("RGB", (40, 30), (9, 9, 9)).save(picture_path, "PNG")
    plan = plan_indexing(
        library.store, [folder], SUPPORTED_EXTENSIONS, skip_extensions=NOT_IMAGE_EXTENSIONS
    )
    assert [Path(os.fsdecode(item.scanned.path_bytes)).name for item in plan.work] == ["photo"]


def test_every_image_by_content_is_indexed_or_listed_with_its_reason(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    """Pillow's rarer formats (BLP, SPIDER, DCX, FITS, GBR, IMT, PIXAR, XVThumb) are indexed; EPS
    and WMF, recognised but not read, are listed by `pixsift failures` with the reason. Before,
    all of them were passed over without a record."""
    samples = write_rare_format_folder(tmp_path / "rare")
    summary = Indexer(library, tiny_embedder, OPTIONS).index([tmp_path / "rare"])
    records = [hit.image for hit in library.search("anything", k=100)]
    assert {Path(r.absolute_path).name: r.format for r in records} == {
        s.name: s.indexed_as for s in samples if s.indexed_as
    }
    reasons = {Path(f.path).name: f.reason for f in library.failures()}
    assert reasons == {s.name: s.reason for s in samples if s.reason}
    assert (summary.added, summary.failed) == (8, 2)
    result = CliRunner().invoke(
        main, ["failures", "--library", str(library.directory), "--database-url",
               library.store.engine.url.render_as_string(hide_password=False)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "drawing.eps" in result.output and "format EPS is not allowed" in result.output
    assert "clipart.wmf" in result.output and "format WMF is not allowed" in result.output
