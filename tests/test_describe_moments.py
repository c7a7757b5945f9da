"""Describing videos by their moments: each moment's frame is described like a photo, stored in
its record, found by keyword search, edited by hand, and printed by ``pixsift describe VIDEO``
one line per moment with its time."""

# ruff: noqa: F811 (the captioner fixtures of test_describe, imported, are the tests' arguments)

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_pictures
from test_describe import caption_options, captioner, coca_spec, model_options  # noqa: F401
from video_samples import BLUE, GREEN, RED, Segment, write_video

from pixsift.cli.main import main as cli
from pixsift.indexer.describing import describe_pending
from pixsift.indexer.pipeline import Indexer, IndexingOptions
from pixsift.search.caption.coca import CocaCaptioner
from pixsift.search.caption.protocol import CaptionerSpec
from pixsift.search.description_edits import DescriptionText, LibraryDescriptions
from pixsift.search.library import Library
from pixsift.search.media.video import read_frame
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest
from pixsift.search.storage.descriptions import MANUAL
from pixsift.search.storage.models import ImageDescription
from pixsift.web.app import create_app

#: Three shots of three seconds: a red, a moving blue pattern, a green one (cuts at 3 s, 6 s).
SHOTS = (Segment(3, RED), Segment(3, BLUE, moving=True), Segment(3, GREEN))
FRAME = 0.15


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """One short video of three shots and one photo."""
    folder = tmp_path / "media"
    write_pictures(folder, 1)
    write_video(folder / "shots.mp4", SHOTS, codec="libx264")
    return folder


def index(library: Library, embedder: OpenClipEmbedder, folder: Path) -> list[int]:
    """Index ``folder``; the video's moment ids, in time order."""
    options = IndexingOptions(batch_size=4, workers=1, show_progress=False, tag=False)
    Indexer(library, embedder, options).index([folder])
    records = library.images(list(range(1, 20)))
    moments = [record for record in records.values() if record.video_id is not None]
    return [record.id for record in sorted(moments, key=lambda record: record.offset_s)]


def keyword_hits(library: Library, words: str) -> set[int]:
    """Every image a keyword search finds, moments grouped under their video included."""
    request = SearchRequest((QueryTerm(text=words),), mode="keyword", k=20)
    found = set()
    for hit in library.find(request).hits:
        found |= {hit.image.id} | {moment.image.id for moment in hit.moments}
    return found


def test_every_moment_is_described_by_its_frame_stored_and_found_by_its_words(
    library: Library, tiny_embedder: OpenClipEmbedder, captioner: CocaCaptioner, folder: Path
) -> None:
    moments = index(library, tiny_embedder, folder)
    assert len(moments) == 3
    done = describe_pending(library, captioner, batch_size=2, show_progress=False)
    assert (done.described, done.failed) == (4, 0)  # the photo and the three moments
    records = library.images(moments)
    assert [records[i].offset_s for i in moments] == pytest.approx([0, 3, 6], abs=FRAME)
    frames = [read_frame(folder / "shots.mp4", records[i].offset_s).convert("RGB") for i in moments]
    assert [records[i].caption for i in moments] == captioner.describe(frames)
    assert {records[i].caption_by for i in moments} == {captioner.captioner_id}
    again = describe_pending(library, captioner, show_progress=False)
    assert (again.described, again.failed) == (0, 0)  # resumable: nothing done twice
    # A word of a moment's description finds that moment, with its video.
    word = next(w for w in records[moments[1]].caption.split() if w.isalpha())
    assert moments[1] in keyword_hits(library, word)
    client = create_app({"TESTING": True, "LIBRARY": library}).test_client()
    shown = client.get(f"/api/images/{moments[1]}").get_json()
    assert (shown["caption"], shown["caption_by"]) == (records[moments[1]].caption,
                                                       captioner.captioner_id)  # fmt: skip
    assert shown["video_id"] is not None
    page = client.get(f"/images/{moments[1]}").get_data(as_text=True)
    assert 'class="edit-description"' in page  # an editor can correct a moment's description


def test_a_moment_edited_by_hand_is_found_by_its_words_and_kept_by_later_runs(
    library: Library, tiny_embedder: OpenClipEmbedder, captioner: CocaCaptioner, folder: Path
) -> None:
    moments = index(library, tiny_embedder, folder)
    describe_pending(library, captioner, show_progress=False)
    edited = LibraryDescriptions(library).write(moments[2], DescriptionText(text="zebra parade"))
    assert (edited.caption, edited.caption_by) == ("zebra parade", MANUAL)
    cleared = LibraryDescriptions(library).clear(moments[0])
    assert cleared.cleared and cleared.caption is None
    assert keyword_hits(library, "zebra") == {moments[2]}
    with library.store.session() as session:  # a newer captioner: everything is due again...
        session.query(ImageDescription).filter(ImageDescription.source != MANUAL).delete()
    done = describe_pending(library, captioner, show_progress=False)
    assert done.described == 2  # ...but the photo and the middle moment only
    assert library.image(moments[2]).caption == "zebra parade"
    assert library.image(moments[0]).caption is None


def test_a_moment_whose_video_cannot_be_decoded_gets_the_reason(
    library: Library, tiny_embedder: OpenClipEmbedder, captioner: CocaCaptioner, folder: Path
) -> None:
    moments = index(library, tiny_embedder, folder)
    (folder / "shots.mp4").write_bytes(b"not a video any more")
    done = describe_pending(library, captioner, show_progress=False)
    assert (done.described, done.failed) == (1, 3)
    with library.store.session() as session:
        failures = {row.image_id: row.failure for row in session.query(ImageDescription)}
    for moment in moments:
        assert failures[moment].startswith("could not read the picture: the video cannot be")


def test_describe_command_on_a_video_prints_each_moment_with_its_time(
    coca_spec: CaptionerSpec,
    tiny_spec,
    new_database_url,
    folder: Path,
    tmp_path: Path,
) -> None:
    common = ["--library", str(tmp_path / "library"), "--database-url", new_database_url()]
    model, caption = model_options(tiny_spec), caption_options(coca_spec)
    runner = CliRunner()
    first = runner.invoke(cli, ["index", str(folder), "--describe", "--no-tags", "--no-progress",
                                *common, *model, *caption])  # fmt: skip
    assert first.exit_code == 0, first.output
    assert "described 4 pictures" in first.output
    video = runner.invoke(cli, ["describe", str(folder / "shots.mp4"), *common])
    assert video.exit_code == 0, video.output
    lines = video.output.strip().splitlines()
    with Library.open(tmp_path / "library", database_url=common[3]) as opened:
        records = [r for r in opened.images(list(range(1, 10))).values() if r.video_id]
        records.sort(key=lambda record: record.offset_s)
        assert [line.split("  ", 1)[1] for line in lines] == [r.caption for r in records]
        one = runner.invoke(cli, ["describe", str(records[1].id), *common])
        assert one.exit_code == 0 and one.output.strip() == records[1].caption, one.output
    assert [line.split("  ")[0] for line in lines] == ["0:00", "0:03", "0:06"]
    # A video the library does not hold: sampled and described alike, nothing stored.
    shutil.copy(folder / "shots.mp4", tmp_path / "elsewhere.mp4")
    outside = runner.invoke(cli, ["describe", str(tmp_path / "elsewhere.mp4"), *common])
    assert outside.exit_code == 0, outside.output
    assert len(outside.output.strip().splitlines()) == 3
    assert all(re.match(r"\d+:\d\d  \S", line) for line in outside.output.splitlines())
    (tmp_path / "broken.mp4").write_bytes(b"no video here")
    broken = runner.invoke(cli, ["describe", str(tmp_path / "broken.mp4"), *common])
    assert broken.exit_code == 1 and "broken.mp4: the video cannot be" in broken.output
    absent = runner.invoke(cli, ["describe", str(tmp_path / "absent.mp4"), *common])
    assert absent.exit_code == 1 and "neither an image id nor a picture or video file" in (
        absent.output
    )
