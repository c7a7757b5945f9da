"""OCR reads what Tesseract can, not only its plain reading: labelled words on the world's
textured backgrounds that plain ``tesseract FILE stdout`` misses are found by keyword search; and
an OCR failure's reason shows where users look (``pixsift failures``, the API, the image page)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from benchmarks.ocr_words import write_pictures
from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.storage.models import Image
from pixsift.web.app import create_app

if shutil.which("tesseract") is None:
    pytest.skip("Tesseract is not installed (see .ci/run)", allow_module_level=True)


def index(library: Library, embedder: OpenClipEmbedder, folder: Path) -> None:
    options = IndexingOptions(batch_size=4, workers=1, show_progress=False, ocr=True, tag=False)
    Indexer(library, embedder, options).index([folder])


def found_by_keyword(library: Library, word: str) -> set[str]:
    request = SearchRequest((QueryTerm(text=word),), mode="keyword", k=10)
    return {hit.image.name for hit in library.find(request).hits}


def test_labels_plain_tesseract_misses_are_found_by_keyword_search(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    import pytesseract

    folder = tmp_path / "photos"
    folder.mkdir()
    made = write_pictures(folder, 3)  # labels of 20, 28 and 36 px on textured backgrounds
    plain = [pytesseract.image_to_string(str(folder / name)).lower() for name, _, _ in made]
    # What this test is about: a single plain reading does not find these words.
    assert sum(word in text for (_, word, _), text in zip(made, plain, strict=True)) <= 1
    index(library, tiny_embedder, folder)
    for name, word, _ in made:
        assert found_by_keyword(library, word) == {name}, word


def test_an_ocr_failure_is_listed_with_its_reason_where_users_look(
    library: Library,
    tiny_embedder: OpenClipEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    write_pictures(folder, 1)
    # The engine fails for real: Tesseract finds no language data (the workers inherit this).
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "no-language-data"))
    index(library, tiny_embedder, folder)
    monkeypatch.delenv("TESSDATA_PREFIX")
    assert library.store.image_count() == 1  # the picture stays searchable by its pixels

    [record] = library.failures()
    assert library.stats().failure_count == 1
    assert record.path.endswith("photo-000.jpg") and record.reason.startswith("OCR")
    assert "eng" in record.reason  # Tesseract's own words: the language it could not load
    url = library.store.engine.url.render_as_string(hide_password=False)
    listed = CliRunner().invoke(
        main, ["failures", "--library", str(library.directory), "--database-url", url]
    )
    assert listed.exit_code == 0, listed.output
    assert "photo-000.jpg\tOCR" in listed.output and "no skipped files" not in listed.output

    with library.store.session() as session:
        image_id = session.scalar(select(Image.id))
    client = create_app({"TESTING": True, "LIBRARY": library, "SECRET_KEY": "k" * 40}).test_client()
    shown = client.get(f"/api/images/{image_id}").get_json()
    assert shown["text_failure"] == record.reason and shown["text_in_image"] is None
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "not read: OCR" in page
