"""Text in images: real words rendered with a TrueType font (several sizes, small angles) are
recognised by Tesseract at index time and found by keyword search; OCR is incremental and a
file whose OCR fails keeps its embedding."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from pixsift.indexer.ocr import ocr_enabled, remember_ocr
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.storage.tags import text_failure_count

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
#: (file name, words, font size, angle in degrees)
RENDERED = [
    ("sign.png", "HARBOUR MARKET", 44, 0),
    ("note.png", "pineapple delivery tuesday", 30, 3),
    ("poster.jpg", "MIDNIGHT CONCERT", 56, -4),
    ("small.png", "library closed today", 22, 0),
]

if shutil.which("tesseract") is None or not FONT.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs tesseract-ocr and fonts-dejavu-core (see .ci/run)")
    pytest.skip(
        "Tesseract or the DejaVu font is not installed "
        "(apt-get install tesseract-ocr tesseract-ocr-eng fonts-dejavu-core)",
        allow_module_level=True,
    )


def render(path: Path, words: str, size: int, angle: float) -> None:
    font = ImageFont.truetype(str(FONT), size)
    width = int(font.getlength(words)) + 80
    picture = Image.new("RGB", (width, size * 3), (250, 248, 240))
    ImageDraw.Draw(picture).text((40, size), words, font=font, fill=(20, 20, 30))
    picture = picture.rotate(angle, expand=True, fillcolor=(250, 248, 240))
    picture.save(path, quality=92) if path.suffix == ".jpg" else picture.save(path)


@pytest.fixture
def text_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "texts"
    folder.mkdir()
    for name, words, size, angle in RENDERED:
        render(folder / name, words, size, angle)
    return folder


def options(ocr: bool) -> IndexingOptions:
    return IndexingOptions(batch_size=4, workers=1, show_progress=False, ocr=ocr, tag=False)


def keyword_names(library: Library, words: str) -> set[str]:
    request = SearchRequest((QueryTerm(text=words),), mode="keyword", k=20)
    return {hit.image.name for hit in library.find(request).hits}


def test_rendered_words_are_recognised_and_found_by_keyword_search(
    library: Library, tiny_embedder: OpenClipEmbedder, text_folder: Path
) -> None:
    summary = Indexer(library, tiny_embedder, options(ocr=True)).index([text_folder])
    assert summary.ocr_done == len(RENDERED) and summary.ocr_failed == 0
    assert keyword_names(library, "harbour") == {"sign.png"}
    assert keyword_names(library, "pineapple") == {"note.png"}
    assert keyword_names(library, "midnight") == {"poster.jpg"}
    assert keyword_names(library, '"library closed"') == {"small.png"}
    record = next(hit.image for hit in library.find(
        SearchRequest((QueryTerm(text="concert"),), mode="keyword", k=5)).hits)  # fmt: skip
    assert "MIDNIGHT CONCERT" in (record.text_in_image or "")


def test_turning_ocr_on_later_reads_indexed_images_without_embedding_them_again(
    library: Library, tiny_embedder: OpenClipEmbedder, text_folder: Path
) -> None:
    Indexer(library, tiny_embedder, options(ocr=False)).index([text_folder])
    assert keyword_names(library, "harbour") == set()
    generation = library.store.index_generation()
    summary = Indexer(library, tiny_embedder, options(ocr=True)).index([text_folder])
    assert summary.embedded == 0 and summary.ocr_done == len(RENDERED)
    assert library.store.index_generation() == generation  # no vector was written
    assert keyword_names(library, "harbour") == {"sign.png"}
    again = Indexer(library, tiny_embedder, options(ocr=True)).index([text_folder])
    assert again.ocr_done == 0  # a file already read is not read again


def test_a_file_whose_ocr_fails_keeps_its_embedding(
    library: Library, tiny_embedder: OpenClipEmbedder, text_folder: Path
) -> None:
    Indexer(library, tiny_embedder, options(ocr=False)).index([text_folder])
    (text_folder / "sign.png").write_bytes(b"not a picture any more")
    os.utime(text_folder / "sign.png", ns=(1, 1))
    # The catch-up pass reads the files again: this one cannot be read for OCR now.
    from pixsift.indexer.ocr import recognise_pending

    done = recognise_pending(library, workers=1)
    assert done.failed == 1 and done.recognised == len(RENDERED) - 1
    assert library.store.image_count() == len(RENDERED)
    assert len(library.store.all_embeddings(library.store.model_id() or "")[0]) == len(RENDERED)
    with library.store.session() as session:
        assert text_failure_count(session) == 1


def test_the_ocr_setting_is_remembered(library: Library) -> None:
    assert not ocr_enabled(library)
    assert remember_ocr(library, True) and remember_ocr(library, None)
    assert not remember_ocr(library, False) and not remember_ocr(library, None)
