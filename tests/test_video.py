"""Videos indexed as moments: sampling at cuts and intervals, storage, re-indexing, search
grouping, with short videos written by PyAV (known colours at known times) and the tiny
random-weights model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_pictures
from video_samples import BLUE, FPS, GREEN, RED, Segment, write_video

from pixsift.indexer.pipeline import Indexer, IndexingOptions, IndexingSummary
from pixsift.search.library import Library
from pixsift.search.media.video import (
    SamplingOptions,
    VideoRejectedError,
    read_frame,
    sample_moments,
)
from pixsift.search.model.embedder import OpenClipEmbedder
from pixsift.search.query.request import QueryTerm, SearchRequest

OPTIONS = IndexingOptions(batch_size=8, workers=1, show_progress=False, video_interval_seconds=2)
FRAME = 1 / FPS
#: 6 s red, 6 s of a scrolling blue pattern, 6 s green: cuts at 6 s and 12 s.
EXPECTED_OFFSETS = [0.0, 6.0, 8.0, 10.0, 12.0]


def index(library: Library, embedder: OpenClipEmbedder, root: Path, **options) -> IndexingSummary:
    chosen = IndexingOptions(**{**OPTIONS.__dict__, **options})
    return Indexer(library, embedder, chosen).index([root])


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    write_video(folder / "scenes.mp4", codec="libx264")
    write_video(folder / "scenes.webm", codec="libvpx-vp9")
    (folder / "nested").mkdir()
    write_video(folder / "nested" / "scenes.mkv", codec="mpeg4")
    return folder


@pytest.mark.parametrize("name", ["scenes.mp4", "scenes.webm", "nested/scenes.mkv"])
def test_moments_at_cuts_and_every_interval_without_repeats(clips: Path, name: str) -> None:
    sample = sample_moments(clips / name, SamplingOptions(interval_seconds=2))
    offsets = [moment.offset_seconds for moment in sample.moments]
    # The cuts at 6 s and 12 s are sampled within one frame; the moving pattern every 2 s; the
    # still red and green shots once each (their later samples are the same picture).
    assert offsets == pytest.approx(EXPECTED_OFFSETS, abs=FRAME)
    assert [moment.scene_change for moment in sample.moments] == [
        False, True, False, False, True,
    ]  # fmt: skip
    assert sample.duration_seconds == pytest.approx(18, abs=2 * FRAME)
    colours = [np.asarray(m.picture)[5, 5].astype(int) for m in sample.moments]
    for colour, expected in zip(colours, [RED, BLUE, BLUE, BLUE, GREEN], strict=True):
        if expected != BLUE:  # the blue shot is patterned
            assert np.abs(colour - expected).max() < 30


def test_a_long_still_shot_is_one_moment_and_a_changing_one_is_sampled_every_interval(
    tmp_path: Path,
) -> None:
    path = write_video(tmp_path / "long.mp4", (Segment(9, BLUE, moving=True), Segment(9, RED)))
    offsets = [
        moment.offset_seconds
        for moment in sample_moments(path, SamplingOptions(interval_seconds=3)).moments
    ]
    assert offsets == pytest.approx([0, 3, 6, 9], abs=FRAME)
    gaps = np.diff(offsets)
    assert gaps.max() <= 3 + FRAME


def test_a_broken_video_is_rejected_with_a_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    with pytest.raises(VideoRejectedError) as raised:
        sample_moments(broken, SamplingOptions())
    assert "cannot be" in raised.value.reason


def test_read_frame_shows_the_picture_at_that_time(clips: Path) -> None:
    frame = np.asarray(read_frame(clips / "scenes.mp4", 13.0)).astype(int)
    assert np.abs(frame[5, 5] - GREEN).max() < 30
    frame = np.asarray(read_frame(clips / "scenes.mp4", 1.0)).astype(int)
    assert np.abs(frame[5, 5] - RED).max() < 30
    full = read_frame(clips / "scenes.mp4", 13.0)
    # With a side (what describing a moment reads): the short side scaled to it, never up.
    small = read_frame(clips / "scenes.mp4", 13.0, side=min(full.size) // 2)
    assert min(small.size) == min(full.size) // 2 and small.mode == "RGB"
    assert abs(small.width / small.height - full.width / full.height) < 0.05
    assert read_frame(clips / "scenes.mp4", 13.0, side=10 * min(full.size)).size == full.size
    assert np.abs(np.asarray(small).astype(int)[2, 2] - GREEN).max() < 30


def moments_by_video(library: Library) -> dict[str, list[float]]:
    ids, _ = library.store.all_embeddings(library.store.model_id() or "")
    found: dict[str, list[float]] = {}
    for record in library.images([int(i) for i in ids]).values():
        if record.video_id is not None:
            found.setdefault(record.relative_path, []).append(record.offset_s)
    return {name: sorted(offsets) for name, offsets in found.items()}


@pytest.fixture
def mixed_folder(tmp_path: Path, clips: Path) -> Path:
    folder = tmp_path / "mixed"
    shutil.copytree(clips, folder)
    write_pictures(folder, 3)
    return folder


def test_index_stores_each_moment_with_its_offset_and_reindex_skips_unchanged(
    library: Library, tiny_embedder: OpenClipEmbedder, mixed_folder: Path
) -> None:
    summary = index(library, tiny_embedder, mixed_folder)
    assert summary.added == 3 and summary.failed == 0
    videos = summary.videos
    assert (videos.indexed, videos.moments, videos.failed) == (3, 15, 0)
    stored = moments_by_video(library)
    assert set(stored) == {"scenes.mp4", "scenes.webm", "nested/scenes.mkv"}
    for offsets in stored.values():
        assert offsets == pytest.approx(EXPECTED_OFFSETS, abs=FRAME)
    assert library.stats().image_count == 3 + 15

    again = index(library, tiny_embedder, mixed_folder)
    assert (again.videos.indexed, again.videos.unchanged, again.videos.removed) == (0, 3, 0)
    assert again.added == again.removed == 0 and again.unchanged == 3
    assert moments_by_video(library) == stored


def test_a_changed_video_replaces_its_moments_and_a_removed_one_loses_them(
    library: Library, tiny_embedder: OpenClipEmbedder, mixed_folder: Path
) -> None:
    index(library, tiny_embedder, mixed_folder)
    write_video(mixed_folder / "scenes.mp4", (Segment(4, GREEN), Segment(4, RED)))
    (mixed_folder / "scenes.webm").unlink()
    summary = index(library, tiny_embedder, mixed_folder)
    assert (summary.videos.indexed, summary.videos.removed, summary.videos.unchanged) == (1, 1, 1)
    stored = moments_by_video(library)
    assert stored["scenes.mp4"] == pytest.approx([0.0, 4.0], abs=FRAME)
    assert "scenes.webm" not in stored
    assert library.stats().image_count == 3 + 5 + 2


def test_a_broken_video_is_skipped_with_a_reason_and_retried_once_it_changes(
    library: Library, tiny_embedder: OpenClipEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "broken.mov").write_bytes(b"not a video at all" * 100)
    write_video(folder / "fine.mp4", (Segment(2, RED),))
    summary = index(library, tiny_embedder, folder)
    assert (summary.videos.indexed, summary.videos.failed) == (1, 1)
    failures = library.failures()
    assert [Path(failure.path).name for failure in failures] == ["broken.mov"]
    assert "cannot be" in failures[0].reason
    assert library.stats().failure_count == 1
    assert index(library, tiny_embedder, folder).videos.failed == 0  # not retried unchanged
    write_video(folder / "broken.mov", (Segment(2, BLUE),))
    summary = index(library, tiny_embedder, folder)
    assert (summary.videos.indexed, summary.videos.failed) == (1, 0)
    assert library.failures() == []


def test_no_video_leaves_videos_alone(
    library: Library, tiny_embedder: OpenClipEmbedder, mixed_folder: Path
) -> None:
    summary = index(library, tiny_embedder, mixed_folder, index_videos=False)
    assert summary.videos.indexed == 0 and moments_by_video(library) == {}
    index(library, tiny_embedder, mixed_folder)
    summary = index(library, tiny_embedder, mixed_folder, index_videos=False)
    assert summary.videos.removed == 0 and len(moments_by_video(library)) == 3


def test_a_moment_is_found_by_its_frame_with_its_offset_and_moments_are_grouped(
    library: Library, tiny_embedder: OpenClipEmbedder, mixed_folder: Path, tmp_path: Path
) -> None:
    index(library, tiny_embedder, mixed_folder)
    frame_path = tmp_path / "frame.png"
    read_frame(mixed_folder / "scenes.mp4", 12.0).save(frame_path)
    page = library.find(SearchRequest((QueryTerm(image_path=frame_path),), k=10))
    best = page.hits[0]
    assert best.image.relative_path in {"scenes.mp4", "scenes.webm", "nested/scenes.mkv"}
    assert best.image.offset_s == pytest.approx(12.0, abs=FRAME)
    assert best.image.video_id is not None
    # One result per video, photos keep their own slots; the video's moments ride along.
    video_hits = [hit for hit in page.hits if hit.image.video_id is not None]
    assert len({hit.image.video_id for hit in video_hits}) == len(video_hits) == 3
    assert len(page.hits) == 3 + 3
    for hit in video_hits:
        assert hit.moments[0].image.id == hit.image.id
        assert sorted(m.image.offset_s for m in hit.moments) == pytest.approx(
            EXPECTED_OFFSETS, abs=FRAME
        )
        assert {m.image.video_id for m in hit.moments} == {hit.image.video_id}
        scores = [m.score for m in hit.moments]
        assert scores == sorted(scores, reverse=True)


def test_a_video_over_its_time_limit_is_skipped_with_the_reason(
    library: Library, tiny_embedder: OpenClipEmbedder, clips: Path
) -> None:
    summary = index(library, tiny_embedder, clips / "nested", video_timeout_seconds=0.01)
    assert (summary.videos.indexed, summary.videos.failed) == (0, 1)
    (failure,) = library.failures()
    assert failure.reason == "decoding took longer than 0.01 s"


@pytest.mark.parametrize(
    ("segments", "expected_offsets"),
    [
        # The interval sample at 10 s repeats the still red picture and is dropped; the cut half
        # a second later must still be sampled (it was not: moments [0.0] only).
        ((Segment(10.5, RED), Segment(5, BLUE)), [0.0, 10.5]),
        # The interval sample at 10 s is kept (the pattern moves); the cut 0.3 s later is too
        # close to it, so the new shot is sampled once the minimum gap has passed, at 11 s.
        ((Segment(10.3, BLUE, moving=True), Segment(5, RED)), [0.0, 10.0, 11.0]),
    ],
    ids=["cut-after-a-dropped-repeat", "cut-right-after-a-kept-moment"],
)
def test_every_shot_gets_a_moment(
    tmp_path: Path, segments: tuple[Segment, ...], expected_offsets: list[float]
) -> None:
    path = write_video(tmp_path / "shots.mp4", segments, codec="libx264")
    moments = sample_moments(path, SamplingOptions(interval_seconds=10)).moments
    assert [m.offset_seconds for m in moments] == pytest.approx(expected_offsets, abs=FRAME)
    last_colour = np.asarray(moments[-1].picture)[5, 5].astype(int)
    assert np.abs(last_colour - segments[-1].colour).max() < 30  # the last shot, found
    assert moments[-1].scene_change
