"""Hard cuts: the detector (search.media.shot_cuts) on frames made in memory, and the video
sampler on written videos: every shot of the small world's multi-shot videos gets its moment
at its cut, and single-shot videos whose every frame changes (pans, fades, flicker, flashes)
are not split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.video_cuts import FPS, KINDS, SINGLE_SEED, write_single_shot
from benchmarks.world.render import render
from benchmarks.world.scenes import scenes
from benchmarks.world_files import VIDEO_FPS, write_videos
from pixsift.search.media.shot_cuts import CutDetector, content_score, hsv_planes
from pixsift.search.media.video import SamplingOptions, sample_moments

#: world_quality's video seed: among its first nine clips are cuts the old detector missed
#: (clip-006 at 4 s, clip-008 at both cuts; docs/benchmarks.md section 23).
WORLD_VIDEO_SEED = 2_026_1206


def picture(seed: int) -> np.ndarray:
    """A 32x18 picture of coarse coloured blocks (a shot), none near white (brightened by a
    third, nothing is clipped)."""
    blocks = np.random.default_rng(seed).integers(10, 190, (3, 4, 3))
    return np.repeat(np.repeat(blocks, 6, axis=0), 8, axis=1).astype(np.uint8)


def verdicts(frames: list[np.ndarray]) -> list[tuple[int, bool]]:
    detector: CutDetector[int] = CutDetector()
    decided = []
    for number, frame in enumerate(frames):
        decided += detector.push(number, hsv_planes(frame))
    return decided + detector.flush()


def cut_frames(frames: list[np.ndarray]) -> list[int]:
    decided = verdicts(frames)
    assert [number for number, _ in decided] == list(range(len(frames)))  # each once, in order
    return [number for number, is_cut in decided if is_cut]


def test_a_hard_cut_is_found_at_its_frame_even_near_either_end() -> None:
    first, second, third = picture(1), picture(2), picture(3)
    frames = [first] * 8 + [second] * 8 + [third] * 2
    assert cut_frames(frames) == [8, 16]


def test_a_flash_and_steady_motion_are_not_cuts() -> None:
    still, flash = picture(1), np.full((18, 32, 3), 250, np.uint8)
    assert cut_frames([still] * 6 + [flash] * 2 + [still] * 6) == []
    # A pan: every frame differs from the last by as much as the frames around it.
    wide = np.tile(picture(4), (1, 4, 1))
    assert cut_frames([wide[:, step * 3 : step * 3 + 32] for step in range(30)]) == []


def test_brightness_alone_is_not_a_change_of_content() -> None:
    still = picture(5)
    brighter = np.clip(still.astype(np.float32) * 1.3, 0, 255).astype(np.uint8)
    dark = (still.astype(np.float32) * 0.04).astype(np.uint8)
    darker = (still.astype(np.float32) * 0.01).astype(np.uint8)
    assert content_score(hsv_planes(still), hsv_planes(brighter)) < 2.0
    assert content_score(hsv_planes(dark), hsv_planes(darker)) < 2.0  # the end of a fade
    assert content_score(hsv_planes(still), hsv_planes(picture(6))) > 20.0


def test_every_shot_of_the_world_videos_gets_its_moment_at_its_cut(tmp_path: Path) -> None:
    videos = write_videos(tmp_path, WORLD_VIDEO_SEED, 9)
    for video in videos:
        moments = sample_moments(tmp_path / video.name, SamplingOptions()).moments
        starts = [number * video.shot_seconds for number in range(len(video.shots))]
        offsets = [moment.offset_seconds for moment in moments]
        assert offsets == pytest.approx(starts, abs=1.01 / VIDEO_FPS), video.name
        assert [moment.scene_change for moment in moments] == [False, True, True], video.name


@pytest.mark.parametrize(
    "kind",
    [
        "pan, fast (3 sweeps)",
        "fade out and in",
        "camera flashes",
        "noise + brightness flicker, mpeg4 300 kb/s",
    ],
)
def test_a_single_shot_that_keeps_changing_is_not_split(tmp_path: Path, kind: str) -> None:
    frames, codec, rate = KINDS[kind]
    rng = np.random.default_rng(SINGLE_SEED)
    pictures = [render(scene, (360, 360)) for scene in scenes(SINGLE_SEED, 4)]
    path = tmp_path / "single.mp4"
    write_single_shot(path, frames(rng, pictures), codec, rate)
    moments = sample_moments(path, SamplingOptions()).moments
    assert not any(moment.scene_change for moment in moments)
    # The first frame, and at most the 10 s interval's sample (12 s videos).
    assert [moment.offset_seconds for moment in moments][:1] == [0.0]
    assert len(moments) <= 2
    assert all(
        moment.offset_seconds in (0.0, pytest.approx(10.0, abs=1 / FPS)) for moment in moments
    )


def test_the_world_video_figure_counts_a_first_shot_found_at_0_s() -> None:
    """benchmarks' video figure: a moment at 0.0 s is the first shot's (it was read as a
    photo's missing offset, so no first shot ever counted)."""
    from types import SimpleNamespace

    from benchmarks.world_figures import video_figures
    from benchmarks.world_files import WorldVideo

    video = WorldVideo("clip.mp4", tuple(scenes(SINGLE_SEED, 2)))
    at_start = SimpleNamespace(image=SimpleNamespace(relative_path="clip.mp4", offset_s=0.0))

    class EveryCaptionFindsTheStart:
        def find(self, request: object) -> SimpleNamespace:
            return SimpleNamespace(hits=[at_start])

    figures = video_figures(EveryCaptionFindsTheStart(), [video])  # type: ignore[arg-type]
    assert (figures["shots"], figures["shot_moment_first"]) == (2, 0.5)  # shot 0 yes, shot 1 no
