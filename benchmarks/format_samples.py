"""Real sample files of every still format pixsift reads, written by the tools that write them:
Pillow (most formats), pillow-heif (HEIC), psd-tools (PSD), PiDNG and tifffile (DNG). Used by
the tests and by benchmarks/formats.py; nothing here is committed as a binary.

``write_format_folder`` returns what pixsift should make of each file: the format it is indexed
as, or None for a file that must be skipped (or not even looked at).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

#: The colours a test can check to know which frame or which source a picture came from.
FIRST_FRAME = (220, 30, 30)
OTHER_FRAME = (30, 200, 30)
PREVIEW_COLOUR = (20, 40, 220)

#: EXIF facts written into the HEIC and DNG samples.
CAMERA_MAKE, CAMERA_MODEL = "PixCam", "PixCam One"
TAKEN_AT = "2021:07:04 10:11:12"
LATITUDE = (48, 51, 24)  # 48.856666... N
LONGITUDE = (2, 21, 0)  # 2.35 E


@dataclass(frozen=True)
class Sample:
    name: str
    #: The format pixsift records; None when the file is not indexed.
    indexed_as: str | None
    #: For a skipped file: part of the recorded reason, or None when it is not even recorded.
    reason: str | None = None


def picture(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x0, y0 = (int(v) for v in rng.integers(0, min(size) // 2, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.rectangle((x0, y0, x0 + size[0] // 3, y0 + size[1] // 3), fill=colour)
    return image


def exif_block() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = CAMERA_MAKE, CAMERA_MODEL
    exif.get_ifd(0x8769)[0x9003] = TAKEN_AT
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", tuple(float(v) for v in LATITUDE), "E", LONGITUDE
    return exif


def write_heic(path: Path, seed: int = 1) -> Path:
    import pillow_heif

    pillow_heif.register_heif_opener()
    picture(seed).save(path, format="HEIF", exif=exif_block().tobytes(), quality=80)
    return path


def write_frames(path: Path, fmt: str, **options: object) -> Path:
    frames = [Image.new("RGB", (64, 48), FIRST_FRAME), Image.new("RGB", (64, 48), OTHER_FRAME)]
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], **options)
    return path


def write_psd(path: Path, seed: int = 2) -> Path:
    from psd_tools import PSDImage

    PSDImage.frompil(picture(seed)).save(path)
    return path


def write_dng_demosaic(path: Path, size: tuple[int, int] = (768, 512)) -> Path:
    """A DNG written by PiDNG: 12-bit RGGB sensor data, no preview (so it is demosaiced), with
    make, model, date and a GPS IFD."""
    from pidng.core import RAW2DNG
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation
    from pidng.dng import DNGTags, Tag, Type, dngIFD, dngTag

    width, height = size
    sensor = np.random.default_rng(7).integers(0, 4095, (height, width)).astype(np.uint16)
    tags = DNGTags()
    for tag, value in [
        (Tag.ImageWidth, width),
        (Tag.ImageLength, height),
        (Tag.TileWidth, width),
        (Tag.TileLength, height),
        (Tag.Orientation, 1),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1),
        (Tag.BitsPerSample, 12),
        (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB),
        (Tag.BlackLevel, 0),
        (Tag.WhiteLevel, 4095),
        (Tag.ColorMatrix1, [[int(i % 4 == 0), 1] for i in range(9)]),  # identity
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        (Tag.Make, CAMERA_MAKE),
        (Tag.Model, CAMERA_MODEL),
        (Tag.UniqueCameraModel, CAMERA_MODEL),
        (Tag.DateTime, TAKEN_AT),
        (Tag.DNGVersion, DNGVersion.V1_4),
        (Tag.DNGBackwardVersion, DNGVersion.V1_2),
    ]:
        tags.set(tag, value)

    class IfdTag(dngTag):
        # PiDNG 4.0.9 writes sub-IFDs but its tag constructor mixes str and bytes for them.
        def setValue(self, value: list[dngIFD]) -> None:
            self.Value = b"\x00" * 4
            self.subIFD = value[0]

    gps = dngIFD()
    gps.tags += [
        dngTag((1, Type.Ascii), "N"),
        dngTag((2, Type.Rational), [[v, 1] for v in LATITUDE]),
        dngTag((3, Type.Ascii), "E"),
        dngTag((4, Type.Rational), [[v, 1] for v in LONGITUDE]),
    ]
    tags.__tags__[(34853, Type.IFD)] = IfdTag((34853, Type.IFD), [gps])
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    path.write_bytes(bytes(writer.convert(sensor)))
    return path


def write_dng_preview(
    path: Path, preview_size: tuple[int, int] = (720, 480), size: tuple[int, int] = (960, 640)
) -> Path:
    """A DNG laid out as Adobe's converter writes them, by tifffile: an 8-bit RGB preview in
    IFD0 (one flat colour, PREVIEW_COLOUR) and the 12-bit CFA sensor data in a SubIFD."""
    import tifffile

    width, height = size
    sensor = np.random.default_rng(8).integers(0, 4095, (height, width)).astype(np.uint16)
    preview = np.empty((preview_size[1], preview_size[0], 3), np.uint8)
    preview[...] = PREVIEW_COLOUR
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            preview,
            photometric="rgb",
            subfiletype=1,
            subifds=1,
            metadata=None,
            extratags=[
                (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
                (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
                (271, "s", 0, CAMERA_MAKE, True),
                (272, "s", 0, "PixCam Two", True),
                (50708, "s", 0, "PixCam Two", True),  # UniqueCameraModel
                (306, "s", 0, TAKEN_AT, True),
            ],
        )
        tif.write(
            sensor,
            photometric=32803,  # CFA
            subfiletype=0,
            metadata=None,
            extratags=[
                (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
                (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
                (50717, "I", 1, (4095,), True),  # WhiteLevel
            ],
        )
    return path


def _pillow_samples(folder: Path) -> list[Sample]:
    plain = [
        ("photo.jpg", "JPEG", "JPEG", "RGB"),
        ("photo.png", "PNG", "PNG", "RGB"),
        ("photo.webp", "WEBP", "WEBP", "RGB"),
        ("photo.bmp", "BMP", "BMP", "RGB"),
        ("photo.jp2", "JPEG2000", "JPEG2000", "RGB"),
        ("photo.tga", "TGA", "TGA", "RGB"),
        ("photo.ppm", "PPM", "PPM", "RGB"),
        ("grey.pgm", "PPM", "PPM", "L"),
        ("bits.pbm", "PPM", "PPM", "1"),
        ("icon.ico", "ICO", "ICO", "RGBA"),
        ("photo.pcx", "PCX", "PCX", "RGB"),
        ("photo.sgi", "SGI", "SGI", "RGB"),
        ("photo.qoi", "QOI", "QOI", "RGB"),
        ("texture.dds", "DDS", "DDS", "RGB"),
        ("photo.avif", "AVIF", "AVIF", "RGB"),
    ]
    samples = []
    for seed, (name, writer, indexed_as, mode) in enumerate(plain, start=10):
        picture(seed).convert(mode).save(folder / name, writer)
        samples.append(Sample(name, indexed_as))
    write_frames(folder / "animated.gif", "GIF", duration=100, loop=0)
    write_frames(folder / "animated.png", "PNG", duration=100)
    write_frames(folder / "pages.tiff", "TIFF")
    write_frames(folder / "stereo.mpo", "MPO")
    samples += [
        Sample("animated.gif", "GIF"),
        Sample("animated.png", "PNG"),
        Sample("pages.tiff", "TIFF"),
        Sample("stereo.mpo", "MPO"),
    ]
    return samples


def write_format_folder(folder: Path) -> list[Sample]:
    """One file of every format, plus mislabelled and non-image files, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = _pillow_samples(folder)
    write_heic(folder / "phone.heic")
    write_psd(folder / "layers.psd")
    write_dng_demosaic(folder / "camera.dng")
    write_dng_preview(folder / "preview.dng")
    write_dng_demosaic(folder / "raw-named.tif", size=(384, 256))
    picture(30).save(folder / "png-named.jpg", "PNG")
    picture(31).save(folder / "jpeg-named.dat", "JPEG")
    picture(32).save(folder / "no-extension", "PNG")
    (folder / "notes.jpg").write_text("shopping list: eggs, milk\n" * 10)
    (folder / "readme.txt").write_text("not looked at: named as text\n")
    (folder / "blob.bin").write_bytes(np.random.default_rng(9).bytes(4096))
    return [
        *samples,
        Sample("phone.heic", "HEIF"),
        Sample("layers.psd", "PSD"),
        Sample("camera.dng", "DNG"),
        Sample("preview.dng", "DNG"),
        Sample("raw-named.tif", "RAW"),
        Sample("png-named.jpg", "PNG"),
        Sample("jpeg-named.dat", "JPEG"),
        Sample("no-extension", "PNG"),
        Sample("notes.jpg", None, "not an image: named .jpg but the content is text"),
        Sample("readme.txt", None),
        Sample("blob.bin", None),
    ]


# Rarer formats: Pillow decodes them with its own code; it writes only BLP, SPIDER and EPS, so
# the others are built here byte by byte from their specifications (small, uncompressed).
RARE_SIZE = (48, 32)


def _grey(seed: int) -> bytes:
    return picture(seed, RARE_SIZE).convert("L").tobytes()


def _rgb(seed: int) -> bytes:
    return picture(seed, RARE_SIZE).tobytes()


def _dcx(seed: int) -> bytes:
    """Multi-page PCX: a magic number, a 0-terminated table of page offsets, the PCX pages."""
    import io
    import struct

    page = io.BytesIO()
    picture(seed, RARE_SIZE).save(page, "PCX")
    return struct.pack("<III", 987654321, 12, 0) + page.getvalue()


def _fits(seed: int) -> bytes:
    """FITS: 80-character header cards in 2880-byte blocks, then 8-bit pixels."""
    width, height = RARE_SIZE
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8"]
    cards += ["NAXIS   =                    2", f"NAXIS1  = {width:20d}", f"NAXIS2  = {height:20d}"]
    header = "".join(card.ljust(80) for card in [*cards, "END"]).encode("ascii")
    header = header.ljust(2880, b" ")
    data = _grey(seed)
    return header + data + b"\x00" * (-len(data) % 2880)


def _gbr(seed: int) -> bytes:
    """A GIMP brush (version 2): a big-endian header with its name, then grey pixels."""
    import struct

    name = b"pixsift\x00"
    width, height = RARE_SIZE
    header = struct.pack(">IIIII4sI", 28 + len(name), 2, width, height, 1, b"GIMP", 10)
    return header + name + _grey(seed)


def _imt(seed: int) -> bytes:
    """NIH Image's text header (key/value lines), a form feed, then 8-bit pixels."""
    width, height = RARE_SIZE
    return f"width {width}\nheight {height}\npixel n8\n".encode() + b"\x0c" + _grey(seed)


def _pixar(seed: int) -> bytes:
    """A PIXAR picture: 4-byte magic, size and channel layout in a 1024-byte header, then RGB."""
    import struct

    width, height = RARE_SIZE
    header = bytearray(1024)
    header[:4] = b"\x80\xe8\x00\x00"
    struct.pack_into("<HH", header, 416, height, width)
    struct.pack_into("<HH", header, 424, 14, 2)  # 3 channels of 8 bits: RGB
    return bytes(header) + _rgb(seed)


def _xvthumb(seed: int) -> bytes:
    """An xv thumbnail: a "P7 332" header, comments, the size, then 3-3-2 palette indices."""
    width, height = RARE_SIZE
    return f"P7 332\n#END_OF_COMMENTS\n{width} {height} 255\n".encode() + _grey(seed)


def _wmf() -> bytes:
    """The start of a placeable Windows metafile (its magic number and bounding box): Pillow
    recognises it but draws it only on Windows."""
    import struct

    return struct.pack("<IHhhhhHIH", 0x9AC6CDD7, 0, 0, 0, 1000, 800, 1440, 0, 0) + b"\x00" * 64


def write_rare_format_folder(folder: Path) -> list[Sample]:
    """One file of each rarer format Pillow decodes (indexed), and images by content that pixsift
    does not read (EPS, WMF: listed as failures with their reason). No name says "image" to the
    scanner: each is found by its content."""
    folder.mkdir(parents=True, exist_ok=True)
    picture(40, RARE_SIZE).quantize(64).save(folder / "texture.blp", "BLP")  # palette only
    picture(41, RARE_SIZE).convert("F").save(folder / "micrograph.spider", "SPIDER")
    built = {
        "pages.dcx": _dcx(42),
        "galaxy.fits": _fits(43),
        "brush.gbr": _gbr(44),
        "scan.imt": _imt(45),
        "render.pxr": _pixar(46),
        "thumbnail.p7": _xvthumb(47),
    }
    for name, data in built.items():
        (folder / name).write_bytes(data)
    picture(48, RARE_SIZE).save(folder / "drawing.eps", "EPS")
    (folder / "clipart.wmf").write_bytes(_wmf())
    return [
        Sample("texture.blp", "BLP"),
        Sample("micrograph.spider", "SPIDER"),
        Sample("pages.dcx", "DCX"),
        Sample("galaxy.fits", "FITS"),
        Sample("brush.gbr", "GBR"),
        Sample("scan.imt", "IMT"),
        Sample("render.pxr", "PIXAR"),
        Sample("thumbnail.p7", "XVThumb"),
        Sample("drawing.eps", None, "format EPS is not allowed"),
        Sample("clipart.wmf", None, "format WMF is not allowed"),
    ]
