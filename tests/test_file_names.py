"""File names as the disk has them: any name Linux allows (bytes that are not UTF-8, newline,
CR, tab, quotes, backslash, characters a spreadsheet reads as a formula) is indexed, found,
exported, served and listed, and never breaks a response, an export or a line of output."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from conftest import make_picture
from flask.testing import FlaskClient
from markupsafe import escape
from PIL import Image

from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.filenames import display_path, is_exact, terminal_text, valid_text
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.query.export import hits_to_csv, hits_to_json
from pixsift.search.records import ImageFacts, ImageRecord
from pixsift.web import create_app
from pixsift.web.images import ascii_file_name, content_disposition

#: Relative paths (bytes) of the pictures: one hostile trait each, and some several at once.
PICTURE_NAMES = [
    b"caf\xe9.png",  # Latin-1: not UTF-8
    b"line\nbreak.png",
    b"carriage\rreturn.png",
    b"tab\tand,comma.png",
    b'say "cheese" it\'s.png',
    b"=1+2.png",
    b"+sum.png",
    b"-minus.png",
    b"@at.png",
    b"back\\slash;%41.png",
    "写真 ☃.png".encode(),
    b"odd \xff\xfe dir\n/inner \x1b[31mred.png",  # a folder that is not UTF-8, with a newline
]
#: Unreadable files with hostile names: listed by ``pixsift failures``.
BROKEN_NAMES = [b"broken\nname\xff.jpg", b"=evil\r.jpg"]


def write_bytes_name(root: Path, relative: bytes, data: bytes) -> None:
    path = os.fsencode(root) + b"/" + relative
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    make_picture(seed).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-names").resolve()
    for seed, name in enumerate(PICTURE_NAMES):
        write_bytes_name(root, name, png_bytes(seed))
    for name in BROKEN_NAMES:
        write_bytes_name(root, name, b"\xff\xd8\xff not a jpeg")
    return root


@pytest.fixture(scope="module")
def hostile_library(
    tmp_path_factory: pytest.TempPathFactory, tiny_embedder: OpenClipEmbedder, hostile_root: Path
) -> Iterator[Library]:
    library = Library.open(tmp_path_factory.mktemp("hostile-library"), embedder=tiny_embedder)
    options = IndexingOptions(batch_size=4, workers=1, show_progress=False)
    summary = Indexer(library, tiny_embedder, options).index([hostile_root])
    assert (summary.added, summary.failed) == (len(PICTURE_NAMES), len(BROKEN_NAMES))
    yield library
    library.close()


@pytest.fixture(scope="module")
def records(hostile_library: Library) -> dict[str, ImageRecord]:
    """Every indexed image, by its display relative path."""
    hits = hostile_library.search("anything", k=100)
    assert len(hits) == len(PICTURE_NAMES)
    return {hit.image.relative_path: hit.image for hit in hits}


@pytest.fixture
def client(hostile_library: Library) -> FlaskClient:
    return create_app({"TESTING": True, "LIBRARY": hostile_library}).test_client()


# The record ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PICTURE_NAMES)
def test_search_results_show_valid_text_and_open_the_exact_file(
    records: dict[str, ImageRecord], hostile_root: Path, name: bytes
) -> None:
    record = records[display_path(name)]
    assert record.absolute_path == f"{hostile_root}/{display_path(name)}"
    assert record.name == display_path(name.rsplit(b"/", 1)[-1])
    assert record.path_is_exact == is_exact(name)
    # The display form is valid Unicode; the file is opened by its exact bytes.
    json.dumps(record.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")
    assert os.fsencode(record.file_path) == os.fsencode(hostile_root) + b"/" + name
    assert record.file_path.read_bytes() == png_bytes(PICTURE_NAMES.index(name))


def test_undecodable_bytes_show_as_replacement_characters() -> None:
    assert display_path(b"caf\xe9.png") == "caf\ufffd.png" and not is_exact(b"caf\xe9.png")
    assert display_path("写真.png".encode()) == "写真.png" and is_exact("写真.png".encode())
    facts = ImageFacts(width=1, height=1, format="PNG", description="bad \udce9 text")
    assert facts.description == "bad \ufffd text"
    assert valid_text("a\ud800b") == "a\ufffdb"


# Exports --------------------------------------------------------------------------------------


def test_csv_export_keeps_every_name_whole_and_defuses_formulas(hostile_library: Library) -> None:
    hits = hostile_library.search("anything", k=100)
    text = hits_to_csv(hits)
    text.encode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    exported = {row["relative_path"] for row in rows}
    expected = set()
    for name in PICTURE_NAMES:
        shown = display_path(name)
        expected.add("'" + shown if shown[0] in "=+-@" else shown)
    assert exported == expected
    assert all(row["absolute_path"].endswith(row["name"].lstrip("'")) for row in rows)


def test_json_export_keeps_every_name(hostile_library: Library) -> None:
    rows = json.loads(hits_to_json(hostile_library.search("anything", k=100)))
    assert {row["relative_path"] for row in rows} == {display_path(n) for n in PICTURE_NAMES}
    undecodable = [row for row in rows if not row["path_is_exact"]]
    assert len(undecodable) == 2


def test_csv_download_from_the_api(client: FlaskClient) -> None:
    response = client.get("/api/search.csv?q=anything&k=50")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert {row["relative_path"].lstrip("'") for row in rows} == {
        display_path(name) for name in PICTURE_NAMES
    }


# Web --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PICTURE_NAMES)
def test_image_json_original_and_thumbnail_serve_any_name(
    client: FlaskClient, records: dict[str, ImageRecord], name: bytes
) -> None:
    record = records[display_path(name)]
    body = client.get(f"/api/images/{record.id}").get_json()
    assert body["path"] == record.relative_path and body["name"] == record.name
    page = client.get(f"/images/{record.id}")
    assert page.status_code == 200 and str(escape(record.name)) in page.get_data(as_text=True)

    original = client.get(body["image_url"])
    assert original.status_code == 200
    assert original.data == record.file_path.read_bytes()
    disposition = original.headers["Content-Disposition"]
    assert disposition_name(disposition) == record.name
    assert re.fullmatch(r'inline; filename="[ -~]*"; filename\*=\S+', disposition)

    thumbnail = client.get(body["thumbnail_url"])
    assert thumbnail.status_code == 200
    with Image.open(io.BytesIO(thumbnail.data)) as picture:
        assert max(picture.size) <= 256


def disposition_name(header: str) -> str:
    """The name a client that reads RFC 6266 ``filename*`` would save the file as."""
    match = re.search(r"filename\*=UTF-8''([!-~]+)", header)
    assert match is not None, header
    return unquote(match.group(1), errors="strict")


def test_content_disposition_carries_the_name_and_a_safe_ascii_fallback() -> None:
    header = content_disposition('a\r\n"b"\\%41 café 写真.png')
    assert disposition_name(header) == 'a\r\n"b"\\%41 café 写真.png'
    assert 'filename="a___b___41 cafe __.png"' in header
    assert ascii_file_name("plain-name.jpg") == "plain-name.jpg"


def test_results_page_shows_every_name(client: FlaskClient) -> None:
    response = client.get("/?q=anything&k=50")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for name in PICTURE_NAMES:
        shown = display_path(name.rsplit(b"/", 1)[-1])
        assert str(escape(shown)) in html, shown


# The command line -------------------------------------------------------------------------------


def test_cli_lists_failures_and_hits_one_line_each(
    hostile_library: Library, hostile_root: Path, tiny_spec: ModelSpec
) -> None:
    runner = CliRunner()
    library_args = ["--library", str(hostile_library.directory)]
    failures = runner.invoke(main, ["failures", *library_args])
    assert failures.exit_code == 0, failures.output
    lines = failures.stdout.splitlines()
    assert len(lines) == len(BROKEN_NAMES)
    assert {line.split("\t")[0] for line in lines} == {
        f"{hostile_root}/broken\\nname\ufffd.jpg",
        f"{hostile_root}/=evil\\r.jpg",
    }

    model_args = ["--model", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained]
    found = runner.invoke(main, ["search", "anything", "-k", "50", *library_args, *model_args])
    assert found.exit_code == 0, found.output
    lines = found.stdout.splitlines()
    assert len(lines) == len(PICTURE_NAMES)
    assert all(re.fullmatch(r"-?\d\.\d{4}  /.+  #\d+", line) for line in lines)
    assert any("odd \ufffd\ufffd dir\\n/inner \\x1b[31mred.png" in line for line in lines)

    # A threshold this low puts every picture in one near-duplicate group: one line each.
    grouped = runner.invoke(main, ["duplicates", "--threshold", "0.0001", *library_args])
    assert grouped.exit_code == 0, grouped.output
    members = [line for line in grouped.stdout.splitlines() if not line.startswith("group ")]
    assert len(members) == len(PICTURE_NAMES)
    assert all(re.fullmatch(r"  #\d+  /.+", line) for line in members)


def test_terminal_text_escapes_what_a_terminal_would_act_on() -> None:
    assert terminal_text("a\nb\rc\td\\e\x1bf\u202eg\u2028h") == (
        "a\\nb\\rc\\td\\\\e\\x1bf\\u202eg\\u2028h"
    )
    assert terminal_text("café 写真 \ufffd.png") == "café 写真 \ufffd.png"
