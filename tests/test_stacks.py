"""Stacks: bursts (same camera, seconds apart, near-identical) and RAW+JPEG / HEIC+JPEG pairs of
one shot become one result with a count, the best copy on top; computed at index time;
``stacks=false`` / ``--no-stacks`` shows every copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DatabaseFactory, make_picture
from exif_samples import write_photo
from PIL import Image

from benchmarks.format_samples import write_dng_preview, write_heic
from pixsift.cli.main import main
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.library import Library
from pixsift.search.model.embedder import ModelSpec, OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.web import create_app

START = datetime(2024, 5, 4, 10, 0, 0)
CAMERA = ("Burst", "B1")


def near_copy(seed: int, shift: int) -> Image.Image:
    """The picture of ``seed`` with a little noise: another frame of one burst."""
    pixels = np.asarray(make_picture(seed, size=(192, 144)), dtype=np.int16)
    noise = np.random.default_rng(shift).integers(-3, 4, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def write_shoot(root: Path) -> dict[str, int]:
    """A folder of generated bursts and pairs; returns the expected stack size per name."""
    expected: dict[str, int] = {}
    for frame in range(5):  # one burst of five frames, a second apart
        name = f"burst-a-{frame}.jpg"
        write_photo(root / name, 0, taken=START + timedelta(seconds=frame), camera=CAMERA,
                    picture=near_copy(1, frame))  # fmt: skip
        expected[name] = 5
    for frame in range(3):  # another burst of three, a minute later
        name = f"burst-b-{frame}.jpg"
        write_photo(root / name, 0, taken=START + timedelta(minutes=1, seconds=frame),
                    camera=CAMERA, picture=near_copy(2, frame))  # fmt: skip
        expected[name] = 3
    # The same picture 30 s after burst a, and one by another camera within it: not a burst.
    write_photo(root / "later.jpg", 0, taken=START + timedelta(seconds=34), camera=CAMERA,
                picture=near_copy(1, 9))  # fmt: skip
    write_photo(root / "other-camera.jpg", 0, taken=START + timedelta(seconds=2),
                camera=("Other", "O1"), picture=near_copy(1, 8))  # fmt: skip
    # A different scene by the same camera a second after the burst: not near-identical (its
    # cosine similarity to the burst's last frame is 0.81 under the seeded test model).
    write_photo(root / "different.jpg", 0, taken=START + timedelta(seconds=5), camera=CAMERA,
                picture=make_picture(62, size=(192, 144)))  # fmt: skip
    # A PNG beside a JPEG of the same name is no pair: neither is a camera original.
    make_picture(50).save(root / "export.png")
    make_picture(51).save(root / "export.jpg")
    expected |= {"later.jpg": 1, "other-camera.jpg": 1, "different.jpg": 1}
    expected |= {"export.png": 1, "export.jpg": 1}
    # A RAW+JPEG pair of one shot (the generated DNGs all carry one camera and one time: more
    # of them would be a burst too), and TIFF+JPEG pairs (a scan or an export beside it).
    write_dng_preview(root / "IMG_0000.dng", preview_size=(720, 480))
    make_picture(20, size=(720, 480)).save(root / "IMG_0000.JPG")
    expected |= {"IMG_0000.dng": 2, "IMG_0000.JPG": 2}
    for number in (1, 2):
        make_picture(20 + number, size=(720, 480)).save(root / f"IMG_{number:04d}.tif")
        make_picture(20 + number, size=(360, 240)).save(root / f"IMG_{number:04d}.JPG")
        expected |= {f"IMG_{number:04d}.tif": 2, f"IMG_{number:04d}.JPG": 2}
    write_heic(root / "IMG_0100.heic", seed=5)  # HEIC+JPEG
    make_picture(30).save(root / "IMG_0100.jpg")
    expected |= {"IMG_0100.heic": 2, "IMG_0100.jpg": 2}
    for number in range(3):
        make_picture(40 + number).save(root / f"single-{number}.png")
        expected[f"single-{number}.png"] = 1
    return expected


@pytest.fixture(scope="module")
def shoot(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_embedder: OpenClipEmbedder,
    new_database_url: DatabaseFactory,
) -> Iterator[tuple[Library, dict[str, int]]]:
    root = tmp_path_factory.mktemp("stacks") / "Shoot"
    expected = write_shoot(root)
    library = Library.open(
        tmp_path_factory.mktemp("stacks-library"),
        database_url=new_database_url(),
        embedder=tiny_embedder,
    )
    Indexer(library, tiny_embedder, IndexingOptions(batch_size=8, show_progress=False)).index(
        [root]
    )
    yield library, expected
    library.close()


def everything(library: Library, **options: object) -> list:
    request = SearchRequest((QueryTerm(text="a photo"),), k=100, min_score=-1, **options)
    return library.find(request).hits


def test_indexing_stacks_bursts_and_pairs(shoot: tuple[Library, dict[str, int]]) -> None:
    library, expected = shoot
    records = library.images(range(1, 200)).values()
    assert len(records) == len(expected) == 24
    sizes: dict[int, int] = {}
    for record in records:
        if record.stack_id is not None:
            sizes[record.stack_id] = sizes.get(record.stack_id, 0) + 1
    found = {r.name: sizes.get(r.stack_id, 1) if r.stack_id else 1 for r in records}
    assert found == expected
    # The best copy is on top: the most pixels (the 720x480 TIFF over its 360x240 JPEG).
    by_name = {record.name: record for record in records}
    tiff, jpeg = by_name["IMG_0001.tif"], by_name["IMG_0001.JPG"]
    assert tiff.stack_id == jpeg.stack_id == tiff.id


def test_a_stack_is_one_result_with_its_count(shoot: tuple[Library, dict[str, int]]) -> None:
    library, _ = shoot
    stacked = everything(library)
    counts = sorted((len(hit.stack) or 1 for hit in stacked), reverse=True)
    assert counts == [5, 3, 2, 2, 2, 2] + [1] * 8  # 24 pictures, 14 results
    for hit in stacked:
        if hit.stack:
            assert hit.stack[0] == hit.image.stack_id == hit.id  # the best copy is shown
    assert len(everything(library, stacks=False)) == 24


def test_api_and_cli_show_stacks_and_turn_them_off(
    shoot: tuple[Library, dict[str, int]], tiny_spec: ModelSpec
) -> None:
    library, _ = shoot
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    answer = client.get("/api/search?q=a+photo&k=50&min_score=-1").get_json()["results"]
    assert sorted(hit["stack_count"] for hit in answer) == [1] * 8 + [2] * 4 + [3, 5]
    assert all(len(hit["stack"]) == (hit["stack_count"] if hit["stack_count"] > 1 else 0)
               for hit in answer)  # fmt: skip
    flat = client.get("/api/search?q=a+photo&k=50&min_score=-1&stacks=false").get_json()
    assert len(flat["results"]) == 24
    url = library.store.engine.url.render_as_string(hide_password=False)
    where = ["--library", str(library.directory), "--database-url", url,
             "--model", tiny_spec.model_name, "--pretrained", tiny_spec.pretrained]  # fmt: skip
    shown = CliRunner().invoke(main, ["search", "a photo", "-k", "50", "--min-score", "-1", *where])
    assert shown.exit_code == 0, shown.output
    assert "(+4 in stack)" in shown.output and len(shown.stdout.splitlines()) == 14
    flat_cli = CliRunner().invoke(
        main, ["search", "a photo", "-k", "50", "--min-score", "-1", "--no-stacks", *where]
    )
    assert len(flat_cli.stdout.splitlines()) == 24 and "in stack" not in flat_cli.output


def test_a_hidden_best_copy_leaves_its_stack_in_the_timeline_and_folders(
    shoot: tuple[Library, dict[str, int]],
) -> None:
    """Hiding the best copy of a burst hides that copy only: the timeline and the folder still
    show the burst, with its next copy (the lowest id left) as the cover; hiding every copy
    hides the stack; showing the best again makes it the cover again."""
    from pixsift.search.accounts import LOCAL_PRINCIPAL
    from pixsift.search.browse import timeline
    from pixsift.search.decisions import Decisions
    from pixsift.search.folders import folder_listing
    from pixsift.search.query.request import SearchFilters

    library, _ = shoot
    records = library.images(range(1, 200))
    burst = sorted(i for i, r in records.items() if r.name.startswith("burst-a-"))
    best = records[burst[0]].stack_id
    assert best is not None and len(burst) == 5
    following = min(i for i in burst if i != best)
    (root,) = folder_listing(library.store, None).folders  # the one folder indexed
    root_id = root.root_id

    def shown() -> tuple[set[int], set[int]]:
        on_timeline = {r.id for r in timeline(library.store, SearchFilters(), 100).images}
        in_folder = {r.id for r in folder_listing(library.store, root_id, "", 100).page.images}
        return on_timeline & set(burst), in_folder & set(burst)

    assert shown() == ({best}, {best})
    decisions = Decisions(library.store, LOCAL_PRINCIPAL)
    try:
        decisions.hide(best)
        assert shown() == ({following}, {following})
        # Search too: one result for the burst, led by the next copy, the hidden one not listed.
        (found,) = [hit for hit in everything(library) if set(hit.stack) & set(burst)]
        assert found.id == following and found.stack[0] == following
        assert sorted(found.stack) == [i for i in burst if i != best]
        for image_id in burst:
            decisions.hide(image_id)
        assert shown() == (set(), set())
        for image_id in burst:
            if image_id != best:
                decisions.unhide(image_id)
        assert shown() == ({following}, {following})
    finally:
        for image_id in burst:
            decisions.unhide(image_id)
    assert shown() == ({best}, {best})
