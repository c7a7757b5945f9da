"""The world's scenes written as files users have: JPEG pictures and short videos of shots.

File names say nothing about the content (scene-00012.jpg), so keyword mode has nothing to go
on and hybrid mode must rank as semantic mode does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.world.render import render
from benchmarks.world.scenes import Scene, scenes

PICTURE_SIZE = (128, 128)
JPEG_QUALITY = 92
VIDEO_FPS = 5
SHOT_SECONDS = 4.0
SHOTS_PER_VIDEO = 3


@dataclass(frozen=True)
class WorldPicture:
    name: str
    scene: Scene


@dataclass(frozen=True)
class WorldVideo:
    name: str
    shots: tuple[Scene, ...]
    shot_seconds: float = SHOT_SECONDS


def write_scenes(folder: Path, seed: int, count: int) -> list[WorldPicture]:
    """``count`` scenes without the held-out colour-shape pairs, as JPEG files."""
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    for number, scene in enumerate(scenes(seed, count, allow_held_out=False)):
        name = f"scene-{number:05d}.jpg"
        render(scene, PICTURE_SIZE).save(folder / name, quality=JPEG_QUALITY)
        pictures.append(WorldPicture(name, scene))
    return pictures


def write_videos(folder: Path, seed: int, count: int) -> list[WorldVideo]:
    """``count`` videos of ``SHOTS_PER_VIDEO`` shots, each a still scene with a little noise
    (the frames of a shot differ, as a camera's do)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    made = scenes(seed, count * SHOTS_PER_VIDEO, allow_held_out=False)
    rng = np.random.default_rng(seed)
    videos = []
    for number in range(count):
        shots = tuple(made[number * SHOTS_PER_VIDEO : (number + 1) * SHOTS_PER_VIDEO])
        name = f"clip-{number:03d}.mp4"
        with av.open(str(folder / name), mode="w") as container:
            stream = container.add_stream("mpeg4", rate=VIDEO_FPS)
            stream.width, stream.height = PICTURE_SIZE
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 1_500_000
            for shot in shots:
                still = np.asarray(render(shot, PICTURE_SIZE), dtype=np.int16)
                for _ in range(round(SHOT_SECONDS * VIDEO_FPS)):
                    noisy = np.clip(still + rng.integers(-4, 5, still.shape), 0, 255)
                    frame = av.VideoFrame.from_ndarray(noisy.astype(np.uint8), format="rgb24")
                    for packet in stream.encode(frame):
                        container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        videos.append(WorldVideo(name, shots))
    return videos
