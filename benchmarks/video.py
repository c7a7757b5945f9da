"""Video indexing speed: seconds of video indexed per second of wall time, and a search that
finds the right moment.

Data: a generated 720p, 30 fps H.264 video (libx264 through PyAV) of "shots": each shot pans
slowly across its own seeded random landscape-like picture, and lasts 3-15 s, so the cuts are
known to the frame. The model is ViT-B-32 with seeded random weights (the same compute as the
published weights) run by the towers ``pixsift index`` uses by default. Reported: sampling alone
(decode every frame + cut detection, one process), the whole ``Indexer`` run (sampling in a
worker, embedding the moments, writing), how many known cuts were sampled within one frame, and
an image search with a frame from the middle of a shot: the moment it finds and its offset.

    .venv/bin/python -m benchmarks.video                 # 3 minutes of video
    .venv/bin/python -m benchmarks.video --seconds 120   # 2 minutes
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import WORK, load_served_embedder, print_table, rss_mib, write_results

FPS = 30
SIZE = (1280, 720)


def shot_lengths(total_seconds: float, rng: np.random.Generator) -> list[float]:
    lengths: list[float] = []
    while sum(lengths) < total_seconds:
        lengths.append(float(rng.integers(3, 16)))
    lengths[-1] -= sum(lengths) - total_seconds
    return [length for length in lengths if length > 0]


def landscape(rng: np.random.Generator) -> np.ndarray:
    """A smooth random picture 1.5x the frame, with some detail: something to pan across."""
    coarse = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    picture = Image.fromarray(coarse).resize((SIZE[0] * 3 // 2, SIZE[1] * 3 // 2), Image.BICUBIC)
    detail = rng.integers(0, 40, (SIZE[1] * 3 // 2, SIZE[0] * 3 // 2, 3), dtype=np.uint8)
    return np.asarray(picture) ^ detail


def write_benchmark_video(path: Path, seconds: float) -> list[float]:
    """Write the video; return the start time of each shot."""
    import av

    rng = np.random.default_rng(0)
    starts, elapsed = [], 0.0
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast"})
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for length in shot_lengths(seconds, rng):
            starts.append(elapsed)
            scene = landscape(rng)
            frames = round(length * FPS)
            max_x, max_y = scene.shape[1] - SIZE[0], scene.shape[0] - SIZE[1]
            for index in range(frames):
                x = int(max_x * index / max(1, frames - 1))
                y = int(max_y * 0.5 * (1 + np.sin(index / FPS)))
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(scene[y : y + SIZE[1], x : x + SIZE[0]]), format="rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
            elapsed += frames / FPS
        for packet in stream.encode():
            container.mux(packet)
    return starts


def sampling_alone(path: Path, interval: float) -> tuple[float, list[float]]:
    from pixsift.search.media.video import SamplingOptions, sample_moments

    started = time.perf_counter()
    sample = sample_moments(path, SamplingOptions(interval_seconds=interval))
    return time.perf_counter() - started, [moment.offset_seconds for moment in sample.moments]


def cuts_found(starts: list[float], offsets: list[float]) -> int:
    return sum(any(abs(start - offset) <= 1 / FPS + 1e-6 for offset in offsets) for start in starts)


def find_moment(library, video: Path, at: float, query: Path) -> tuple[str, float, float]:
    """The best moment for an image search with the video's frame at ``at`` seconds."""
    from pixsift.search.media.video import read_frame

    read_frame(video, at).save(query)
    best = library.search(image=query, k=5)[0]
    return best.image.relative_path, best.image.offset_s or 0.0, best.score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    folder = WORK / f"video-{args.seconds:g}s"
    video = folder / "shots.mp4"
    shots_file = WORK / f"video-{args.seconds:g}s-shots.json"
    if video.exists() and shots_file.exists():  # the same seed writes the same video
        starts = json.loads(shots_file.read_text())
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        starts = write_benchmark_video(video, args.seconds)
        shots_file.write_text(json.dumps(starts))
        print(f"wrote {video} ({len(starts)} shots) in {time.perf_counter() - started:.1f} s")

    sampling_s, offsets = sampling_alone(video, args.interval)
    embedder, spec = load_served_embedder(threads=None)
    from pixsift.indexer.pipeline import Indexer, IndexingOptions
    from pixsift.search.library import Library

    library_directory = WORK / "index-video"
    if library_directory.exists():
        shutil.rmtree(library_directory)
    with Library.open(library_directory, embedder=embedder) as library:
        options = IndexingOptions(show_progress=False, video_interval_seconds=args.interval)
        summary = Indexer(library, embedder, options, model_spec=spec).index([folder])
        shot = len(starts) // 2
        shot_end = starts[shot + 1] if shot + 1 < len(starts) else args.seconds
        # Frames of one shot that were not sampled: 2 frames after its cut, and its middle.
        queries = {
            "2 frames after the cut": starts[shot] + 2 / FPS,
            "middle of the shot": (starts[shot] + shot_end) / 2,
        }
        found = {
            label: find_moment(library, video, at, folder.parent / "video-query.png")
            for label, at in queries.items()
        }
    videos = summary.videos
    rows = [
        {
            "stage": "sampling alone (decode + cuts, 1 process)",
            "wall_s": round(sampling_s, 1),
            "video_s_per_s": round(args.seconds / sampling_s, 2),
            "moments": len(offsets),
        },
        {
            "stage": "pixsift index (Indexer, ViT-B-32 towers)",
            "wall_s": round(summary.elapsed_seconds, 1),
            "video_s_per_s": round(videos.seconds / summary.elapsed_seconds, 2),
            "moments": videos.moments,
        },
    ]
    print_table(rows, ["stage", "wall_s", "video_s_per_s", "moments"])
    cuts = cuts_found(starts[1:], offsets)
    print(f"cuts sampled within one frame: {cuts} of {len(starts) - 1}; rss {rss_mib():.0f} MiB")
    query_rows = [
        {
            "query frame": f"{label} ({queries[label]:.2f} s)",
            "shot": f"{starts[shot]:.2f}-{shot_end:.2f} s",
            "best moment": f"{path}@{offset:.2f} s",
            "similarity": round(score, 4),
            "in the shot": starts[shot] - 1e-6 <= offset < shot_end,
        }
        for label, (path, offset, score) in found.items()
    ]
    print_table(query_rows, list(query_rows[0]))
    payload = {
        "video": {"seconds": args.seconds, "size": SIZE, "fps": FPS, "codec": "libx264"},
        "interval_s": args.interval,
        "rows": rows,
        "cuts": {"known": len(starts) - 1, "sampled_within_one_frame": cuts},
        "queries": query_rows,
    }
    print(f"wrote {write_results('video', payload)}")


if __name__ == "__main__":
    main()
