"""The OCR engine, as worker processes run it: Tesseract (Debian's tesseract-ocr with its English
data) through pytesseract. Imports nothing heavy: decode workers load it without torch."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from PIL import Image

from pixsift.search.errors import LibraryError
from pixsift.search.media.imagefile import ImageRejectedError, read_image_for_embedding

LANGUAGE = "eng"
#: Pictures are read at least this large for OCR (JPEGs otherwise decode reduced)...
OCR_MIN_SIDE = 1600
#: ...and scaled down to at most this long side: small text stays legible, time stays bounded.
OCR_MAX_SIDE = 3200
OCR_TIMEOUT_SECONDS = 60.0
#: The readings after the plain one are of the picture enlarged this much (small text)...
ENLARGE = 2
#: ...unless that would exceed this many pixels (time stays bounded: read at its own size).
ENLARGED_PIXEL_BUDGET = 4_000_000
#: Tesseract's page segmentation modes of those readings: automatic (3) and sparse text (11).
OTHER_SEGMENTATION_MODES = (3, 11)
#: A word of those readings is kept only at or above this confidence (0-100).
MIN_CONFIDENCE = 40.0
_PUNCTUATION = ".,:;!?\"'()[]{}|_-~`*"


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
    """The text Tesseract reads in an RGB picture: the lines of a plain reading, then the words
    only the other readings found (enlarged, Sauvola-binarised, sparse), each word once."""
    import pytesseract

    if max(pixels.size) > OCR_MAX_SIDE:
        pixels = pixels.copy()
        pixels.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE))
    deadline = time.monotonic() + timeout
    try:
        raw = pytesseract.image_to_string(pixels, lang=LANGUAGE, timeout=timeout)
        lines = [" ".join(line.split()) for line in raw.splitlines()]
        lines = [line for line in lines if line]
        extra = _words_of_other_readings(pixels, deadline, seen=_keys(" ".join(lines).split()))
    except RuntimeError as error:  # pytesseract's timeout
        return RecognisedText("", f"OCR: {error}")
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, OSError) as error:
        return RecognisedText("", f"OCR failed: {type(error).__name__}: {error}"[:500])
    return RecognisedText("\n".join([*lines, " ".join(extra)] if extra else lines))


def _keys(words: list[str]) -> set[str]:
    return {word.strip(_PUNCTUATION).casefold() for word in words}


def _words_of_other_readings(pixels: Image.Image, deadline: float, seen: set[str]) -> list[str]:
    """Words the plain reading missed. Tesseract's global binarisation loses text on textured
    backgrounds and its layout analysis skips lone words: Sauvola thresholding and sparse
    segmentation (mode 11) find them, and small text reads better enlarged."""
    import pytesseract

    grey = pixels.convert("L")
    if grey.width * grey.height * ENLARGE**2 <= ENLARGED_PIXEL_BUDGET:
        grey = grey.resize((grey.width * ENLARGE, grey.height * ENLARGE), Image.LANCZOS)
    found: list[str] = []
    for mode in OTHER_SEGMENTATION_MODES:
        config = f"--psm {mode} -c thresholding_method=2"
        data = pytesseract.image_to_data(
            grey, lang=LANGUAGE, config=config, timeout=max(1.0, deadline - time.monotonic()),
            output_type=pytesseract.Output.DICT,
        )  # fmt: skip
        for word, confidence in zip(data["text"], data["conf"], strict=True):
            key = word.strip(_PUNCTUATION).casefold()
            # Sparse readings of textures yield short low-confidence scraps: keep real words.
            if float(confidence) >= MIN_CONFIDENCE and len(key) >= 2 and key not in seen:
                seen.add(key)
                found.append(word.strip(_PUNCTUATION))
    return found


def recognise_file(path_bytes: bytes) -> RecognisedText:
    """Read a file for OCR and recognise its text (runs in a worker process)."""
    try:
        loaded = read_image_for_embedding(os.fsdecode(path_bytes), min_side=OCR_MIN_SIDE)
    except ImageRejectedError as error:
        return RecognisedText("", f"OCR could not read the file: {error.reason}")
    return recognise_pixels(loaded.pixels)
