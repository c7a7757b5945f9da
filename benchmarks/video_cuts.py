"""Shot cuts found and videos over-split: the video sampler (search/media/video.py) on videos
with known cuts and on single-shot videos whose every frame changes.

* the small world's multi-shot videos (benchmarks/world_files.py, the seed world_quality uses):
  the share of shots that get a moment of their own, and of cuts sampled as cuts;
* one continuous shot each (world scenes as the picture, seeded), 12 s at 25 fps, libx264
  unless named: a slow and a fast pan, a zoom, a handheld shake, a fade out and in, a gradual
  lighting change, camera flashes, noise and brightness flicker at a low mpeg4 bit rate, an
  object crossing a still background; the moments per video and how many of them were taken
  as cuts (none is a cut; the 10 s interval alone adds one moment when the picture moved).

Run: ``python -m benchmarks.video_cuts --videos 24`` (results/video_cuts.json).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import WORK, write_results
from benchmarks.world.render import render
from benchmarks.world.scenes import scenes
from benchmarks.world_files import write_videos
from pixsift.search.media.video import SamplingOptions, sample_moments

VIDEO_SEED = 2_026_1206  # world_quality's: the same world videos
SINGLE_SEED = 2_026_1207
SIZE = (320, 180)
FPS = 25
SECONDS = 12.0
FRAMES = int(SECONDS * FPS)

Frames = Callable[[np.random.Generator, list[Image.Image]], Iterator[np.ndarray]]


def _fit(picture: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(picture.resize(SIZE, Image.BILINEAR, box=box))


def _strip(pictures: list[Image.Image]) -> Image.Image:
    """The pictures side by side: a wide view to pan over."""
    side = pictures[0].height
    strip = Image.new("RGB", (side * len(pictures), side))
    for number, picture in enumerate(pictures):
        strip.paste(picture, (number * side, 0))
    return strip


def _pan(speed_sweeps: float) -> Frames:
    def frames(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
        strip = _strip(pictures)
        height = strip.height
        width = height * SIZE[0] / SIZE[1]
        travel = strip.width - width
        for index in range(FRAMES):
            phase = (index / FRAMES * speed_sweeps) % 2.0  # there and back
            x = travel * (phase if phase <= 1 else 2 - phase)
            yield _fit(strip, (x, 0, x + width, height))

    return frames


def _zoom(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
    picture = pictures[0]
    side = picture.width
    for index in range(FRAMES):
        scale = 1.0 - 0.6 * index / FRAMES
        width, height = side * scale, side * scale * SIZE[1] / SIZE[0]
        left, top = (side - width) / 2, (side - height) / 2
        yield _fit(picture, (left, top, left + width, top + height))


def _still(picture: Image.Image) -> np.ndarray:
    side = picture.width
    height = side * SIZE[1] / SIZE[0]
    return _fit(picture, (0, (side - height) / 2, side, (side + height) / 2)).astype(np.float32)


def _shaken(smooth: bool) -> Frames:
    """A hand-held camera: a smooth random walk within 4 % of the picture, or (not ``smooth``)
    independent jumps of up to 8 % every frame, a picture that never settles."""

    def frames(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
        picture = pictures[0]
        side = picture.width
        margin = side * 0.08
        height = (side - 2 * margin) * SIZE[1] / SIZE[0]
        position = velocity = np.zeros(2)
        for _ in range(FRAMES):
            if smooth:
                velocity = 0.8 * velocity + rng.normal(0, side * 0.002, 2)
                position = np.clip(position + velocity, -margin / 2, margin / 2)
            else:
                position = rng.uniform(-margin, margin, 2)
            left, top = margin + position[0], (side - height) / 2 + position[1]
            yield _fit(picture, (left, top, left + side - 2 * margin, top + height))

    return frames


def _fade(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
    still = _still(pictures[0])
    for index in range(FRAMES):
        t = index / FPS  # out from 3 s to 4.5 s, black to 5.5 s, in until 7 s
        level = np.clip(max(1 - (t - 3) / 1.5, (t - 5.5) / 1.5), 0, 1) if t > 3 else 1.0
        yield (still * level).astype(np.uint8)


def _lighting(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
    still = _still(pictures[0])
    for index in range(FRAMES):
        t = index / FRAMES
        gain = np.array([0.5 + 0.7 * t, 0.5 + 0.6 * t, 0.6 + 0.4 * t], np.float32)  # warmer
        yield np.clip(still * gain, 0, 255).astype(np.uint8)


def _flashes(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
    still = _still(pictures[0])
    flashes = {int(s * FPS) + k for s in (3, 6, 9) for k in (0, 1)}
    for index in range(FRAMES):
        flash = index in flashes
        yield (
            np.clip(still * 0.35 + 180, 0, 255).astype(np.uint8)
            if flash
            else still.astype(np.uint8)
        )


def _flicker(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
    still = _still(pictures[0])
    for _ in range(FRAMES):
        gain = rng.uniform(0.92, 1.08)
        noise = rng.integers(-14, 15, still.shape)
        yield np.clip(still * gain + noise, 0, 255).astype(np.uint8)


def _crossing(rng: np.random.Generator, pictures: list[Image.Image]) -> Iterator[np.ndarray]:
    still = _still(pictures[0]).astype(np.uint8)
    colour = rng.integers(0, 256, 3)
    size = SIZE[1] // 3
    for index in range(FRAMES):
        frame = still.copy()
        x = int(index / FRAMES * (SIZE[0] + size)) - size
        top = SIZE[1] // 2 - size // 2
        frame[top : top + size, max(0, x) : max(0, x + size)] = colour
        yield frame


#: name -> (frames, codec, bit rate or None for the codec's default quality)
KINDS: dict[str, tuple[Frames, str, int | None]] = {
    "pan, slow": (_pan(1.0), "libx264", None),
    "pan, fast (3 sweeps)": (_pan(3.0), "libx264", None),
    "zoom": (_zoom, "libx264", None),
    "handheld shake": (_shaken(True), "libx264", None),
    "violent shake (jumps of 8 % a frame)": (_shaken(False), "libx264", None),
    "fade out and in": (_fade, "libx264", None),
    "lighting, gradual": (_lighting, "libx264", None),
    "camera flashes": (_flashes, "libx264", None),
    "noise + brightness flicker, mpeg4 300 kb/s": (_flicker, "mpeg4", 300_000),
    "object crossing": (_crossing, "libx264", None),
}


def write_single_shot(path: Path, frames: Iterator[np.ndarray], codec: str, rate: int | None):
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        if rate:
            stream.bit_rate = rate
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def single_shot_figures(folder: Path, per_kind: int) -> dict:
    rng = np.random.default_rng(SINGLE_SEED)
    made = iter(scenes(SINGLE_SEED, len(KINDS) * per_kind * 4, allow_held_out=False))
    figures = {}
    for number, (kind, (frames, codec, rate)) in enumerate(KINDS.items()):
        moments = cuts = 0
        for copy in range(per_kind):
            pictures = [render(next(made), (540, 540)) for _ in range(4)]
            path = folder / f"single-{number}-{copy}.mp4"
            write_single_shot(path, frames(rng, pictures), codec, rate)
            sample = sample_moments(path, SamplingOptions())
            moments += len(sample.moments)
            cuts += sum(moment.scene_change for moment in sample.moments)
        figures[kind] = {
            "videos": per_kind,
            "moments_per_video": round(moments / per_kind, 2),
            "cuts_per_video": round(cuts / per_kind, 2),
        }
        print(f"{kind}: {json.dumps(figures[kind])}", flush=True)
    return figures


def world_figures(folder: Path, count: int) -> dict:
    videos = write_videos(folder, VIDEO_SEED, count)
    shots = found = cuts_found = moments = 0
    started = time.perf_counter()
    for video in videos:
        sample = sample_moments(folder / video.name, SamplingOptions())
        moments += len(sample.moments)
        for number in range(len(video.shots)):
            start, end = number * video.shot_seconds, (number + 1) * video.shot_seconds
            inside = [m for m in sample.moments if start <= m.offset_seconds < end]
            shots += 1
            found += bool(inside)
            cuts_found += number > 0 and any(m.scene_change for m in inside)
    cut_count = shots - len(videos)
    return {
        "videos": len(videos),
        "shots": shots,
        "moments": moments,
        "shots_with_a_moment": round(found / shots, 4),
        "cuts_sampled_as_cuts": f"{cuts_found} of {cut_count}",
        "sampling_seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24, help="world videos (3 shots each)")
    parser.add_argument("--per-kind", type=int, default=3, help="single-shot videos per kind")
    parser.add_argument("--name", default="", help="results/video_cuts-NAME.json")
    args = parser.parse_args()
    work = WORK / "video_cuts"
    shutil.rmtree(work, ignore_errors=True)
    (work / "world").mkdir(parents=True)
    results = "video_cuts" if not args.name else f"video_cuts-{args.name}"
    figures = {"world": world_figures(work / "world", args.videos)}
    print(f"world: {json.dumps(figures['world'])}", flush=True)
    figures["single_shot"] = single_shot_figures(work, args.per_kind)
    write_results(results, figures)


if __name__ == "__main__":
    main()
