from __future__ import annotations

import hashlib
import os
import pickle
import struct
import warnings
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from pixsift.search.media.imagefile import (
    ALLOWED_PIL_FORMATS,
    SUPPORTED_EXTENSIONS,
    ImageRejectedError,
    LoadedImage,
    OversizedImageError,
    read_image_for_embedding,
)

WHITE = (255, 255, 255)


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _noise(size: tuple[int, int] = (64, 48)) -> Image.Image:
    width, height = size
    return Image.fromarray(_rng().integers(0, 256, (height, width, 3), dtype=np.uint8))


def _save(image: Image.Image, path: Path, fmt: str, **params: object) -> Path:
    image.save(path, fmt, **params)
    return path


def _reject(path: Path, **kwargs: object) -> str:
    with pytest.raises(ImageRejectedError) as info:
        read_image_for_embedding(path, **kwargs)
    return info.value.reason


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def _png_with_declared_size(tmp_path: Path, width: int, height: int) -> Path:
    # Patch IHDR of a tiny PNG: costs nothing to build, decoding it would cost gigabytes.
    path = _save(Image.new("L", (4, 4)), tmp_path / "bomb.png", "PNG")
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------------- constants


def test_constants() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} <= (
        SUPPORTED_EXTENSIONS
    )
    assert all(ext == ext.lower() and ext.startswith(".") for ext in SUPPORTED_EXTENSIONS)
    assert {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"} <= ALLOWED_PIL_FORMATS
    assert not {"EPS", "PS", "PDF"} & ALLOWED_PIL_FORMATS


# ------------------------------------------------------------------ normal images


@pytest.mark.parametrize(
    ("suffix", "fmt", "params"),
    [
        (".jpg", "JPEG", {"quality": 95}),
        (".png", "PNG", {}),
        (".webp", "WEBP", {"lossless": True}),
        (".gif", "GIF", {}),
        (".bmp", "BMP", {}),
        (".tiff", "TIFF", {}),
    ],
)
def test_reads_common_formats(tmp_path: Path, suffix: str, fmt: str, params: dict) -> None:
    path = _save(_noise(), tmp_path / f"img{suffix}", fmt, **params)
    loaded = read_image_for_embedding(path)
    assert isinstance(loaded, LoadedImage)
    assert loaded.pixels.mode == "RGB"
    assert loaded.pixels.size == (64, 48)
    meta = loaded.metadata
    assert (meta.width, meta.height, meta.format) == (64, 48, fmt)
    assert meta.taken_at is None and meta.camera_make is None and meta.gps_latitude is None
    assert loaded.content_hash == hashlib.blake2b(path.read_bytes(), digest_size=20).hexdigest()


def test_accepts_str_path(tmp_path: Path) -> None:
    path = _save(_noise(), tmp_path / "img.png", "PNG")
    assert read_image_for_embedding(str(path)).metadata.format == "PNG"  # type: ignore[arg-type]


def test_mislabelled_png_named_jpg_is_read_by_content(tmp_path: Path) -> None:
    path = _save(_noise(), tmp_path / "really_png.jpg", "PNG")
    loaded = read_image_for_embedding(path)
    assert loaded.metadata.format == "PNG"
    assert np.array_equal(np.asarray(loaded.pixels), np.asarray(_noise()))


def test_large_jpeg_uses_draft_but_keeps_min_side(tmp_path: Path) -> None:
    gradient = np.linspace(0, 255, 4000, dtype=np.uint8)
    image = Image.fromarray(np.broadcast_to(gradient, (3000, 4000)).copy()).convert("RGB")
    path = _save(image, tmp_path / "big.jpg", "JPEG", quality=80)
    loaded = read_image_for_embedding(path, min_side=224)
    assert (loaded.metadata.width, loaded.metadata.height) == (4000, 3000)
    assert min(loaded.pixels.size) >= 224
    assert loaded.pixels.width * loaded.pixels.height <= 4000 * 3000 // 16
    assert loaded.pixels.mode == "RGB"


def test_small_jpeg_is_not_shrunk_by_draft(tmp_path: Path) -> None:
    path = _save(_noise((300, 250)), tmp_path / "small.jpg", "JPEG")
    assert read_image_for_embedding(path, min_side=224).pixels.size == (300, 250)


# ------------------------------------------------------------------ rejections


@pytest.mark.parametrize(("suffix", "fmt"), [(".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP")])
def test_truncated_file_rejected(tmp_path: Path, suffix: str, fmt: str) -> None:
    path = _save(_noise((256, 256)), tmp_path / f"trunc{suffix}", fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert _reject(path).startswith("truncated or corrupt image data: ")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_empty_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert _reject(path) == "empty file"


def test_random_bytes_rejected(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(_rng().integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert _reject(path)


def test_text_file_named_png_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("shopping list: eggs, milk\n" * 20)
    assert _reject(path) == "not an image: named .png but the content is text"


@pytest.mark.parametrize("name", ["figure.eps", "figure.jpg"])
def test_eps_rejected_even_when_renamed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
        b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
    )
    assert _reject(path) == "format EPS is not allowed"


def test_file_larger_than_limit_rejected(tmp_path: Path) -> None:
    path = _save(_noise(), tmp_path / "img.png", "PNG")
    assert "too large" in _reject(path, max_file_bytes=100)


def test_directory_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    assert "not a regular file" in _reject(folder)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_fifo_rejected_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    assert "not a regular file" in _reject(path)


def test_deleted_file_rejected_as_vanished(tmp_path: Path) -> None:
    path = _save(_noise(), tmp_path / "gone.png", "PNG")
    path.unlink()
    assert "vanished" in _reject(path)


def test_unreadable_file_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(_noise(), tmp_path / "secret.png", "PNG")

    def deny(*_args: object, **_kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    # Patched rather than chmod-ed because root (CI containers) ignores file modes.
    monkeypatch.setattr(os, "open", deny)
    assert _reject(path) == "permission denied"


# ------------------------------------------------------------ decompression bombs


def test_huge_declared_png_rejected_before_decoding(tmp_path: Path) -> None:
    # 10^10 pixels: beyond even PIL's hard limit, so rejected inside Image.open.
    path = _png_with_declared_size(tmp_path, 100_000, 100_000)
    assert _reject(path).startswith("decompression bomb")


def test_bomb_between_pil_warning_and_error_rejected(tmp_path: Path) -> None:
    path = _png_with_declared_size(tmp_path, 10_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the module must not let the warning escape
        reason = _reject(path)
    assert reason.startswith("decompression bomb")


def test_max_pixels_parameter_is_honoured(tmp_path: Path) -> None:
    path = _save(_noise((100, 100)), tmp_path / "img.png", "PNG")
    assert _reject(path, max_pixels=1000) == ("decompression bomb: 10000 pixels exceeds limit 1000")
    assert Image.MAX_IMAGE_PIXELS == 89_478_485


# --------------------------------------------------------------------- pixel modes


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = _save(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), tmp_path / "c.jpg", "JPEG")
    loaded = read_image_for_embedding(path)
    assert loaded.pixels.mode == "RGB"
    assert _close(loaded.pixels.getpixel((16, 16)), (255, 0, 0), tol=40)


def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    image = Image.fromarray(np.full((32, 32), 32768, dtype=np.uint16))
    path = _save(image, tmp_path / "g16.png", "PNG")
    pixel = read_image_for_embedding(path).pixels.getpixel((5, 5))
    assert _close(pixel, (128, 128, 128), tol=1)


def test_32bit_int_tiff_is_scaled(tmp_path: Path) -> None:
    image = Image.fromarray(np.full((16, 16), 65535, dtype=np.int32))
    path = _save(image, tmp_path / "i32.tif", "TIFF")
    assert read_image_for_embedding(path).pixels.getpixel((0, 0)) == WHITE


def test_float_tiff_is_scaled(tmp_path: Path) -> None:
    image = Image.fromarray(np.full((16, 16), 0.5, dtype=np.float32))
    path = _save(image, tmp_path / "f.tif", "TIFF")
    assert _close(read_image_for_embedding(path).pixels.getpixel((0, 0)), (128, 128, 128), 1)


@pytest.mark.parametrize("mode", ["1", "L", "LA"])
def test_gray_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    color = {"1": 1, "L": 200, "LA": (200, 255)}[mode]
    path = _save(Image.new(mode, (16, 16), color), tmp_path / f"{mode}.png", "PNG")
    loaded = read_image_for_embedding(path)
    assert loaded.pixels.mode == "RGB"
    expected = WHITE if mode == "1" else (200, 200, 200)
    assert loaded.pixels.getpixel((3, 3)) == expected


def test_palette_transparency_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("P", (16, 16), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (8, 0, 16, 16))
    path = _save(image, tmp_path / "p.png", "PNG", transparency=0)
    pixels = read_image_for_embedding(path).pixels
    assert pixels.getpixel((2, 2)) == WHITE
    assert pixels.getpixel((12, 2)) == (255, 0, 0)


def test_rgba_alpha_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    image.paste((0, 0, 0, 128), (8, 0, 16, 16))
    path = _save(image, tmp_path / "a.png", "PNG")
    pixels = read_image_for_embedding(path).pixels
    assert pixels.getpixel((2, 2)) == WHITE
    assert _close(pixels.getpixel((12, 2)), (127, 127, 127), tol=2)


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as check:
        assert check.n_frames == 3
    assert read_image_for_embedding(path).pixels.getpixel((8, 8)) == (255, 0, 0)


# ------------------------------------------------------------------------ EXIF


def test_exif_orientation_6_rotates_pixels_and_metadata(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(image, tmp_path / "rot.jpg", "JPEG", quality=95, exif=exif)
    loaded = read_image_for_embedding(path)
    assert (loaded.metadata.width, loaded.metadata.height) == (20, 40)
    assert loaded.pixels.size == (20, 40)
    # Orientation 6 means "rotate 90 degrees clockwise to display": left edge goes to top.
    assert _close(loaded.pixels.getpixel((10, 5)), (255, 0, 0), tol=40)
    assert _close(loaded.pixels.getpixel((10, 35)), (0, 0, 255), tol=40)


def test_exif_orientation_swaps_original_size_even_with_draft(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    image = Image.new("RGB", (2000, 1000), (10, 120, 200))
    path = _save(image, tmp_path / "rot_big.jpg", "JPEG", exif=exif)
    loaded = read_image_for_embedding(path)
    assert (loaded.metadata.width, loaded.metadata.height) == (1000, 2000)
    assert loaded.pixels.width < loaded.pixels.height
    assert min(loaded.pixels.size) >= 224


@pytest.mark.parametrize(
    "exif_bytes",
    [
        b"Exif\x00\x00" + bytes(_rng().integers(0, 256, 64, dtype=np.uint8)),
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff",  # IFD claims 65535 entries
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01"
        b"\x00\x63\x00\x00\x00\x00\x00\x00",  # orientation 99
    ],
)
def test_broken_exif_does_not_crash(tmp_path: Path, exif_bytes: bytes) -> None:
    path = _save(_noise(), tmp_path / "badexif.jpg", "JPEG", exif=exif_bytes)
    loaded = read_image_for_embedding(path)
    assert loaded.pixels.size == (64, 48)
    assert (loaded.metadata.width, loaded.metadata.height) == (64, 48)
    assert loaded.metadata.taken_at is None


def test_exif_reader_failure_is_contained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(_noise(), tmp_path / "img.jpg", "JPEG")

    def explode(self: Image.Image) -> Image.Exif:
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr(Image.Image, "getexif", explode)
    meta = read_image_for_embedding(path).metadata
    assert (meta.width, meta.height, meta.taken_at, meta.camera_make) == (64, 48, None, None)


def test_exif_gps_zero_denominator_and_garbage_date(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "garbage"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (IFDRational(51, 0), IFDRational(0, 0), 0.0)
    gps[3], gps[4] = "W", (1.0, 0.0, 0.0)
    path = _save(_noise(), tmp_path / "nan.jpg", "JPEG", exif=exif)
    meta = read_image_for_embedding(path).metadata
    assert meta.taken_at is None
    assert meta.gps_latitude is None and meta.gps_longitude is None


def test_exif_fields_parsed(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "  Canon  "
    exif[0x0110] = "EOS R5"
    exif[0x010E] = "A red bus in London"
    exif[0x9C9E] = "bus;london;".encode("utf-16-le") + b"\x00\x00"
    exif.get_ifd(0x8769)[0x9003] = "2021:06:15 12:34:56"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 0.0)
    gps[3], gps[4] = "W", (0.0, 7.0, 0.0)
    path = _save(_noise(), tmp_path / "exif.jpg", "JPEG", exif=exif)
    meta = read_image_for_embedding(path).metadata
    assert meta.taken_at == datetime(2021, 6, 15, 12, 34, 56)
    assert (meta.camera_make, meta.camera_model) == ("Canon", "EOS R5")
    assert meta.gps_latitude == pytest.approx(51.5)
    assert meta.gps_longitude == pytest.approx(-0.1167, abs=1e-4)
    assert meta.description == "A red bus in London"
    assert meta.keywords == "bus, london"


def test_exif_datetime_fallbacks_and_garbage(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0132] = "2019:01:02 03:04:05"
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (951.0, 0.0, 0.0)  # out of range -> dropped
    gps[3], gps[4] = "E", (1.0, 0.0, 0.0)
    path = _save(_noise(), tmp_path / "fallback.jpg", "JPEG", exif=exif)
    meta = read_image_for_embedding(path).metadata
    assert meta.taken_at == datetime(2019, 1, 2, 3, 4, 5)
    assert meta.gps_latitude is None and meta.gps_longitude is None


def test_png_text_description(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Sunset over the bay")
    path = _save(_noise(), tmp_path / "text.png", "PNG", pnginfo=info)
    assert read_image_for_embedding(path).metadata.description == "Sunset over the bay"


# ---------------------------------------------------------------- hashing & paths


def test_content_hash_depends_only_on_bytes(tmp_path: Path) -> None:
    first = _save(_noise(), tmp_path / "a.png", "PNG")
    copy = tmp_path / "b.jpg"
    copy.write_bytes(first.read_bytes())
    other = _save(_noise().rotate(90), tmp_path / "c.png", "PNG")
    hashes = [read_image_for_embedding(p).content_hash for p in (first, copy, other)]
    assert hashes[0] == hashes[1] != hashes[2]
    assert len(hashes[0]) == 40


def test_non_utf8_file_name(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.png")
    try:
        path = _save(_noise(), tmp_path / name, "PNG")
    except (UnicodeEncodeError, OSError):
        pytest.skip("filesystem does not accept non-UTF-8 names")
    assert read_image_for_embedding(path).metadata.format == "PNG"


# ------------------------------------------------------------- process friendliness


def test_error_and_result_are_picklable(tmp_path: Path) -> None:
    error = pickle.loads(pickle.dumps(ImageRejectedError("empty file")))
    assert isinstance(error, ImageRejectedError) and error.reason == "empty file"
    assert pickle.loads(pickle.dumps(read_image_for_embedding)) is read_image_for_embedding
    loaded = read_image_for_embedding(_save(_noise(), tmp_path / "p.png", "PNG"))
    restored = pickle.loads(pickle.dumps(loaded))
    assert restored.metadata == loaded.metadata
    assert np.array_equal(np.asarray(restored.pixels), np.asarray(loaded.pixels))


def test_global_pillow_state_untouched(tmp_path: Path) -> None:
    filters_before = list(warnings.filters)
    read_image_for_embedding(_save(_noise(), tmp_path / "s.png", "PNG"))
    with pytest.raises(ImageRejectedError):
        read_image_for_embedding(_png_with_declared_size(tmp_path, 10_000, 10_000))
    assert Image.MAX_IMAGE_PIXELS == 89_478_485
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert warnings.filters == filters_before


def test_oversized_rejections_have_their_own_type(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    with pytest.raises(OversizedImageError):
        read_image_for_embedding(path, max_pixels=100)
    with pytest.raises(OversizedImageError):
        read_image_for_embedding(path, max_file_bytes=10)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageRejectedError) as rejected:
        read_image_for_embedding(tmp_path / "empty.png")
    assert not isinstance(rejected.value, OversizedImageError)
