"""The OCR engine, as worker processes run it: Tesseract (Debian's tesseract-ocr with its English
data) through pytesseract. Imports nothing heavy: decode workers load it without torch."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PIL import Image

from search.errors import LibraryError
from search.media.imagefile import ImageRejectedError, read_image_for_embedding

LANGUAGE = "eng"
#: Pictures are read at least this large for OCR (JPEGs otherwise decode reduced)...
OCR_MIN_SIDE = 1600
#: ...and scaled down to at most this long side: small text stays legible, time stays bounded.
OCR_MAX_SIDE = 3200
OCR_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class RecognisedText:
    text: str
    #: None when recognition worked, else why it failed.
    failure: str | None = None


def check_engine() -> None:
    """Refuse to turn OCR on where Tesseract is missing, with what to install."""
    import pytesseract

    try:
        pytesseract.get_tesseract_version()
    except (pytesseract.TesseractNotFoundError, OSError) as error:
        raise LibraryError(
            "OCR needs Tesseract: install it (Debian/Ubuntu: apt-get install tesseract-ocr "
            f"tesseract-ocr-eng) ({error})"
        ) from None


def limit_engine_threads() -> None:
    # The parallelism is across worker processes; Tesseract's own threads would oversubscribe.
    os.environ["OMP_THREAD_LIMIT"] = "1"


def recognise_pixels(pixels: Image.Image, timeout: float = OCR_TIMEOUT_SECONDS) -> RecognisedText:
    """The text Tesseract reads in an RGB picture (words joined by single spaces and lines)."""
    import pytesseract

    if max(pixels.size) > OCR_MAX_SIDE:
        pixels = pixels.copy()
        pixels.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE))
    try:
        raw = pytesseract.image_to_string(pixels, lang=LANGUAGE, timeout=timeout)
    except RuntimeError as error:  # pytesseract's timeout
        return RecognisedText("", f"OCR: {error}")
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, OSError) as error:
        return RecognisedText("", f"OCR failed: {type(error).__name__}: {error}"[:500])
    lines = (" ".join(line.split()) for line in raw.splitlines())
    return RecognisedText("\n".join(line for line in lines if line))


def recognise_file(path_bytes: bytes) -> RecognisedText:
    """Read a file for OCR and recognise its text (runs in a worker process)."""
    try:
        loaded = read_image_for_embedding(os.fsdecode(path_bytes), min_side=OCR_MIN_SIDE)
    except ImageRejectedError as error:
        return RecognisedText("", f"OCR could not read the file: {error.reason}")
    return recognise_pixels(loaded.pixels)
